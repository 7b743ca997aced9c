"""Lung nodules told from vessels by their shape, as classical lung CAD does it.

Inside the lungs, vessels, bronchial walls and fissures are as dense as nodules; what differs is
shape. At each scale σ the Hessian of the HU volume (smoothed by a Gaussian of σ mm, normalised by
σ²) has three eigenvalues |λ1| ≥ |λ2| ≥ |λ3|: a bright blob has all three large and negative, a
vessel two, a fissure one. Li, Sone and Doi's dot filter (Med. Phys. 2003) scores the blob as
λ3² / |λ1| (in HU): solid nodules planted in a real scan's lungs scored 85–270 HU, its vessels
and their branchings at most 60. Candidates are the filter's local maxima over the scales, inside
each lung and in the bays of its outline that a nodule on the chest wall makes (not those by the
hilum, where vessels branch and lymph nodes lie); each is segmented (the dense voxels around it,
vessels cut off by an opening when it touches them) and measured as Fleischner's guidelines
measure: the mean of the long and short axes in the axial slice where it is largest.

A mass against the chest wall is no blob (the wall behind it is as dense): `masses` finds lesions
over 15 mm as the soft tissue that fills a bay of a lung's outline, is surrounded by enough lung
and is as deep as it is wide.

The filter runs on the lungs' bounding box with pixels of about GRID_MM (two-core machines: a
512 × 512 × 133 chest in ~5 s); segmentation and measurement use the full resolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from r1mm.analysis.lungs import BONE_HU, bounding_box

LUNG_HU = -850.0  # aerated lung parenchyma
EDGE_HU = -400.0  # the dense mask's threshold (AIR_TISSUE_HU): half way from lung to solid tissue
SCALES_MM = (1.25, 2.0, 3.0, 4.5, 6.0, 8.0)  # blob radii ~1.5–14 mm (nodules of 3–30 mm)
GRID_MM = 1.2  # in-plane pixel the filter runs at
MIN_SIGMA_VOXELS = 0.7  # a Gaussian narrower than this in voxels does not smooth (thick slices)
# Blob score a nodule reaches: planted nodules of 4-20 mm scored 85-270 (those on the chest wall the
# least), the real scan's vessels and their branchings at most 60 (set on planted seeds 1 and 2 and
# that one scan; at 60, one false positive appeared). The same limit at every slice thickness: the
# scan's pairs of slices averaged lowered its vessels' scores to 48, but on two real 5 mm scans
# (pyradiomics' lung1 and lung2) hilar vessels scored 56-68 and were reported at a lower limit;
# their nodule scored 99. Small nodules on thick slices are missed instead (bench ct).
DOT_MIN_HU = 70.0
PEAK_RADIUS_MM = 4.0  # two maxima closer than this are one candidate
WALL_REACH_MM = 10.0  # nodules on the chest wall up to 20 mm across are looked for
# ... but not in the bays by the hilum, this close to the trachea and main bronchi: vessels branching
# there scored up to 89 on the real scan, and lymph nodes there are not lung nodules
HILUM_MM = 20.0
# Masses (`masses`): the lung's outline closed by this disc holds a mass of up to ~60 mm in a bay of
# the wall; opened by a ball of MASS_CORE_MM (lesions under 15 mm across are the dot filter's); a lung
# lesion touches aerated lung over at least a third of its surface (on the one real mass seen, 0.40;
# the wall and mediastinum parts the opening left, 0.05-0.18)
MASS_REACH_MM, MASS_CORE_MM, MASS_LUNG_CONTACT = 30.0, 7.5, 1 / 3
# ... and is about as deep as it is wide: a part at least this share of its short axis deep (slices x
# their spacing) is one; a flatter one is the top of the liver or the heart, capped by a lung's base
MASS_DEPTH_SHARE = 0.5
MASS_GRID_MM = 2.0
CALCIFIED_HU = 200.0  # mean density of a calcified (benign-pattern) nodule
GROUND_GLASS_HU = -300.0  # mean density under which a nodule is ground-glass, not solid


@dataclass
class BlobPeak:
    voxel: tuple[int, int, int]  # (slice, row, col) at full resolution
    dot_hu: float  # the dot filter's score, HU
    line_hu: float  # the line (vessel) filter's score at the same voxel and scale, HU
    sigma_mm: float  # the scale of the best score


@dataclass
class Blob:
    """A segmented candidate at full resolution: its voxels and Fleischner's axial measures."""
    peak: BlobPeak
    voxels: tuple[np.ndarray, np.ndarray, np.ndarray]  # zz, yy, xx
    long_axis_mm: float
    short_axis_mm: float
    axial_slice: int  # where the cross-section is largest

    @property
    def diameter_mm(self) -> float:
        """Fleischner's average diameter: the mean of the long and short axial axes."""
        return (self.long_axis_mm + self.short_axis_mm) / 2


