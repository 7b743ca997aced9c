"""PatchCore (Roth et al., CVPR 2022) on the project's packaged image backbone.

Fitting keeps a memory bank of mid-level patch features of defect-free images (EfficientNet-Lite0,
ImageNet weights: blocks at strides 8 and 16, 40 + 112 channels, each patch averaged with its 3×3
neighbours), thinned by greedy k-centre coreset selection. A patch's anomaly score is its distance
to the nearest good patch; an image's score is the largest of its smoothed map. The threshold is
set from held-out good images' own scores for a stated false-alarm rate, and can be changed.

`anomalib` is not used: it pins torchvision, which does not work beside the pinned torch here.

    inspector = Inspector.fit(good_images)          # PIL images or arrays, 8/16-bit grey or RGB
    result = inspector.check(image)                  # Check(defect, score, threshold, regions, heatmap)
    inspector.save("line3.inspector"); Inspector.load("line3.inspector")
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

SIDE = 256  # images are resized to SIDE × SIDE before features are taken
FEATURE_BLOCKS = (4, 10)  # EfficientNet-Lite0 blocks whose outputs are kept (strides 8 and 16)
FEATURE_DIM = 40 + 112  # their channels
CORESET_SHARE = 0.1  # share of the good patches the memory bank keeps
FALSE_ALARM_RATE = 0.01  # default: the threshold lets through this share of good images' scores
HOLDOUT_SHARE = 0.2  # good images kept out of the bank to set the threshold
SMOOTH_SIGMA_PX = 4.0  # Gaussian smoothing of the anomaly map, in SIDE pixels
FORMAT_VERSION = 1


@dataclass
class Region:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the image's own pixels
    area_px: int
    area_mm2: float | None = None  # when the pixel size is known


@dataclass
class Check:
    defect: bool
    score: float
    threshold: float
    regions: list[Region]
    heatmap: np.ndarray = field(repr=False)  # (height, width) anomaly map in the image's pixels

    def to_json(self, name: str) -> dict:
        return {"file": name, "defect": self.defect, "score": round(self.score, 4),
                "threshold": round(self.threshold, 4),
                "regions": [{"box": list(r.box), "area_px": r.area_px,
                             **({"area_mm2": round(r.area_mm2, 3)} if r.area_mm2 is not None else {})}
                            for r in self.regions]}


def to_rgb(image) -> np.ndarray:
    """(H, W, 3) uint8 from a PIL image or an array of any mode: 8- or 16-bit grey, RGB, RGBA."""
    from PIL import Image

    array = np.asarray(image)
    if isinstance(image, Image.Image) and image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
    if array.dtype != np.uint8:
        lo, hi = float(np.min(array)), float(np.max(array))
        array = ((array - lo) / max(hi - lo, 1e-9) * 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return array[:, :, :3]


def patch_features(images: list[np.ndarray]) -> torch.Tensor:
    """(N, 32·32, 152) patch features of RGB uint8 images, locally averaged, stride 8 at SIDE 256."""
    import torch
    from PIL import Image

    from r1mm.encoders.image import MEAN, STD, backbone

    model = backbone()
    batch = np.stack([np.asarray(Image.fromarray(im).resize((SIDE, SIDE), Image.BILINEAR), np.float32) / 255.0
                      for im in images])
    x = torch.from_numpy(((batch - MEAN) / STD).transpose(0, 3, 1, 2).copy())
    kept = []
    with torch.inference_mode():
        x = model._swish(model._bn0(model._conv_stem(x)))
        for index, block in enumerate(model._blocks[: max(FEATURE_BLOCKS) + 1]):
            x = block(x)
            if index in FEATURE_BLOCKS:
                kept.append(torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1))
        size = kept[0].shape[-2:]
        maps = [kept[0]] + [torch.nn.functional.interpolate(k, size=size, mode="bilinear", align_corners=False)
                            for k in kept[1:]]
        features = torch.cat(maps, dim=1)  # (N, C, h, w)
    return features.flatten(2).transpose(1, 2).contiguous()


def coreset(bank: torch.Tensor, share: float, seed: int = 0) -> torch.Tensor:
    """Greedy k-centre selection (as PatchCore does) on a 128-d random projection of the patches."""
    import torch

    count = max(1, int(len(bank) * share))
    if count >= len(bank):
        return bank
    generator = torch.Generator().manual_seed(seed)
    projected = bank @ torch.randn(bank.shape[1], 128, generator=generator) / np.sqrt(128)
    squares = (projected * projected).sum(1)

    def squared_distances(pick: int) -> torch.Tensor:  # a matrix-vector product: cdist is 50× slower here
        return squares - 2.0 * (projected @ projected[pick]) + squares[pick]

    chosen = [int(torch.randint(len(bank), (1,), generator=generator))]
    nearest = squared_distances(chosen[0])
    for _ in range(count - 1):
        pick = int(torch.argmax(nearest))
        chosen.append(pick)
        nearest = torch.minimum(nearest, squared_distances(pick))
    return bank[chosen].contiguous()


class Inspector:
    def __init__(self, bank, threshold: float, good_scores: list[float], false_alarm_rate: float,
                 images_fitted: int):
        self.bank = bank  # (M, 152) torch tensor of good patches
        self.threshold = float(threshold)
        self.good_scores = list(good_scores)  # held-out good images' scores, for the record
        self.false_alarm_rate = false_alarm_rate
        self.images_fitted = images_fitted

    @classmethod
    def fit(cls, good_images: Iterable, false_alarm_rate: float = FALSE_ALARM_RATE,
            coreset_share: float = CORESET_SHARE, seed: int = 0,
            progress: Callable[[int, int], None] | None = None) -> Inspector:
        """Learn "good" from defect-free images (at least 2: one is held out for the threshold)."""
        import torch

        images = [to_rgb(im) for im in good_images]
        if len(images) < 2:
            raise ValueError(f"fitting needs at least 2 good images (got {len(images)}): one or more are held "
                             "out to set the threshold")
        order = np.random.default_rng(seed).permutation(len(images))
        held = max(1, int(round(len(images) * HOLDOUT_SHARE)))
        fit_idx, held_idx = order[held:], order[:held]
        patches = []
        for start in range(0, len(fit_idx), 8):
            chunk = [images[i] for i in fit_idx[start:start + 8]]
            patches.append(patch_features(chunk).reshape(-1, FEATURE_DIM))
            if progress is not None:
                progress(min(start + 8, len(fit_idx)), len(images))
        bank = coreset(torch.cat(patches), coreset_share, seed)
        inspector = cls(bank, 0.0, [], false_alarm_rate, len(fit_idx))
        scores = [inspector.score(images[i])[0] for i in held_idx]
        inspector.good_scores = scores
        # a margin over the held-out quantile: few good images see little variation
        inspector.threshold = 1.05 * float(np.quantile(scores, 1 - false_alarm_rate))
        if progress is not None:
            progress(len(images), len(images))
        return inspector

    def score(self, image) -> tuple[float, np.ndarray]:
        """The image's anomaly score and its (SIDE, SIDE) smoothed anomaly map."""
        import torch
        from scipy import ndimage

        features = patch_features([to_rgb(image)])[0]
        distances = torch.cdist(features, self.bank).min(dim=1).values.numpy()
        grid = int(np.sqrt(len(distances)))
        upsampled = np.kron(distances.reshape(grid, grid), np.ones((SIDE // grid, SIDE // grid)))
        smooth = ndimage.gaussian_filter(upsampled, SMOOTH_SIGMA_PX)
        return float(smooth.max()), smooth.astype(np.float32)

    def check(self, image, pixel_mm: float | None = None) -> Check:
        """Defect or not, with the regions over the threshold as boxes in the image's pixels."""
        from PIL import Image
        from scipy import ndimage

        rgb = to_rgb(image)
        height, width = rgb.shape[:2]
        score, smooth = self.score(rgb)
        heatmap = np.asarray(Image.fromarray(smooth).resize((width, height), Image.BILINEAR))
        regions = []
        labels, count = ndimage.label(heatmap > self.threshold)
        for k, box in enumerate(ndimage.find_objects(labels), start=1):
            area = int((labels[box] == k).sum())
            regions.append(Region((box[1].start, box[0].start, box[1].stop, box[0].stop), area,
                                  area * pixel_mm ** 2 if pixel_mm else None))
        regions.sort(key=lambda r: r.area_px, reverse=True)
        return Check(score > self.threshold, score, self.threshold, regions, heatmap)

    def save(self, folder: Path | str) -> Path:
        """A folder with the bank (safetensors) and the settings (JSON): a line's model to copy."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"bank": self.bank}, str(folder / "bank.safetensors"))
        (folder / "inspector.json").write_text(json.dumps({
            "format": FORMAT_VERSION, "method": "PatchCore", "backbone": "EfficientNet-Lite0 (ImageNet)",
            "blocks": list(FEATURE_BLOCKS), "side": SIDE, "threshold": self.threshold,
            "false_alarm_rate": self.false_alarm_rate, "good_scores": self.good_scores,
            "images_fitted": self.images_fitted, "bank_patches": int(len(self.bank))}, indent=1))
        return folder

    @classmethod
    def load(cls, folder: Path | str) -> Inspector:
        from safetensors.torch import load_file

        folder = Path(folder)
        try:
            settings = json.loads((folder / "inspector.json").read_text())
            bank = load_file(str(folder / "bank.safetensors"))["bank"]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{folder}: not a saved inspector ({exc})") from None
        if settings.get("format") != FORMAT_VERSION or settings.get("side") != SIDE:
            raise ValueError(f"{folder}: saved by another version of the inspector")
        return cls(bank, settings["threshold"], settings["good_scores"], settings["false_alarm_rate"],
                   settings["images_fitted"])
