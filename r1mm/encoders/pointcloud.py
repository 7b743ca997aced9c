"""Point-cloud tower: geometric descriptors, no learned weights.

The cloud is thinned to at most 20,000 points and split into regions of nearby points
(k-means on position). Each region is described by the mean FPFH histogram of its points
(open3d, 33 bins: how surface normals turn around a point), the eigenvalue shape of the
region (linear, planar or scattered), how far its points stray from their best plane
relative to the point spacing, and its size relative to the whole part. 42-d before
projection, scale-free so the same shape matches in millimetres or inches.
"""
from __future__ import annotations

import numpy as np

from r1mm.points import point_spacing, voxel_downsample
from r1mm.types import Item, Locator

NAME = "geometric: FPFH + local shape (open3d, no weights)"
DIM = 42
MAX_POINTS, REGIONS = 20_000, 16


def _fpfh(points: np.ndarray, spacing: float) -> np.ndarray:
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=4 * spacing, max_nn=30))
    cloud.orient_normals_towards_camera_location(points.mean(0) + np.array([0, 0, 1e6]))
    fpfh = o3d.pipelines.registration.compute_fpfh_feature(
        cloud, o3d.geometry.KDTreeSearchParamHybrid(radius=10 * spacing, max_nn=60))
    return np.asarray(fpfh.data).T / 100.0                      # (n, 33), each row sums to about 3


def _kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 10) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = points[rng.choice(len(points), k, replace=False)]
    for _ in range(iterations):
        labels = ((points[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        centres = np.stack([points[labels == j].mean(0) if (labels == j).any() else centres[j] for j in range(k)])
    return labels


def region_descriptor(points: np.ndarray, fpfh: np.ndarray, spacing: float, part_size: float) -> np.ndarray:
    centred = points - points.mean(0)
    eig = np.sort(np.linalg.eigvalsh(centred.T @ centred / max(1, len(points) - 1)))[::-1]
    eig = np.maximum(eig, 1e-12)
    shape = [(eig[0] - eig[1]) / eig[0], (eig[1] - eig[2]) / eig[0], eig[2] / eig[0]]
    normal = np.linalg.svd(centred, full_matrices=False)[2][-1]
    off_plane = np.abs(centred @ normal)
    stray = [off_plane.mean() / spacing, off_plane.max() / spacing, np.percentile(off_plane, 90) / spacing]
    extent = np.ptp(points, axis=0)
    size = [np.sqrt(eig[0]) / part_size, np.linalg.norm(extent) / part_size, len(points) / MAX_POINTS]
    return np.concatenate([fpfh.mean(0), shape, np.log1p(stray), size]).astype(np.float32)


def features(item: Item, regions: int = REGIONS) -> tuple[np.ndarray, list[Locator]]:
    points = np.asarray(item.data, np.float64)
    if len(points) > MAX_POINTS:
        points = voxel_downsample(points, MAX_POINTS)
    spacing = point_spacing(points)
    fpfh = _fpfh(points, spacing)
    part_size = float(np.linalg.norm(np.ptp(points, axis=0))) or 1.0
    labels = _kmeans(points, min(regions, max(1, len(points) // 50)))
    vectors, locators = [], []
    for j in np.unique(labels):
        mask = labels == j
        if mask.sum() < 10:
            continue
        vectors.append(region_descriptor(points[mask], fpfh[mask], spacing, part_size))
        lo, hi = points[mask].min(0), points[mask].max(0)
        locators.append(Locator(item.source, region=tuple(float(v) for v in (*lo, *hi))))
    return np.stack(vectors), locators
