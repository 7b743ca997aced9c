"""Point-set primitives that ingest, the point-cloud tower and the analysis share: voxel thinning
and the spacing between neighbouring points."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def _voxel_keys(points: np.ndarray, origin: np.ndarray, voxel: float) -> np.ndarray:
    """One int64 key per point for its voxel (row-major over the grid)."""
    ijk = np.floor((points - origin) / voxel).astype(np.int64)
    dims = ijk.max(axis=0) + 1
    return (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]


def voxel_downsample(points: np.ndarray, target: int, seed: int = 0) -> np.ndarray:
    """Centroids of occupied voxels, the voxel size chosen so about `target` points remain.

    The size is tuned on a subsample of at most 1M points; the full cloud is then binned once
    (linear time: one sort of integer keys).
    """
    if len(points) <= target:
        return points
    origin = points.min(axis=0)
    sample = points if len(points) <= 1_000_000 else \
        points[np.random.default_rng(seed).choice(len(points), 1_000_000, replace=False)]
    extent = np.ptp(points, axis=0)
    voxel = float(np.sqrt(np.sort(extent)[1:].prod() / target)) or 1e-6  # surfaces: points ~ area / voxel²
    voxel = max(voxel, float(extent.max()) / 2e6)  # keeps the int64 keys from overflowing
    for _ in range(12):
        if len(np.unique(_voxel_keys(sample, origin, voxel))) <= 1.1 * target:
            break
        voxel *= 1.2
    _, inverse, counts = np.unique(_voxel_keys(points, origin, voxel), return_inverse=True, return_counts=True)
    centroids = np.stack([np.bincount(inverse, weights=points[:, k], minlength=len(counts)) for k in range(3)],
                         axis=1)
    return centroids / counts[:, None]


def point_spacing(points: np.ndarray) -> float:
    """Median distance between neighbouring points (from at most 5,000 of them)."""
    return float(np.median(cKDTree(points).query(points[: min(len(points), 5000)], k=2)[0][:, 1]))
