"""CT phantoms of other body parts, with known anatomy: a head (skull around brain), an abdomen
(soft tissue, fat, a vertebra), a pelvis (iliac bones and femoral heads) and a thigh (muscle
around a femur). Sizes are an adult's; HU values as a scanner gives them."""
from __future__ import annotations

import numpy as np

SPACING_MM = (3.0, 1.5, 1.5)  # between slices, rows, columns


def _grid(shape: tuple[int, int, int]):
    nz, ny, nx = shape
    dz, dy, dx = SPACING_MM
    z, y, x = np.meshgrid((np.arange(nz) + 0.5) * dz, (np.arange(ny) + 0.5) * dy, (np.arange(nx) + 0.5) * dx,
                          indexing="ij")
    return z, y - ny * dy / 2, x - nx * dx / 2  # y and x from the centre, mm


def _ellipse(y, x, cy, cx, ry, rx):
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


def head(slices: int = 30, size: int = 192, seed: int = 0) -> np.ndarray:
    z, y, x = _grid((slices, size, size))
    vol = np.full(z.shape, -1000.0, np.float32)
    vol[_ellipse(y, x, 0, 0, 95, 78)] = 1200.0  # skull, 6–7 mm thick
    vol[_ellipse(y, x, 0, 0, 88, 72)] = 35.0  # brain
    vol[_ellipse(y, x, -10, 0, 30, 8)] = 8.0  # ventricles (CSF)
    return _noisy(vol, seed)


def abdomen(slices: int = 30, size: int = 256, seed: int = 0) -> np.ndarray:
    z, y, x = _grid((slices, size, size))
    vol = np.full(z.shape, -1000.0, np.float32)
    vol[_ellipse(y, x, 0, 0, 120, 165)] = -100.0  # subcutaneous fat
    vol[_ellipse(y, x, 0, 0, 105, 150)] = 45.0  # organs and muscle
    vol[_ellipse(y, x, 60, 0, 18, 20)] = 650.0  # vertebral body
    vol[_ellipse(y, x, -20, 50, 25, 25)] = -900.0  # gas in the bowel
    return _noisy(vol, seed)


def pelvis(slices: int = 30, size: int = 256, seed: int = 0) -> np.ndarray:
    z, y, x = _grid((slices, size, size))
    vol = np.full(z.shape, -1000.0, np.float32)
    vol[_ellipse(y, x, 0, 0, 110, 170)] = -100.0
    vol[_ellipse(y, x, 0, 0, 95, 155)] = 45.0
    for side in (-1, 1):
        vol[_ellipse(y, x, 20, side * 95, 55, 22)] = 700.0  # iliac wing / acetabulum
        vol[_ellipse(y, x, 0, side * 115, 24, 24)] = 600.0  # femoral head
    vol[_ellipse(y, x, 60, 0, 16, 30)] = 650.0  # sacrum
    return _noisy(vol, seed)


def thigh(slices: int = 40, size: int = 160, seed: int = 0) -> np.ndarray:
    z, y, x = _grid((slices, size, size))
    vol = np.full(z.shape, -1000.0, np.float32)
    vol[_ellipse(y, x, 0, 0, 75, 70)] = -100.0  # fat
    vol[_ellipse(y, x, 0, 0, 65, 60)] = 50.0  # muscle
    vol[_ellipse(y, x, 5, 5, 14, 14)] = 1100.0  # femur cortex
    vol[_ellipse(y, x, 5, 5, 8, 8)] = 20.0  # marrow
    return _noisy(vol, seed)


def _noisy(vol: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(vol + rng.normal(0, 12, vol.shape)).astype(np.int16)
