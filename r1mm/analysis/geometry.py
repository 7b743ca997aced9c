"""Point-cloud inspection: clean-up, structure (planes, clusters, oriented box) and surface
defects (dents and bumps) measured against fitted primitives or a reference scan.

All lengths are in the file's own units (often mm for scanned parts).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from r1mm.points import point_spacing, voxel_downsample
from r1mm.types import Finding, Item, Locator

MAX_ANALYSED = 400_000  # points used for fitting; larger clouds are voxel-downsampled first
MIN_FACE_SHARE = 0.06  # a plane must hold this share of the points to count as a face
DEFECT_SIGMAS = 5.0  # a defect deviates by more than this many noise sigmas
# A point belongs to a face only when its own normal is within this angle of the face's: the walls
# of a thin part lie within the band of its top and bottom, but stand at right angles to them.
FACE_NORMAL_DEG = 30.0
# A point whose neighbours spread out of one plane this many times more than the median point's
# sits on an edge: its normal mixes two faces, and its distance to either is no defect.
EDGE_VARIATION = 4.0
# A face's points scatter about it as the scan noise does (std ≈ 1 sigma); a strip of a curved
# surface within the RANSAC threshold spreads evenly across it (std ≈ 2 sigmas at 3.5 sigmas).
FLAT_SPREAD = 1.5
# How far from its face (share of the part's largest extent) a point may lie and still be measured
# against it: deeper dents than this are cut off at it.
FACE_BAND = 0.05
# A region of a face that is itself flat and parallel to it (a pocket floor, a step, a boss) is a
# designed feature, not a dent: this share of its points lie at one depth within 2 noise sigmas.
FLAT_FEATURE_SHARE = 0.7
# Share of the fitted points within the defect limit of their primitive below which the part is
# called free-form: its shape is no plane set or cylinder, and deviations from one are no defects.
MIN_FIT_SHARE = 0.85


@dataclass
class Defect:
    kind: str  # "dent" or "bump"
    depth: float  # file units, always positive
    area: float  # file units squared
    centre: np.ndarray  # (3,)
    box: np.ndarray  # (xmin, ymin, zmin, xmax, ymax, zmax)
    surface: str  # e.g. "plane 1", "cylinder", "reference"


# ---- clean-up and structure ------------------------------------------------------------------

def remove_outliers(points: np.ndarray, k: int = 16, std_ratio: float = 3.0) -> tuple[np.ndarray, int]:
    """Statistical outlier removal: drop points whose mean distance to k neighbours is unusually large."""
    if len(points) <= k:
        return points, 0
    dists, _ = cKDTree(points).query(points, k=k + 1)
    mean = dists[:, 1:].mean(axis=1)
    keep = mean <= mean.mean() + std_ratio * mean.std()
    return points[keep], int((~keep).sum())


def clusters(points: np.ndarray, eps: float, min_points: int = 20) -> np.ndarray:
    """DBSCAN labels (open3d); -1 is noise."""
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    return np.asarray(cloud.cluster_dbscan(eps=eps, min_points=min_points))


def count_parts(points: np.ndarray, spacing: float, min_share: float = 0.01) -> int:
    """Separate pieces in a scan: DBSCAN clusters at 8× the point spacing holding ≥1% of the points.

    Randomly sampled surfaces have gaps of several spacings, so a tighter radius splits one part
    into hundreds of specks.
    """
    labels = clusters(points, eps=max(8 * spacing, 1e-9))
    sizes = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, int)
    return int((sizes >= min_share * len(points)).sum())


def oriented_dimensions(points: np.ndarray) -> np.ndarray:
    """Edge lengths of the minimal oriented bounding box (open3d, convex hull), largest first.

    PCA axes tilt by a degree or two on noisy or resampled scans, which overstates the box.
    """
    import open3d as o3d

    spread = float(np.ptp(points, axis=0).max()) if len(points) else 0.0
    if len(points) >= 4:
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
        extent = np.sort(np.asarray(cloud.get_minimal_oriented_bounding_box(robust=True).extent))[::-1]
        if extent[0] >= 0.5 * spread:
            return extent
    # a flat part (a plate, a sheet), a line or a few points: the hull has no volume and open3d's box
    # comes back empty, so the box is measured in the part's own plane instead
    return _flat_dimensions(points)


def _flat_dimensions(points: np.ndarray) -> np.ndarray:
    """The smallest rectangle around the points in their best-fitting plane (rotating calipers on the
    2-D hull), with the thickness across the plane; largest first."""
    from scipy.spatial import ConvexHull, QhullError

    if len(points) < 2:
        return np.zeros(3)
    centred = points - points.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    axes = np.vstack([axes, np.zeros((3 - len(axes), 3))]) if len(axes) < 3 else axes
    plane, across = centred @ axes[:2].T, centred @ axes[2]
    try:
        hull = plane[ConvexHull(plane).vertices]
    except (QhullError, ValueError):  # collinear: a line has no 2-D hull
        hull = plane
    best = None
    for a, b in zip(hull, np.roll(hull, -1, axis=0)):
        edge = b - a
        if not np.any(edge):
            continue
        u = edge / np.linalg.norm(edge)
        turned = hull @ np.array([[u[0], -u[1]], [u[1], u[0]]])
        size = np.ptp(turned, axis=0)
        if best is None or size[0] * size[1] < best[0] * best[1]:
            best = size
    if best is None:
        best = np.ptp(plane, axis=0)
    return np.sort(np.array([best[0], best[1], np.ptp(across)]))[::-1]


def fit_plane(points: np.ndarray, iterations: int = 200, threshold: float | None = None,
              seed: int = 0) -> tuple[np.ndarray, float, np.ndarray]:
    """RANSAC plane: (unit normal, offset d with n·p + d = 0, inlier mask), refined by least squares."""
    rng = np.random.default_rng(seed)
    extent = np.ptp(points, axis=0).max()
    threshold = threshold or 0.005 * extent
    best = np.zeros(len(points), bool)
    for _ in range(iterations):
        a, b, c = points[rng.choice(len(points), 3, replace=False)]
        n = np.cross(b - a, c - a)
        if np.linalg.norm(n) < 1e-12:
            continue
        n /= np.linalg.norm(n)
        inliers = np.abs(points @ n - a @ n) < threshold
        if inliers.sum() > best.sum():
            best = inliers
    centre = points[best].mean(axis=0)
    _, _, vt = np.linalg.svd(points[best] - centre, full_matrices=False)
    normal = _outward(vt[2], centre, points)
    return normal, float(-normal @ centre), best


def _outward(normal: np.ndarray, on_plane: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Point the normal away from the part's body, so a dent deviates negatively and a bump positively.

    For a scan of one surface alone (the body's centroid on the plane), +z is taken as outward:
    scanners look down at the part.
    """
    offset = (points.mean(axis=0) - on_plane) @ normal
    if abs(offset) > 0.01 * np.ptp(points, axis=0).max():
        return -normal if offset > 0 else normal
    return normal if normal[2] >= 0 else -normal


