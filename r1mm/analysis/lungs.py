"""Chest anatomy from HU values: the body, the airways (trachea and main bronchi), and the left and
right lungs, as classical lung segmentation does it (Hu, Hoffman and Reinhardt, IEEE TMI 2001):

1. aerated voxels (below -400 HU) inside the body, the large regions kept;
2. the trachea found above the lungs near the midline and grown down into the main bronchi, with a
   threshold raised until the grown region leaks into the lung (its volume jumps), the last
   threshold before the leak kept; the airway lumen and its wall's partial-volume rim are removed;
3. left and right lungs split where they still touch (the anterior and posterior junction lines) by
   eroding in-plane until the region falls into two large parts, each voxel then given to the
   nearer part;
4. each lung's enclosed holes (vessels, nodules) filled slice by slice for its volume.

Every size is in mm from the spacing; "left" and "right" are the patient's (DICOM LPS frame).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from r1mm.types import Item

AIR_TISSUE_HU = -400.0  # halfway between aerated lung (~-850 HU) and soft tissue (~+40 HU)
BONE_HU = 300.0  # cortical and dense trabecular bone
BODY_HU = -500.0
MIN_PART_SHARE = 0.1  # an aerated region under 10% of the largest is bowel gas or a bronchus, not a lung
SPLIT_SHARE = 0.2  # each lung is at least 20% of both: a smaller part split off is not a lung
CRUMB_SHARE = 0.005  # aerated bits under 0.5% of the largest part, once the airways are out, are dropped
MAX_SPLIT_EROSION_MM = 15.0  # lungs touching over a wider band than this are reported together

# The trachea: a single round air lumen of 0.5–6 cm² near the midline, above the lungs
TRACHEA_AREA_CM2 = (0.5, 6.0)
TRACHEA_MIDLINE_MM = 30.0
TRACHEA_MIN_MM = 5.0  # seen over at least this height before the lungs begin
AIRWAY_THRESHOLDS_HU = tuple(range(-1000, -840, 10))
AIRWAY_LEAK_FACTOR = 2.0  # the grown airway at least doubles: it has leaked into the lung
AIRWAY_LEAK_ML = 20.0  # ... and grew by more than this
AIRWAY_MAX_ML = 250.0  # more is not an airway tree (the whole trachea and main bronchi are ~30–80 mL)
AIRWAY_WALL_MM = 1.5  # the lumen's partial-volume rim, removed with it


@dataclass
class Lung:
    side: str  # "left" or "right" (patient's), or "both" when they could not be told apart
    aerated: np.ndarray  # bool (z, y, x): voxels below AIR_TISSUE_HU
    filled: np.ndarray  # bool: aerated with the holes it encloses in each slice (vessels, nodules)


@dataclass
class ChestAnatomy:
    body: np.ndarray  # bool (z, y, x), internal air filled
    airways: np.ndarray | None  # trachea and main bronchi lumen; None when no trachea was found
    lungs: list[Lung]  # right then left; one "both" lung when they could not be separated
    midline_x_mm: float  # the body's midline, patient x (LPS)
    note: str = ""  # why left and right could not be separated, when they could not

    @property
    def aerated(self) -> np.ndarray:
        """Both lungs' aerated voxels."""
        return np.logical_or.reduce([lung.aerated for lung in self.lungs])

    @property
    def filled(self) -> np.ndarray:
        """Both lungs with the holes they enclose."""
        return np.logical_or.reduce([lung.filled for lung in self.lungs])


def voxel_to_patient(item: Item, z: float, y: float, x: float) -> tuple[float, float, float]:
    """Voxel (slice, row, col) -> patient LPS coordinates in mm."""
    dz, dy, dx = item.spacing_mm
    iop = item.orientation or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    row_cos, col_cos = np.asarray(iop[:3]), np.asarray(iop[3:])
    normal = np.cross(row_cos, col_cos)
    origin = np.asarray(item.origin_mm or (0.0, 0.0, 0.0))
    p = origin + x * dx * row_cos + y * dy * col_cos + z * dz * normal
    return float(p[0]), float(p[1]), float(p[2])


def body_mask(volume: np.ndarray) -> np.ndarray:
    """The largest connected region denser than air, with internal air (lungs, bowel) filled."""
    dense = volume > BODY_HU
    labels, n = ndimage.label(dense)
    if n == 0:
        return dense
    sizes = _sizes(labels)
    return fill_holes_per_slice(labels == (1 + int(np.argmax(sizes))))


def fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """Each axial slice's holes filled: what the mask encloses in that slice. One labelling of the
    complement with in-plane connectivity (scipy's binary_fill_holes, slice by slice, is ~10x
    slower on a 512 x 512 series)."""
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    labels, _ = ndimage.label(~mask, structure=in_plane)
    outside = np.unique(np.concatenate([labels[:, 0, :].ravel(), labels[:, -1, :].ravel(),
                                        labels[:, :, 0].ravel(), labels[:, :, -1].ravel()]))
    hole = np.ones(int(labels.max()) + 1, bool)
    hole[outside] = False
    hole[0] = False  # label 0 is the mask itself
    return mask | hole[labels]


def _members(labels: np.ndarray, ids) -> np.ndarray:
    """labels in ids, by a lookup table (np.isin sorts the whole volume)."""
    table = np.zeros(int(labels.max()) + 1, bool)
    table[np.asarray(ids, dtype=np.intp)] = True
    table[0] = False
    return table[labels]


def _sizes(labels: np.ndarray) -> np.ndarray:
    """Voxel count of labels 1..n (bincount: ndimage.sum_labels is ~10x slower)."""
    return np.bincount(labels.ravel())[1:]


def chest_anatomy(item: Item, body: np.ndarray | None = None) -> ChestAnatomy:
    volume = item.data
    body = body_mask(volume) if body is None else body
    midline_x = voxel_to_patient(item, 0, 0, float(np.argwhere(body.any(axis=(0, 1))).mean()))[0]
    region = _aerated_region(volume, body)
    if region is None:
        return ChestAnatomy(body, None, [], midline_x)
    box = bounding_box(region, margin=(2, 2, 2))
    sub_volume, sub_region = volume[box], region[box]
    airways = _airways(item, sub_volume, sub_region, body[box])
    if airways is not None:
        wall = _in_plane_ball(AIRWAY_WALL_MM, item.spacing_mm)
        sub_region = sub_region & ~ndimage.binary_dilation(airways, structure=wall)
    parts, note = _left_and_right(sub_region, item.spacing_mm)
    lungs = []
    for part in parts:
        aerated = np.zeros_like(region)
        aerated[box] = part
        lungs.append(Lung("both", aerated, fill_holes_per_slice(aerated)))
    if len(lungs) == 2:
        xs = [voxel_to_patient(item, *np.argwhere(lung.aerated).mean(axis=0))[0] for lung in lungs]
        right, left = (0, 1) if xs[0] < xs[1] else (1, 0)  # LPS: +x is the patient's left
        lungs[right].side, lungs[left].side = "right", "left"
        lungs = [lungs[right], lungs[left]]
    full_airways = None
    if airways is not None:
        full_airways = np.zeros_like(region)
        full_airways[box] = airways
    return ChestAnatomy(body, full_airways, lungs, midline_x, note)


def _aerated_region(volume: np.ndarray, body: np.ndarray) -> np.ndarray | None:
    """Aerated voxels inside the body in the large connected regions (the lungs and airways)."""
    air = (volume < AIR_TISSUE_HU) & body
    labels, n = ndimage.label(air)
    if n == 0:
        return None
    sizes = _sizes(labels)
    order = np.argsort(sizes)[::-1][:2]
    keep = [1 + int(i) for i in order if sizes[i] > MIN_PART_SHARE * sizes[order[0]]]
    return _members(labels, keep)


def bounding_box(mask: np.ndarray, margin: tuple[int, int, int] = (0, 0, 0)) -> tuple[slice, ...]:
    """The slices around the mask's voxels, widened by `margin` voxels per axis (within the volume)."""
    box = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(mask.any(axis=others))
        box.append(slice(max(0, int(hits[0]) - margin[axis]), min(mask.shape[axis], int(hits[-1]) + 1 + margin[axis])))
    return tuple(box)


def _in_plane_ball(radius_mm: float, spacing_mm) -> np.ndarray:
    _, dy, dx = spacing_mm
    ry, rx = max(1, round(radius_mm / dy)), max(1, round(radius_mm / dx))
    yy, xx = np.mgrid[-ry:ry + 1, -rx:rx + 1]
    return ((yy * dy) ** 2 + (xx * dx) ** 2 <= max(radius_mm, dy, dx) ** 2)[None]