def search_region(lungs: list[np.ndarray], spacing_mm, reach_mm: float = WALL_REACH_MM, step: int = 1) -> np.ndarray:
    """Where nodules are looked for: each lung closed in-plane by a disc of `reach_mm`, so a
    nodule on the chest wall, which dents the lung's outline instead of lying inside it, is
    inside. Each lung is closed alone: the mediastinum between them stays out. `step`: the
    closing computed on every step-th pixel (a wide disc needs no finer ones)."""
    out = np.zeros(lungs[0].shape, bool)
    sampling = (1e6, spacing_mm[1] * step, spacing_mm[2] * step)  # distances within each slice only
    for lung in lungs:
        reach = int(reach_mm / min(spacing_mm[1:])) + 2 * step
        box = bounding_box(lung, margin=(0, reach, reach))
        part = lung[box]
        grown = ndimage.distance_transform_edt(~part[:, ::step, ::step], sampling=sampling) <= reach_mm
        closed = ndimage.distance_transform_edt(grown, sampling=sampling) > reach_mm
        if step > 1:
            closed = np.repeat(np.repeat(closed, step, axis=1), step, axis=2)[:, :part.shape[1], :part.shape[2]]
        out[box] |= closed | part
    return out


def masses(volume: np.ndarray, spacing_mm, lungs: list[np.ndarray], aerated: np.ndarray,
           airways: np.ndarray | None) -> list[Blob]:
    """Lesions too large for the dot filter, measured like nodules.

    A mass against the chest wall or the spine is no bright blob: the wall behind it is as dense,
    and the Hessian sees a plate. What marks it is the bay it cuts into the lung. Each lung's
    outline is closed by a disc of MASS_REACH_MM; the soft tissue in it (not bone) is opened by a
    ball of MASS_CORE_MM, which vessels, fissures and slivers along the wall do not survive; each
    part left is grown back to the dense voxels it was opened from and kept when it touches aerated
    lung over at least MASS_LUNG_CONTACT of its surface (a lung lesion, not the wall or the
    mediastinum), its middle lies away from the hilum (HILUM_MM from the airways: a tumour may
    grow along its bronchus, so the airways cut nothing off it) and it is not a flat cap."""
    dz, dy, dx = spacing_mm
    # the closing and the opening run on pixels of about MASS_GRID_MM (a mass is 15 mm across or
    # more); growing back and measuring at full size
    step = max(1, int(MASS_GRID_MM / min(dy, dx)))
    envelope = search_region(lungs, spacing_mm, MASS_REACH_MM, step)
    box = bounding_box(envelope)
    hu = volume[box]
    dense = envelope[box] & ~aerated[box] & (hu >= EDGE_HU) & (hu < BONE_HU)
    coarse = (dz, dy * step, dx * step)
    core = ndimage.distance_transform_edt(dense[:, ::step, ::step], sampling=coarse) > MASS_CORE_MM
    if not core.any():
        return []
    core = ndimage.distance_transform_edt(~core, sampling=coarse) <= MASS_CORE_MM
    labels, _ = ndimage.label(core)
    airway_mm = np.argwhere(airways) * np.asarray(spacing_mm) if airways is not None else np.zeros((0, 3))
    out = []
    for k, where in enumerate(ndimage.find_objects(labels), start=1):
        reach = [int(MASS_CORE_MM / s) + 2 for s in spacing_mm]
        scale = (1, step, step)  # the labels' pixels to full-size pixels
        margin = tuple(slice(max(0, w.start * k - r), min(n, w.stop * k + r))
                       for w, k, r, n in zip(where, scale, reach, dense.shape))
        zi, yi, xi = (np.arange(m.start, m.stop) for m in margin)
        part = labels[np.ix_(zi, np.minimum(yi // step, labels.shape[1] - 1),
                             np.minimum(xi // step, labels.shape[2] - 1))] == k
        grown = (ndimage.distance_transform_edt(~part, sampling=spacing_mm) <= MASS_CORE_MM) & dense[margin]
        zz, yy, xx = np.nonzero(grown)
        if not zz.size:
            continue
        shell = ndimage.binary_dilation(grown) & ~grown
        offset = [m.start + b.start for m, b in zip(margin, box)]
        centre = tuple(int(round(float(c.mean()))) + o for c, o in zip((zz, yy, xx), offset))
        near_hilum = airway_mm.size and np.min(np.sum((airway_mm - np.asarray(centre) * spacing_mm) ** 2, axis=1)) \
            <= HILUM_MM ** 2
        if aerated[box][margin][shell].mean() < MASS_LUNG_CONTACT or near_hilum:
            continue
        axial = int(np.bincount(zz).argmax())
        long_axis, short_axis = _axes(hu[margin][axial], grown[axial], (dy, dx))
        if (zz.max() - zz.min() + 1) * dz < MASS_DEPTH_SHARE * short_axis:
            continue  # a flat cap: the liver's or the heart's top under a lung's base
        found_by_its_bay = BlobPeak(centre, dot_hu=0.0, line_hu=0.0, sigma_mm=MASS_CORE_MM)  # no blob score
        out.append(Blob(found_by_its_bay, (zz + offset[0], yy + offset[1], xx + offset[2]),
                        long_axis, short_axis, axial + offset[0]))
    return out


def blob_peaks(volume: np.ndarray, spacing_mm, lungs: np.ndarray, dense: np.ndarray,
               inside: np.ndarray | None = None, airways: np.ndarray | None = None) -> list[BlobPeak]:
    """Local maxima of the dot filter over the scales, at dense voxels of `lungs` (the search
    region); outside `inside` (the lungs' own outline: the bays that search_region adds) none is
    taken within HILUM_MM of the airways."""
    dz, dy, dx = spacing_mm
    box = bounding_box(lungs)
    step = max(1, int(GRID_MM / min(dy, dx)))
    grid = (dz, dy * step, dx * step)
    hu = np.clip(volume[box][:, ::step, ::step].astype(np.float32), -1000.0, 200.0)
    dense_grid = dense[box][:, ::step, ::step]
    where = np.nonzero(ndimage.binary_dilation(dense_grid) & lungs[box][:, ::step, ::step])
    if not where[0].size:
        return []
    dot = np.zeros(where[0].size, np.float32)
    line = np.zeros_like(dot)
    sigma = np.zeros_like(dot)
    for s in SCALES_MM:
        d, l_ = _dot_and_line(hu, grid, s, where)
        better = d > dot
        dot[better], line[better], sigma[better] = d[better], l_[better], s
    score = np.zeros(hu.shape, np.float32)
    score[where] = dot
    footprint = _ellipsoid(PEAK_RADIUS_MM, grid)
    needed = np.full(hu.shape, DOT_MIN_HU, np.float32)
    if inside is not None and airways is not None and airways.any():
        bays = ~inside[box][:, ::step, ::step]
        near = ndimage.distance_transform_edt(~airways[box], sampling=spacing_mm)[:, ::step, ::step] <= HILUM_MM
        needed[bays & near] = np.inf
    peaks = (score == ndimage.maximum_filter(score, footprint=footprint)) & (score >= needed) & dense_grid
    index = np.full(hu.shape, -1, np.int64)
    index[where] = np.arange(where[0].size)
    out = []
    for z, y, x in zip(*np.nonzero(peaks)):
        k = index[z, y, x]
        out.append(BlobPeak((int(z + box[0].start), int(y * step + box[1].start), int(x * step + box[2].start)),
                            float(dot[k]), float(line[k]), float(sigma[k])))
    return sorted(out, key=lambda p: p.dot_hu, reverse=True)


def segment(volume: np.ndarray, spacing_mm, dense: np.ndarray, peak: BlobPeak) -> Blob | None:
    """The dense voxels of the candidate around its peak; a vessel it touches is cut off by an
    opening with a ball of the blob's own scale (a vessel is thinner than the nodule)."""
    _, dy, dx = spacing_mm
    reach = max(3.0 * peak.sigma_mm * np.sqrt(3.0), 8.0)  # mm: well beyond the blob's edge
    z0, y0, x0 = peak.voxel
    box = tuple(slice(max(0, c - int(np.ceil(reach / s))), c + int(np.ceil(reach / s)) + 1)
                for c, s in zip(peak.voxel, spacing_mm))
    local = dense[box]
    at = (z0 - box[0].start, y0 - box[1].start, x0 - box[2].start)
    mask = _component_at(local, at)
    if mask is None:
        return None
    if _touches_border(mask):  # attached to a vessel or the wall: cut what is thinner than the blob
        opened = ndimage.binary_opening(local, structure=_ellipsoid(peak.sigma_mm, spacing_mm))
        cut = _component_at(opened, at)
        if cut is not None:
            mask = cut
    zz, yy, xx = np.nonzero(mask)
    axial_slice = int(np.bincount(zz).argmax())
    long_axis, short_axis = _axes(volume[box][axial_slice], mask[axial_slice], (dy, dx))
    return Blob(peak, (zz + box[0].start, yy + box[1].start, xx + box[2].start), long_axis, short_axis,
                axial_slice + box[0].start)


def density(mean_hu: float) -> str:
    if mean_hu >= CALCIFIED_HU:
        return "calcified"
    if mean_hu < GROUND_GLASS_HU:
        return "ground-glass"
    return "solid"


def _dot_and_line(hu: np.ndarray, grid, sigma_mm: float, where) -> tuple[np.ndarray, np.ndarray]:
    """Li et al.'s dot and line filters at one scale, at the voxels `where`, in HU."""
    sigmas = [max(sigma_mm / s, MIN_SIGMA_VOXELS) for s in grid]
    hessian = np.empty((where[0].size, 3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            order = [0, 0, 0]
            order[i] += 1
            order[j] += 1
            h = ndimage.gaussian_filter(hu, sigmas, order=order)[where] / (grid[i] * grid[j]) * sigma_mm ** 2
            hessian[:, i, j] = hessian[:, j, i] = h
    eig = np.linalg.eigvalsh(hessian)
    eig = np.take_along_axis(eig, np.argsort(-np.abs(eig), axis=1), axis=1)  # |λ1| ≥ |λ2| ≥ |λ3|
    l1, l2, l3 = np.abs(eig[:, 0]) + 1e-6, np.abs(eig[:, 1]), np.abs(eig[:, 2])
    blob = (eig < 0).all(axis=1)
    tube = (eig[:, 0] < 0) & (eig[:, 1] < 0)
    return np.where(blob, l3 * l3 / l1, 0.0), np.where(tube, l2 * (l2 - l3) / l1, 0.0)


def _axes(hu_slice: np.ndarray, mask: np.ndarray, pixel_mm) -> tuple[float, float]:
    """Long and short axes (mm) of the ellipse with the candidate's second moments in this slice,
    each edge pixel weighted by how much of it the nodule fills (its HU between lung and the
    nodule's core), so a 5 mm nodule on 0.7 mm pixels is measured to a tenth of a mm."""
    dy, dx = pixel_mm
    core = ndimage.binary_erosion(mask)
    solid = float(np.median(hu_slice[core])) if core.any() else float(hu_slice[mask].max())
    # the edge's partial-volume pixels: darker than the threshold, beside the mask (not a cut-off vessel)
    rim = ndimage.binary_dilation(mask) & ~mask & (hu_slice < EDGE_HU)
    weight = mask.astype(np.float64)
    if solid > LUNG_HU + 100:
        filled = np.clip((hu_slice - LUNG_HU) / (solid - LUNG_HU), 0.0, 1.0)
        weight = np.where(mask | rim, filled, 0.0)
    yy, xx = np.nonzero(weight)
    w = weight[yy, xx]
    py, px = yy * dy, xx * dx
    total = w.sum()
    my, mx = (w * py).sum() / total, (w * px).sum() / total
    cov = np.array([[(w * (py - my) ** 2).sum(), (w * (py - my) * (px - mx)).sum()],
                    [(w * (py - my) * (px - mx)).sum(), (w * (px - mx) ** 2).sum()]]) / total
    cov += np.diag([dy * dy, dx * dx]) / 12.0  # each pixel is a square, not a point
    small, large = np.sqrt(np.clip(np.linalg.eigvalsh(cov), 0.0, None))
    return float(4.0 * large), float(4.0 * small)  # an ellipse's axis is 4 standard deviations


def _component_at(mask: np.ndarray, at) -> np.ndarray | None:
    """The connected part of the mask at this voxel, or at the mask's voxel nearest to it."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return None
    label = labels[at]
    if label == 0:
        points = np.argwhere(labels > 0)
        nearest = points[np.argmin(((points - np.asarray(at)) ** 2).sum(axis=1))]
        if np.abs(nearest - np.asarray(at)).max() > 2:
            return None
        label = labels[tuple(nearest)]
    return labels == label


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()
                or mask[:, :, 0].any() or mask[:, :, -1].any())


def _ellipsoid(radius_mm: float, spacing_mm) -> np.ndarray:
    half = [max(0, int(radius_mm / s)) for s in spacing_mm]
    grid = np.mgrid[tuple(slice(-h, h + 1) for h in half)]
    distance = sum((g * s) ** 2 for g, s in zip(grid, spacing_mm))
    return distance <= max(radius_mm, max(spacing_mm) / 2) ** 2