def local_noise(points: np.ndarray, k: int = 16, sample: int = 2000, seed: int = 0) -> float:
    """Scan noise sigma: the median off-plane spread of small neighbourhoods (curvature barely shows at
    this scale)."""
    rng = np.random.default_rng(seed)
    picks = points[rng.choice(len(points), min(sample, len(points)), replace=False)]
    _, idx = cKDTree(points).query(picks, k=k)
    hoods = points[idx] - points[idx].mean(axis=1, keepdims=True)
    smallest = np.linalg.svd(hoods, compute_uv=False)[:, -1]
    return float(np.median(smallest) / np.sqrt(k - 3))


def raw_noise(points: np.ndarray, sample: int = MAX_ANALYSED, seed: int = 0) -> float:
    """Noise sigma of the scan itself, from a random subsample of its raw points."""
    if len(points) > sample:
        points = points[np.random.default_rng(seed).choice(len(points), sample, replace=False)]
    return local_noise(points)


def faces(points: np.ndarray, noise: float, max_faces: int = 6) -> tuple[list[tuple[np.ndarray, float]], float]:
    """Planes found one after another by RANSAC within 3.5 noise sigmas, each holding at least
    MIN_FACE_SHARE of the points. Returns ([(outward normal, d)], share of points on them)."""
    threshold = max(3.5 * noise, 1e-9)
    remaining = np.ones(len(points), bool)
    found = []
    for k in range(max_faces):
        idx = np.flatnonzero(remaining)
        if len(idx) < MIN_FACE_SHARE * len(points):
            break
        normal, d, inliers = fit_plane(points[idx], threshold=threshold, seed=k)
        if inliers.sum() < MIN_FACE_SHARE * len(points):
            break
        if np.std(points[idx[inliers]] @ normal + d) > FLAT_SPREAD * noise:
            remaining[idx[inliers]] = False  # a strip of a curved surface, not a face
            continue
        if _outward(normal, -d * normal, points) @ normal < 0:  # outward with respect to the whole part
            normal, d = -normal, -d
        found.append((normal, d))
        remaining[idx[inliers]] = False
    return found, 1.0 - remaining.mean()


