"""Image findings: size, mean brightness, and whether the camera's EXIF orientation was applied."""
from __future__ import annotations

import numpy as np

from r1mm.types import Finding, Item, Locator


def analyze(item: Item) -> list[Finding]:
    img = item.data
    src = item.source
    pixels = np.asarray(img.convert("RGB").resize((64, 64)), dtype=np.float32)
    brightness = float(pixels.mean() / 255 * 100)
    out = [Finding("image.size", [img.width, img.height], "px",
                   f"The image is {img.width}×{img.height} pixels.", Locator(src)),
           Finding("image.brightness", round(brightness, 1), "%",
                   f"Mean brightness is {brightness:.0f}%.", Locator(src))]
    if item.meta.get("exif_orientation", 1) != 1:
        out.append(Finding("image.rotated", item.meta["exif_orientation"], None,
                           "The camera's EXIF orientation was applied (the image was rotated upright).",
                           Locator(src)))
    return out
