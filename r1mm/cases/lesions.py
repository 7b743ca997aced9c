"""Nodules planted into a real CT's lungs, with the truth of where and how large each one is.

Lesion insertion measures a detector on real anatomy: spheres and lobulated nodules of solid
tissue, their edges partial-volume averaged as a scanner blurs them, placed free in the
parenchyma, touching a vessel (juxtavascular) or touching the chest wall (juxtapleural). The
scan's own vessels, noise and airways stay as they are.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

PLACES = ("parenchyma", "vessel", "pleura")
SUPERSAMPLE = 3  # sub-voxel samples per axis for the partial-volume edge


@dataclass
class PlantedNodule:
    centre: tuple[float, float, float]  # (slice, row, col), voxel units
    diameter_mm: float  # of the sphere of equal volume
    hu: float
    shape: str  # "sphere" or "lobulated"
    place: str  # one of PLACES


def plant(volume: np.ndarray, spacing_mm, lungs: np.ndarray, dense: np.ndarray, *, seed: int,
          diameters_mm: tuple[float, ...]) -> tuple[np.ndarray, list[PlantedNodule]]:
    """A copy of the volume with one nodule per diameter, places taken in turn from PLACES and
    shapes alternating; nodules at least 10 mm apart. `lungs`: the filled lung mask; `dense`:
    the vessels and other dense voxels inside it."""
    rng = random.Random(seed)
    out = volume.astype(np.float32).copy()
    to_wall = ndimage.distance_transform_edt(lungs, sampling=spacing_mm)
    to_dense = ndimage.distance_transform_edt(~dense, sampling=spacing_mm)
    planted: list[PlantedNodule] = []
    for k, diameter in enumerate(diameters_mm):
        place = PLACES[k % len(PLACES)]
        shape = "sphere" if k % 2 == 0 else "lobulated"
        r = diameter / 2
        if place == "parenchyma":
            ok = (to_wall >= r + 3) & (to_dense >= r + 2)
        elif place == "vessel":  # its edge on a vessel: the centre one radius from dense tissue
            ok = (to_wall >= r + 3) & (to_dense >= r - 0.5) & (to_dense <= r + 0.5)
        else:  # its edge on the chest wall
            ok = (to_wall >= r - 1.0) & (to_wall <= r) & (to_dense >= r + 2)
        for nodule in planted:  # apart from the others
            ok &= _distance_from(nodule.centre, ok.shape, spacing_mm) >= r + nodule.diameter_mm / 2 + 10
        candidates = np.argwhere(ok)
        if not len(candidates):
            continue
        centre = tuple(float(c) for c in candidates[rng.randrange(len(candidates))])
        hu = rng.uniform(0.0, 60.0)
        _draw(out, spacing_mm, centre, r, hu, shape, rng)
        planted.append(PlantedNodule(centre, float(diameter), hu, shape, place))
    return np.round(out).astype(volume.dtype), planted


def _distance_from(centre, shape, spacing_mm) -> np.ndarray:
    axes = [(np.arange(n) - c) * s for n, c, s in zip(shape, centre, spacing_mm)]
    z, y, x = np.meshgrid(*axes, indexing="ij", sparse=True)
    return np.sqrt(z * z + y * y + x * x)


def _draw(volume: np.ndarray, spacing_mm, centre, r: float, hu: float, shape: str, rng: random.Random) -> None:
    """Blend the nodule in: each voxel takes the share of it the nodule fills. A lobulated nodule's
    radius varies with direction (three random lobes of ±20%), scaled to keep its volume."""
    lobes = [(rng.uniform(0, 2 * np.pi), rng.uniform(0, np.pi), rng.choice([2, 3, 4])) for _ in range(3)] \
        if shape == "lobulated" else []
    reach = r * 1.3 + 1
    box = tuple(slice(max(0, int(c - reach / s) - 1), min(n, int(c + reach / s) + 2))
                for c, s, n in zip(centre, spacing_mm, volume.shape))
    axes = [(np.arange(b.start, b.stop) - c) * s for b, c, s in zip(box, centre, spacing_mm)]
    offsets = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    filled = np.zeros(tuple(b.stop - b.start for b in box), np.float32)
    for oz in offsets:
        for oy in offsets:
            for ox in offsets:
                z, y, x = np.meshgrid(axes[0] + oz * spacing_mm[0], axes[1] + oy * spacing_mm[1],
                                      axes[2] + ox * spacing_mm[2], indexing="ij")
                filled += _inside(z, y, x, r, lobes)
    filled /= SUPERSAMPLE ** 3
    volume[box] = volume[box] * (1 - filled) + hu * filled


def _inside(z, y, x, r: float, lobes) -> np.ndarray:
    distance = np.sqrt(z * z + y * y + x * x)
    if not lobes:
        return distance <= r
    azimuth, polar = np.arctan2(y, x), np.arccos(np.clip(z / np.maximum(distance, 1e-6), -1, 1))
    radius = np.ones_like(distance)
    for phase, tilt, order in lobes:
        radius += 0.2 / len(lobes) * np.cos(order * azimuth + phase) * np.sin(polar + tilt)
    # keep the volume of the sphere of radius r: scale by the mean cube of the radius factor
    return distance <= r * radius / np.cbrt(np.mean(radius ** 3))