def point_normals(points: np.ndarray, noise: float, sample: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Unit surface normal per point (PCA of its neighbours, open3d; the sign is arbitrary) and
    whether the point lies on an edge (its neighbours spread out of one plane: the smallest PCA
    variance is over EDGE_VARIATION times the median's). The neighbourhood reaches 10 noise sigmas
    (at least 4 point spacings): on a noisy scan a small one gives normals that point anywhere.
    Big clouds get them from a random sample of ``sample`` points, each point taking its nearest
    sample's."""
    import open3d as o3d

    chosen = points
    if len(points) > sample:
        chosen = points[np.random.default_rng(0).choice(len(points), sample, replace=False)]
    radius = max(4.0 * point_spacing(chosen), 10.0 * noise)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(chosen))
    cloud.estimate_covariances(o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=64))
    values, vectors = np.linalg.eigh(np.asarray(cloud.covariances))
    variation = values[:, 0] / np.maximum(values.sum(axis=1), 1e-30)
    edge = variation > EDGE_VARIATION * max(float(np.median(variation)), 1e-12)
    normals = vectors[:, :, 0]
    if chosen is points:
        return normals, edge
    _, nearest = cKDTree(chosen).query(points)
    return normals[nearest], edge[nearest]


def assign_to_faces(points: np.ndarray, planes: list[tuple[np.ndarray, float]], band: float,
                    normals: np.ndarray | None = None) -> np.ndarray:
    """Index of the nearest face within `band` for each point whose own normal agrees with the
    face's (when normals are given), -1 for none (walls and edges of other faces)."""
    dist = np.abs(np.stack([points @ n + d for n, d in planes], axis=1))
    nearest = dist.argmin(axis=1)
    off = dist[np.arange(len(points)), nearest] > band
    if normals is not None:
        face_normals = np.stack([n for n, _ in planes])[nearest]
        off |= np.abs(np.einsum("ij,ij->i", normals, face_normals)) < np.cos(np.radians(FACE_NORMAL_DEG))
    nearest[off] = -1
    return nearest


