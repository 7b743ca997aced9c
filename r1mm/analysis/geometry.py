"""Point-cloud findings: size, oriented dimensions, and dents or bumps off a fitted plane.

All lengths are in the file's own units (often mm for scanned parts).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from r1mm.types import Finding, Item, Locator

MAX_ANALYSED = 400_000  # points used for fitting; a uniform subsample above this


def oriented_dimensions(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA-aligned box: (extents sorted largest first, axes as rows, centre)."""
    centre = points.mean(axis=0)
    _, _, axes = np.linalg.svd(points - centre, full_matrices=False)
    local = (points - centre) @ axes.T
    lo, hi = local.min(axis=0), local.max(axis=0)
    extents = hi - lo
    order = np.argsort(extents)[::-1]
    return extents[order], axes[order], centre + ((lo + hi) / 2) @ axes


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


def plane_deviation(points: np.ndarray) -> np.ndarray:
    """Signed distance of every point from the dominant plane (in the cloud's units)."""
    normal, d, _ = fit_plane(points)
    return points @ normal + d


def find_surface_defects(points: np.ndarray, noise: float | None = None):
    """Dents and bumps on the dominant plane: connected patches deviating > 5× the noise level.

    Returns (defects, signed deviation per point of the plane's points, plane inlier mask).
    """
    normal, d, inliers = fit_plane(points)
    near = np.abs(points @ normal + d) < 0.05 * np.ptp(points, axis=0).max()
    plane_pts = points[near]
    deviation = plane_pts @ normal + d
    noise = noise or 1.4826 * float(np.median(np.abs(deviation - np.median(deviation))))
    limit = max(5.0 * noise, 1e-9)
    # grid the plane and group deviating cells into regions
    u = np.cross(normal, [1.0, 0, 0] if abs(normal[0]) < 0.9 else [0, 1.0, 0])
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    uv = np.stack([plane_pts @ u, plane_pts @ v], axis=1)
    cell = np.sqrt(np.ptp(uv[:, 0]) * np.ptp(uv[:, 1]) / max(len(uv), 1)) * 3
    ij = np.floor((uv - uv.min(axis=0)) / cell).astype(int)
    grid = np.zeros(ij.max(axis=0) + 1)
    np.maximum.at(grid, (ij[:, 0], ij[:, 1]), np.abs(deviation) > limit)
    labels, n = ndimage.label(grid > 0)
    defects = []
    for k in range(1, n + 1):
        in_region = labels[ij[:, 0], ij[:, 1]] == k
        in_region &= np.abs(deviation) > limit
        if in_region.sum() < 5:
            continue
        dev = deviation[in_region]
        region_pts = plane_pts[in_region]
        peak = _peak_deviation(uv[in_region], dev, radius=cell / 2)
        defects.append({
            "kind": "bump" if peak > 0 else "dent",
            "depth": float(abs(peak)),
            "area": float((labels == k).sum() * cell * cell),
            "centre": region_pts.mean(axis=0),
            "box": np.concatenate([region_pts.min(axis=0), region_pts.max(axis=0)]),
            "points": int(in_region.sum()),
        })
    defects.sort(key=lambda d_: d_["depth"], reverse=True)
    return defects, noise


def _peak_deviation(uv: np.ndarray, dev: np.ndarray, radius: float) -> float:
    """Signed deviation at a defect's extreme, averaged over a small disc to cancel scan noise.

    The single largest deviation would overstate the depth by about three noise sigmas.
    """
    extreme = np.argsort(np.abs(dev))[-20:]
    centre = uv[extreme].mean(axis=0)
    near = np.hypot(*(uv - centre).T) <= radius
    return float(dev[near].mean()) if near.sum() >= 3 else float(dev[extreme].mean())


def analyze(item: Item) -> list[Finding]:
    points: np.ndarray = item.data
    unit = item.meta.get("units", "units")
    u = "" if unit.startswith("file units") else f" {unit}"
    src = item.source
    if len(points) > MAX_ANALYSED:
        points = points[np.random.default_rng(0).choice(len(points), MAX_ANALYSED, replace=False)]
    lo, hi = item.data.min(axis=0), item.data.max(axis=0)
    region = tuple(float(v) for v in (*lo, *hi))
    out = [Finding("pointcloud.points", int(len(item.data)), "points",
                   f"The cloud has {len(item.data):,} points.", Locator(src, region=region))]
    extents, _, _ = oriented_dimensions(points)
    out.append(Finding("pointcloud.dimensions", [round(float(e), 3) for e in extents], unit,
                       f"Part dimensions (oriented box): {extents[0]:.2f} × {extents[1]:.2f} × "
                       f"{extents[2]:.2f}{u}.", Locator(src, region=region)))
    if len(points) >= 100:
        defects, noise = find_surface_defects(points)
        out.append(Finding("pointcloud.defect_count", len(defects), "defects",
                           f"{len(defects)} surface defect{'s' if len(defects) != 1 else ''} (dents or bumps "
                           f"deeper than 5× the scan noise of {noise:.3g}{u}) on the main plane.",
                           Locator(src, region=region)))
        for rank, dfc in enumerate(defects[:20], start=1):
            c = dfc["centre"]
            out.append(Finding(f"pointcloud.{dfc['kind']}", round(dfc["depth"], 4), unit,
                               f"{dfc['kind'].capitalize()} {rank}: {dfc['depth']:.3f}{u} "
                               f"{'deep' if dfc['kind'] == 'dent' else 'high'}, area {dfc['area']:.2f}"
                               f"{u + '²' if u else ' units²'}, centred at ({c[0]:.2f}, {c[1]:.2f}, {c[2]:.2f}).",
                               Locator(src, region=tuple(round(float(v), 4) for v in dfc["box"]))))
    return out
