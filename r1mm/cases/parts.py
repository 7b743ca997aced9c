"""Scanned parts with planted defects of known place, radius and depth: plates, boxes and cylinders,
and a PLY writer for them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class PlantedDefect:
    centre: np.ndarray
    radius: float
    depth: float  # positive: dent, negative: bump


def cap(dist: np.ndarray, radius: float, depth: float) -> np.ndarray:
    """Inward displacement of a spherical-cap-like dent (positive depth) or bump (negative)."""
    return np.where(dist < radius, depth * (1 - (dist / radius) ** 2), 0.0)


def plate(n: int, rng, defects=(), size=(120.0, 80.0)) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform((0, 0), size, (n, 2))
    z = np.full(n, 10.0)
    for d in defects:
        z -= cap(np.hypot(xy[:, 0] - d.centre[0], xy[:, 1] - d.centre[1]), d.radius, d.depth)
    return np.column_stack([xy, z]), np.array([size[0], size[1], 0.0])


def box(n: int, rng, defects=(), size=(100.0, 60.0, 40.0)) -> tuple[np.ndarray, np.ndarray]:
    """All six faces sampled by area; defects on the top face (z = size[2])."""
    sx, sy, sz = size
    areas = np.array([sx * sy, sx * sy, sx * sz, sx * sz, sy * sz, sy * sz])
    face = rng.choice(6, n, p=areas / areas.sum())
    p = rng.uniform(0, 1, (n, 3)) * size
    p[face == 0, 2], p[face == 1, 2] = sz, 0.0
    p[face == 2, 1], p[face == 3, 1] = 0.0, sy
    p[face == 4, 0], p[face == 5, 0] = 0.0, sx
    top = face == 0
    for d in defects:
        p[top, 2] -= cap(np.hypot(p[top, 0] - d.centre[0], p[top, 1] - d.centre[1]), d.radius, d.depth)
    return p, np.array(size)


def cylinder(n: int, rng, defects=(), radius: float = 25.0, length: float = 150.0) -> tuple[np.ndarray, np.ndarray]:
    """The lateral surface; defect centres given as (angle·radius, z, 0)."""
    angle = rng.uniform(-np.pi, np.pi, n)
    z = rng.uniform(0, length, n)
    r = np.full(n, radius)
    for d in defects:
        arc = (angle * radius - d.centre[0] + np.pi * radius) % (2 * np.pi * radius) - np.pi * radius
        r -= cap(np.hypot(arc, z - d.centre[1]), d.radius, d.depth)
    pts = np.column_stack([r * np.cos(angle), r * np.sin(angle), z])
    return pts, np.array([length, 2 * radius, 2 * radius])


SHAPES = {"plate": plate, "box": box, "cylinder": cylinder}


def plate_with_dent(n_points: int = 60_000, size=(120.0, 80.0), dent_centre=(40.0, 25.0),
                    dent_radius: float = 8.0, dent_depth: float = 1.5, noise: float = 0.02,
                    seed: int = 0) -> np.ndarray:
    """The top face of a scanned plate (mm) with a spherical-cap dent, plus scanner noise."""
    rng = np.random.default_rng(seed)
    points, _ = plate(n_points, rng, [PlantedDefect(np.array([*dent_centre, 0.0]), dent_radius, dent_depth)], size)
    points[:, 2] += rng.normal(0, noise, n_points)
    return points


def write_ply(path: Path, points: np.ndarray, binary: bool = True, units: str | None = "mm",
              colors: np.ndarray | None = None) -> None:
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0"]
    if units:
        header.append(f"comment units {units}")
    header += [f"element vertex {len(points)}", "property float x", "property float y", "property float z"]
    if colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header.append("end_header")
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode())
        if binary:
            fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
            if colors is not None:
                fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
            rec = np.empty(len(points), dtype=fields)
            rec["x"], rec["y"], rec["z"] = points.T
            if colors is not None:
                rec["red"], rec["green"], rec["blue"] = colors.T
            fh.write(rec.tobytes())
        else:
            for p in points:
                fh.write(f"{p[0]:.5f} {p[1]:.5f} {p[2]:.5f}\n".encode())