def fit_cylinder(points: np.ndarray, sample: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Cylinder by robust least squares (soft-L1, so dents barely pull it), started from the PCA axis.

    Returns (a point on the axis, unit axis direction, radius).
    """
    from scipy.optimize import least_squares

    rng = np.random.default_rng(seed)
    pts = points[rng.choice(len(points), min(sample, len(points)), replace=False)]
    centre = pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts - centre, full_matrices=False)
    axis0, e1, e2 = vt[0], vt[1], vt[2]

    def geometry(params):
        a, b, c1, c2, radius = params
        axis = axis0 + a * e1 + b * e2
        axis /= np.linalg.norm(axis)
        return centre + c1 * e1 + c2 * e2, axis, radius

    def residuals(params):
        origin, axis, radius = geometry(params)
        rel = pts - origin
        return np.linalg.norm(rel - np.outer(rel @ axis, axis), axis=1) - radius

    rel = pts - centre
    r0 = float(np.median(np.linalg.norm(rel - np.outer(rel @ axis0, axis0), axis=1)))
    scale = max(local_noise(pts), 1e-6)
    fit = least_squares(residuals, [0.0, 0.0, 0.0, 0.0, r0], loss="soft_l1", f_scale=3 * scale)
    origin, axis, radius = geometry(fit.x)
    return origin, axis, float(radius)


# ---- defects -----------------------------------------------------------------------------------

def _noise_of(deviation: np.ndarray) -> float:
    return 1.4826 * float(np.median(np.abs(deviation - np.median(deviation))))


def defects_on_surface(points: np.ndarray, deviation: np.ndarray, uv: np.ndarray, surface: str,
                       noise: float | None = None) -> tuple[list[Defect], float]:
    """Connected patches of a surface (parametrised by uv) deviating beyond DEFECT_SIGMAS × noise."""
    noise = noise or _noise_of(deviation)
    limit = max(DEFECT_SIGMAS * noise, 1e-9)
    span = np.ptp(uv, axis=0)
    cell = np.sqrt(max(span[0] * span[1], 1e-12) / max(len(uv), 1)) * 3
    ij = np.floor((uv - uv.min(axis=0)) / cell).astype(int)
    grid = np.zeros(ij.max(axis=0) + 1)
    np.maximum.at(grid, (ij[:, 0], ij[:, 1]), np.abs(deviation) > limit)
    labels, n = ndimage.label(grid > 0)
    found = []
    for k in range(1, n + 1):
        in_region = (labels[ij[:, 0], ij[:, 1]] == k) & (np.abs(deviation) > limit)
        if in_region.sum() < 5:
            continue
        dev = deviation[in_region]
        region_pts = points[in_region]
        cells = labels == k
        rim = (ndimage.binary_dilation(cells, iterations=1) & ~cells)[ij[:, 0], ij[:, 1]]
        if _is_flat_feature(dev, deviation[rim], noise):
            continue  # a pocket floor, a step or a boss: designed, flat, parallel to its face
        peak = _peak_deviation(uv[in_region], dev, radius=cell / 2)
        found.append(Defect("bump" if peak > 0 else "dent", abs(peak), float((labels == k).sum() * cell * cell),
                            region_pts.mean(axis=0), np.concatenate([region_pts.min(axis=0), region_pts.max(axis=0)]),
                            surface))
    return found, noise


def _is_flat_feature(deviation: np.ndarray, rim: np.ndarray, noise: float) -> bool:
    """A machined floor, step or boss: the region lies at one depth throughout, and the face right
    around it is at the face's own level (a wall, not a slope, leads down to it). A dent's bowl
    spreads its depths from the defect limit to its deepest point, and the ring around it still
    slopes (its points lie between 2.5 noise sigmas and the limit)."""
    if len(deviation) < 30:
        return False
    at_one_depth = float(np.mean(np.abs(deviation - np.median(deviation)) <= 2.0 * noise)) >= FLAT_FEATURE_SHARE
    sloping_rim = float(np.mean(np.abs(rim) > 2.5 * noise)) if len(rim) else 0.0
    return at_one_depth and sloping_rim < 0.2


def _peak_deviation(uv: np.ndarray, dev: np.ndarray, radius: float) -> float:
    """Signed deviation at a defect's extreme, averaged over a small disc to cancel scan noise.

    The single largest deviation would overstate the depth by about three noise sigmas.
    """
    extreme = np.argsort(np.abs(dev))[-20:]
    centre = uv[extreme].mean(axis=0)
    near = np.hypot(*(uv - centre).T) <= radius
    return float(dev[near].mean()) if near.sum() >= 3 else float(dev[extreme].mean())


def _plane_uv(points: np.ndarray, normal: np.ndarray) -> np.ndarray:
    u = np.cross(normal, [1.0, 0, 0] if abs(normal[0]) < 0.9 else [0, 1.0, 0])
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    return np.stack([points @ u, points @ v], axis=1)


@dataclass
class SurfaceFit:
    description: str  # e.g. "6 planar faces", "a cylinder of radius 25"
    noise: float  # scan noise sigma, file units
    deviation: np.ndarray  # per point: signed distance from its fitted surface (NaN: on none)
    defects: list[Defect]  # deepest first
    fit_share: float = 1.0  # share of the measured points within the defect limit of their surface
    fits: bool = True  # False: free-form, no primitive fits and no defects are claimed


def inspect_surfaces(points: np.ndarray, noise: float | None = None) -> SurfaceFit:
    """Defects against the part's own primitives: its planar faces, or a cylinder when faces cover
    little of it. Each point is measured only against the face it lies on (its normal agrees), so
    the walls of a thin part and the caps of a cylinder are never dents in another face; when no
    primitive fits most of the points, the part is free-form and no defect is claimed.

    Args:
        points: the cloud to fit (voxel centroids for big clouds).
        noise: the raw scan's noise sigma; voxel centroids average noise away, so for a
            downsampled cloud pass `raw_noise(original)` or every voxel artefact looks like a defect.
    """
    noise = noise or local_noise(points)
    normals, edge = point_normals(points, noise)
    planes, covered = faces(points, noise)
    deviation = np.full(len(points), np.nan)
    band = FACE_BAND * np.ptp(points, axis=0).max()
    owner = assign_to_faces(points, planes, band, normals) if planes else np.full(len(points), -1)
    owner[edge] = -1
    defects = []
    if planes and covered >= 0.6:
        for k, (normal, d) in enumerate(planes):
            mine = owner == k
            pts = points[mine]
            deviation[mine] = pts @ normal + d
            if len(pts) >= 50:
                defects += defects_on_surface(pts, deviation[mine], _plane_uv(pts, normal), f"face {k + 1}", noise)[0]
        description = f"{len(planes)} planar face{'s' if len(planes) != 1 else ''}"
    else:
        # end caps and other flat faces are not part of the cylinder
        radius, defects = _cylinder_defects(points, normals, (owner < 0) & ~edge, noise, deviation)
        description = f"a cylinder of radius {radius:.3g}"
    measured = np.isfinite(deviation)
    share = float((np.abs(deviation[measured]) <= DEFECT_SIGMAS * noise).mean()) if measured.any() else 0.0
    fits = share >= MIN_FIT_SHARE and measured.mean() >= 0.5
    if not fits:  # nothing fits: deviations from a wrong primitive are no defects
        description = (f"a free-form shape (the best primitive, {description}, holds only {share:.0%} of the "
                       f"{measured.mean():.0%} of points it covers within {DEFECT_SIGMAS:g} noise sigmas)")
        defects = []
    defects.sort(key=lambda x: x.depth, reverse=True)
    return SurfaceFit(description, noise, deviation, defects, share, fits)


def _cylinder_defects(points: np.ndarray, normals: np.ndarray, lateral: np.ndarray, noise: float,
                      deviation: np.ndarray) -> tuple[float, list[Defect]]:
    """A cylinder fitted to the ``lateral`` points and the defects on it; fills ``deviation`` for
    the points measured (the side, less its rims). Returns (radius, defects)."""
    origin, axis, radius = fit_cylinder(points[lateral] if lateral.sum() >= 100 else points)
    lateral = lateral & (np.abs(normals @ axis) < np.cos(np.radians(90.0 - FACE_NORMAL_DEG)))
    if lateral.sum() < 100:
        return radius, []
    along = (points - origin) @ axis
    # the rim where the side meets an end cap: neighbourhoods there mix both surfaces
    lo, hi = np.percentile(along[lateral], [0.5, 99.5])
    rim = max(4.0 * point_spacing(points), 10.0 * noise)
    lateral &= (along > lo + rim) & (along < hi - rim)
    if lateral.sum() < 100:
        return radius, []
    # fitted again without what deviates: a deep dent still pulls the robust fit a little
    rel = points[lateral] - origin
    on_surface = np.abs(np.linalg.norm(rel - np.outer(rel @ axis, axis), axis=1) - radius) <= DEFECT_SIGMAS * noise
    if on_surface.sum() >= 100:
        origin, axis, radius = fit_cylinder(points[lateral][on_surface])
    rel = points[lateral] - origin
    along = rel @ axis
    radial = rel - np.outer(along, axis)
    deviation[lateral] = np.linalg.norm(radial, axis=1) - radius
    ref = radial[0] / max(np.linalg.norm(radial[0]), 1e-12)
    angle = np.arctan2(radial @ np.cross(axis, ref), radial @ ref)
    uv = np.stack([angle * radius, along], axis=1)
    return radius, defects_on_surface(points[lateral], deviation[lateral], uv, "cylinder", noise)[0]


@dataclass
class Inspection:
    points: np.ndarray  # what is measured: voxel centroids of the scan (at most MAX_ANALYSED), outliers removed
    noise: float  # the raw scan's noise sigma, file units
    outliers: int  # points removed as outliers
    fit: SurfaceFit | None  # None under 100 points


def inspect(points: np.ndarray) -> Inspection:
    """The one inspection path (analysis, bench and the page): the raw scan's noise, voxel
    centroids, outliers removed, then the surfaces fitted and their defects found."""
    noise = raw_noise(points)
    work, outliers = remove_outliers(voxel_downsample(points, MAX_ANALYSED))
    fit = inspect_surfaces(work, noise) if len(work) >= 100 else None
    return Inspection(work, noise, outliers, fit)


def deviation_from_reference(points: np.ndarray, reference: np.ndarray,
                             max_iterations: int = 50) -> tuple[np.ndarray, np.ndarray, float]:
    """Align the scan to a reference (ICP, open3d) and measure each point's signed distance to it.

    Returns (aligned points, signed deviation, ICP inlier RMSE). The sign comes from the reference's
    normals, oriented away from its centroid; points nearest an edge or corner of the reference get
    NaN, since there the surface has no single normal to measure along.
    """
    import open3d as o3d

    src = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    dst = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(reference))
    extent = float(np.ptp(reference, axis=0).max())
    dst.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(knn=12))  # few neighbours: sharp at edges
    dst.orient_normals_towards_camera_location(reference.mean(axis=0))
    normals = -np.asarray(dst.normals)  # towards the camera at the centroid, flipped: outward
    init = np.eye(4)
    init[:3, 3] = reference.mean(axis=0) - points.mean(axis=0)
    result = o3d.pipelines.registration.registration_icp(
        src, dst, 0.05 * extent, init, o3d.pipelines.registration.TransformationEstimationPointToPlane(),
        o3d.pipelines.registration.ICPConvergenceCriteria(max_iteration=max_iterations))
    aligned = points @ result.transformation[:3, :3].T + result.transformation[:3, 3]
    tree = cKDTree(reference)
    _, nearest = tree.query(aligned)
    deviation = np.einsum("ij,ij->i", aligned - reference[nearest], normals[nearest])
    # edges and corners have no single normal: their points are not judged (NaN)
    _, hood = tree.query(reference, k=12)
    spread = np.linalg.svd(reference[hood] - reference[hood].mean(axis=1, keepdims=True), compute_uv=False) ** 2
    variation = spread[:, -1] / np.maximum(spread.sum(axis=1), 1e-18)
    deviation[variation[nearest] > 0.02] = np.nan
    return aligned, deviation, float(result.inlier_rmse)


def compare_to_reference(points: np.ndarray, reference: np.ndarray, source: str, unit: str) -> list[Finding]:
    """Findings of a scan against a reference scan or mesh: alignment quality and each defect, found
    as a cluster of points deviating beyond DEFECT_SIGMAS × the scan noise."""
    work = voxel_downsample(points, MAX_ANALYSED)
    ref = voxel_downsample(reference, MAX_ANALYSED)
    aligned, deviation, rmse = deviation_from_reference(work, ref)
    noise = local_noise(aligned)
    u = _unit_suffix(unit)
    whole = Locator(source, region=tuple(float(v) for v in (*aligned.min(axis=0), *aligned.max(axis=0))))
    out = [Finding("pointcloud.alignment", round(rmse, 4), unit,
                   f"Aligned to the reference by ICP: RMS distance {rmse:.3g}{u}.", whole)]
    # beyond the scan's noise and beyond what the alignment leaves everywhere
    judged = np.isfinite(deviation)
    limit = max(DEFECT_SIGMAS * noise, DEFECT_SIGMAS * 1.4826 * float(np.median(np.abs(deviation[judged]))), 1e-9)
    off = np.flatnonzero(judged & (np.abs(np.nan_to_num(deviation)) > limit))
    found: list[Defect] = []
    if len(off) >= 10:
        spacing = point_spacing(aligned)
        labels = clusters(aligned[off], eps=3 * spacing, min_points=4)
        for label in set(labels.tolist()) - {-1}:
            idx = off[labels == label]
            if len(idx) < 10:
                continue
            dev = deviation[idx]
            peak = float(dev[np.argsort(np.abs(dev))[-min(20, len(dev)):]].mean())
            pts = aligned[idx]
            found.append(Defect("bump" if peak > 0 else "dent", abs(peak), len(idx) * spacing ** 2,
                                pts.mean(axis=0), np.concatenate([pts.min(axis=0), pts.max(axis=0)]), "reference"))
    found.sort(key=lambda d: d.depth, reverse=True)
    out.append(Finding("pointcloud.reference_defects", len(found), "defects",
                       f"{len(found)} deviation{'s' if len(found) != 1 else ''} from the reference beyond "
                       f"{DEFECT_SIGMAS:g}× the scan noise of {noise:.3g}{u}.", whole))
    return out + _defect_findings(found, source, unit, frame=" in the reference's frame")


# ---- findings ----------------------------------------------------------------------------------

def _unit_suffix(unit: str) -> str:
    """' mm' for a known unit; nothing when the file did not say."""
    return "" if unit.startswith("file units") else f" {unit}"


def _defect_findings(defects: list[Defect], source: str, unit: str, frame: str = "") -> list[Finding]:
    u = _unit_suffix(unit)
    out = []
    for rank, dfc in enumerate(defects[:20], start=1):
        c = dfc.centre
        where = "against the reference" if dfc.surface == "reference" else f"on {dfc.surface}"
        out.append(Finding(f"pointcloud.{dfc.kind}", round(dfc.depth, 4), unit,
                           f"{dfc.kind.capitalize()} {rank}: {dfc.depth:.3f}{u} {'deep' if dfc.kind == 'dent' else 'high'}"
                           f", area {dfc.area:.2f}{u + '²' if u else ' units²'}, {where}, centred at "
                           f"({c[0]:.2f}, {c[1]:.2f}, {c[2]:.2f}){frame}.",
                           Locator(source, region=tuple(round(float(v), 4) for v in dfc.box))))
    return out


def scalar_field_findings(item: Item, whole: Locator) -> list[Finding]:
    """The per-point fields the file carries besides coordinates and colour, with their range, and
    for a classification field the share of each class."""
    out = []
    for name, values in item.arrays.items():
        if name in ("colors", "scan") or len(values) != len(item.data):
            continue
        if name in ("classification", "class", "label") and values.dtype.kind in "iu":
            classes, counts = np.unique(values, return_counts=True)
            shares = ", ".join(f"class {c}: {n / len(values):.0%}" for c, n in zip(classes[:10], counts[:10]))
            out.append(Finding(f"pointcloud.field.{name}", {int(c): int(n) for c, n in zip(classes, counts)}, None,
                               f"Per-point {name}: {len(classes)} classes ({shares}).", whole))
        else:
            lo, hi, mean = float(values.min()), float(values.max()), float(values.mean())
            out.append(Finding(f"pointcloud.field.{name}", round(mean, 4), None,
                               f"Per-point {name}: from {lo:.4g} to {hi:.4g}, mean {mean:.4g}.", whole))
    return out


def analyze(item: Item) -> list[Finding]:
    points: np.ndarray = item.data
    unit = item.meta.get("units", "units")
    u = _unit_suffix(unit)
    src = item.source
    lo, hi = points.min(axis=0), points.max(axis=0)
    whole = Locator(src, region=tuple(float(v) for v in (*lo, *hi)))
    out = [Finding("pointcloud.points", int(len(points)), "points", f"The cloud has {len(points):,} points.", whole)]
    out += scalar_field_findings(item, whole)
    seen = inspect(points)
    work, noise = seen.points, seen.noise
    if len(work) + seen.outliers < len(points):
        out.append(Finding("pointcloud.downsampled", len(work) + seen.outliers, "points",
                           f"Analysed on {len(work) + seen.outliers:,} voxel centroids of the {len(points):,} points.",
                           whole))
    if seen.outliers:
        out.append(Finding("pointcloud.outliers", seen.outliers, "points",
                           f"{seen.outliers:,} outlier points removed before measuring.", whole))
    extents = oriented_dimensions(work)
    out.append(Finding("pointcloud.dimensions", [round(float(e), 3) for e in extents], unit,
                       f"Part dimensions (oriented box): {extents[0]:.2f} × {extents[1]:.2f} × {extents[2]:.2f}{u}.",
                       whole))
    if len(work) < 100:
        return out
    spacing = point_spacing(work)
    n_parts = count_parts(work, spacing) if len(work) <= 200_000 else 1
    if n_parts > 1:
        out.append(Finding("pointcloud.parts", n_parts, "parts",
                           f"The scan holds {n_parts} separate parts (DBSCAN clusters).", whole))
    fit = seen.fit
    defects, surfaces = fit.defects, fit.description
    out.append(Finding("pointcloud.surfaces", surfaces, None, f"Fitted surfaces: {surfaces}.", whole))
    if not fit.fits:
        out.append(Finding("pointcloud.free_form", round(fit.fit_share, 3), None,
                           "Surface defects were not judged: no plane set or cylinder fits this shape (free-form), "
                           "and deviations from a wrong one are no defects. Compare it with a reference scan or "
                           "mesh to find defects.", whole))
        return out
    out.append(Finding("pointcloud.defect_count", len(defects), "defects",
                       f"{len(defects)} surface defect{'s' if len(defects) != 1 else ''} (dents or bumps deeper than "
                       f"{DEFECT_SIGMAS:g}× the scan noise of {noise:.3g}{u}) on {surfaces}.", whole))
    return out + _defect_findings(defects, src, unit)