def _trachea_seeds(item: Item, region: np.ndarray, body: np.ndarray) -> np.ndarray | None:
    """The trachea's lumen in the slices above the lungs: from the top of the aerated region down,
    slices where it is a single lumen of trachea size near the body's midline. None when the scan
    does not show the trachea above the lungs."""
    dz, dy, dx = item.spacing_mm
    cols = np.flatnonzero(body.any(axis=(0, 1)))
    midline_col = cols.mean() if cols.size else region.shape[2] / 2
    seeds = np.zeros_like(region)
    slices = np.flatnonzero(region.any(axis=(1, 2)))
    found = 0
    for z in slices[::-1]:  # head first (z grows towards the head in LPS)
        labels, n = ndimage.label(region[z])
        if n != 1:
            break
        rows, columns = np.nonzero(labels)
        area_cm2 = rows.size * dy * dx / 100.0
        if area_cm2 < TRACHEA_AREA_CM2[0] and not found:
            continue  # the lumen's tip, cut by the scan's first slices
        if not TRACHEA_AREA_CM2[0] <= area_cm2 <= TRACHEA_AREA_CM2[1] \
                or abs(columns.mean() - midline_col) * dx > TRACHEA_MIDLINE_MM:
            break
        seeds[z] = labels > 0
        found += 1
    return seeds if found * dz >= TRACHEA_MIN_MM else None


def _airways(item: Item, volume: np.ndarray, region: np.ndarray, body: np.ndarray) -> np.ndarray | None:
    """Trachea and main bronchi: grown from the trachea with a rising threshold, stopped before it
    leaks into the lung. None when no trachea is found above the lungs."""
    seeds = _trachea_seeds(item, region, body)
    if seeds is None:
        return None
    dz, dy, dx = item.spacing_mm
    smooth = ndimage.gaussian_filter(volume.astype(np.float32), sigma=(1.25 / dz, 0.7 / dy, 0.7 / dx))
    six = ndimage.generate_binary_structure(3, 1)
    voxel_ml = dz * dy * dx / 1000.0
    kept, kept_ml = None, 0.0
    for threshold in AIRWAY_THRESHOLDS_HU:
        lumen = (smooth < threshold) & region
        labels, _ = ndimage.label(lumen, structure=six)
        ids = np.unique(labels[seeds & lumen])
        ids = ids[ids > 0]
        if not ids.size:
            continue
        grown = _members(labels, ids)
        ml = float(grown.sum()) * voxel_ml
        if kept is not None and ml > AIRWAY_LEAK_FACTOR * kept_ml and ml - kept_ml > AIRWAY_LEAK_ML:
            break
        kept, kept_ml = grown, ml
    if kept is None or kept_ml > AIRWAY_MAX_ML:
        return None
    return kept


def _left_and_right(region: np.ndarray, spacing_mm) -> tuple[list[np.ndarray], str]:
    """The region as two lungs, or as one when they cannot be separated (with the reason)."""
    labels, _ = ndimage.label(region)
    sizes = _sizes(labels)
    # crumbs (an airway wall's rim the airway left behind) are not lung
    region = _members(labels, np.flatnonzero(sizes >= CRUMB_SHARE * sizes.max()) + 1)
    parts = _two_large_parts(region)
    if parts is None:
        _, dy, dx = spacing_mm
        cross = ndimage.generate_binary_structure(2, 1)[None]
        eroded = region
        for step in range(1, int(MAX_SPLIT_EROSION_MM / min(dy, dx)) + 1):
            eroded = ndimage.binary_erosion(eroded, structure=cross)
            if not eroded.any():
                break
            parts = _two_large_parts(eroded)
            if parts is not None:
                break
    if parts is None:
        return [region], (f"the left and right lungs could not be told apart: they stay joined after "
                          f"eroding {MAX_SPLIT_EROSION_MM:g} mm in each slice")
    return _nearest_part(region, parts, spacing_mm), ""


def _two_large_parts(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    labels, n = ndimage.label(mask)
    if n < 2:
        return None
    sizes = _sizes(labels)
    first, second = np.argsort(sizes)[::-1][:2]
    if sizes[second] < SPLIT_SHARE * (sizes[first] + sizes[second]):
        return None
    return labels == first + 1, labels == second + 1


def _nearest_part(region: np.ndarray, parts: tuple[np.ndarray, np.ndarray], spacing_mm) -> list[np.ndarray]:
    """Each voxel of the region given to the nearer of the two parts (distance in mm), computed on
    a grid halved in-plane: the boundary between the lungs is placed to about a voxel."""
    step = 2
    markers = np.zeros(region.shape, np.uint8)
    markers[parts[0]], markers[parts[1]] = 1, 2
    coarse = markers[:, ::step, ::step]
    dz, dy, dx = spacing_mm
    _, nearest = ndimage.distance_transform_edt(coarse == 0, sampling=(dz, dy * step, dx * step),
                                                return_indices=True)
    coarse_side = coarse[tuple(nearest)]
    side = np.repeat(np.repeat(coarse_side, step, axis=1), step, axis=2)[:, :region.shape[1], :region.shape[2]]
    side[parts[0]], side[parts[1]] = 1, 2
    return [region & (side == 1), region & (side == 2)]
