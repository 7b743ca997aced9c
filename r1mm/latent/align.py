"""Bind every modality to text: train the projectors contrastively on paired data made here.

    python -m r1mm.latent.align            # about 3 minutes on 2 cores; cached afterwards

Each modality gets generated inputs whose content is known, so each encoder token has a
description: chart types and page kinds (images), lung, nodule, chest wall and air cells
(CT phantoms), the kind of turn on a call spoken by espeak-ng (audio), and flat, dented,
bumped, edge and curved regions (scanned parts). A projector is trained with InfoNCE
against the text embeddings of all descriptions (every other description is a negative),
so a question in words lands near the tokens that show it. ``pairs(modality, split)`` gives
disjoint seeds for training and held-out evaluation.
"""
from __future__ import annotations

import argparse
import functools
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from r1mm import builds
from r1mm.encoders.projector import (CLASSES, EPOCHS, FILE_NAME, SEEDS, Projector, build_inputs, encoder_dims,
                                    projector_path, save)

log = logging.getLogger(__name__)
# ---- paired data ---------------------------------------------------------------------------

def _image_pairs(count: int, rng: np.random.Generator):
    from PIL import Image, ImageDraw

    from r1mm.encoders import image as tower
    from r1mm.types import Item, Modality

    feats, labels = [], []
    for k in range(count):
        label = k % len(CLASSES["image"])
        w, h = int(rng.integers(280, 480)), int(rng.integers(200, 360))
        img = Image.new("RGB", (w, h), "white")
        d = ImageDraw.Draw(img)
        colour = tuple(int(c) for c in rng.integers(0, 200, 3))
        if label == 0:
            n = int(rng.integers(3, 9))
            for i in range(n):
                top = int(h * rng.uniform(0.1, 0.8))
                d.rectangle([20 + i * (w - 40) // n + 4, top, 20 + (i + 1) * (w - 40) // n - 4, h - 20], fill=colour)
            d.line([20, h - 20, w - 10, h - 20], fill="black", width=2)
        elif label == 1:
            ys = np.cumsum(rng.normal(0, h / 12, 12)) + h / 2
            pts = [(int(20 + i * (w - 40) / 11), int(np.clip(y, 10, h - 25))) for i, y in enumerate(ys)]
            d.line(pts, fill=colour, width=3)
            d.line([20, h - 20, w - 10, h - 20], fill="black", width=2)
            d.line([20, 10, 20, h - 20], fill="black", width=2)
        elif label == 2:
            r = min(w, h) // 2 - 15
            cx, cy, start = w // 2, h // 2, 0.0
            for share in rng.dirichlet(np.ones(int(rng.integers(3, 6)))):
                end = start + 360 * share
                d.pieslice([cx - r, cy - r, cx + r, cy + r], start, end,
                           fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
                start = end
        elif label == 3:
            for line in range(int(rng.integers(8, 16))):
                y = 15 + line * 20
                if y > h - 15:
                    break
                d.text((15, y), " ".join("".join(chr(int(c)) for c in rng.integers(97, 123, int(rng.integers(2, 9))))
                                         for _ in range(8)), fill="black")
        elif label == 4:
            rows, cols = int(rng.integers(4, 9)), int(rng.integers(3, 6))
            for r_ in range(rows + 1):
                d.line([10, 10 + r_ * (h - 20) // rows, w - 10, 10 + r_ * (h - 20) // rows], fill="black")
            for c_ in range(cols + 1):
                d.line([10 + c_ * (w - 20) // cols, 10, 10 + c_ * (w - 20) // cols, h - 10], fill="black")
            for r_ in range(rows):
                for c_ in range(cols):
                    d.text((16 + c_ * (w - 20) // cols, 14 + r_ * (h - 20) // rows), f"{rng.integers(10, 999)}",
                           fill="black")
        else:
            horizon = int(h * rng.uniform(0.45, 0.7))
            sky = np.linspace([90, 150, 235], [200, 225, 250], horizon)
            ground = np.linspace([70, 130, 50], [40, 90, 30], h - horizon) * rng.uniform(0.8, 1.2)
            arr = np.concatenate([sky, ground])[:, None, :].repeat(w, 1)
            arr = np.clip(arr + rng.normal(0, 8, arr.shape), 0, 255).astype(np.uint8)
            img = Image.fromarray(arr)
            ImageDraw.Draw(img).ellipse([w * 0.7, h * 0.1, w * 0.7 + 30, h * 0.1 + 30], fill=(255, 240, 180))
        vectors, _ = tower.features(Item(Modality.IMAGE, f"image_{k}.png", img))
        feats.append(vectors[0])
        labels.append(label)
    return np.stack(feats), np.array(labels)


def _ct_pairs(count: int, rng: np.random.Generator):
    from r1mm.encoders import ct as tower
    from r1mm.cases.ct import Phantom, PhantomNodule, phantom_volume
    from r1mm.types import Item, Modality

    feats, labels = [], []
    for k in range(count):
        spacing = (float(rng.choice([1.5, 2.5, 3.0])), float(rng.uniform(1.4, 2.0)), 0.0)
        spacing = (spacing[0], spacing[1], spacing[1])
        shape = (int(96 / spacing[0]), 192, 192)
        nodules = [PhantomNodule((float(rng.uniform(80, 140) if side else rng.uniform(210, 260)),
                                  float(rng.uniform(120, 200)), float(rng.uniform(25, 70))), float(rng.uniform(12, 28)))
                   for side in rng.integers(0, 2, int(rng.integers(1, 3)))]
        ph = Phantom(shape=shape, spacing_mm=spacing, nodules=nodules)
        volume = phantom_volume(ph, supersample=1)
        vectors, locators = tower.features(Item(Modality.CT, f"ct_{k}", volume, spacing_mm=spacing))
        for vector, loc in zip(vectors, locators):
            x0, y0, x1, y1 = loc.bbox_mm
            if x1 - x0 >= shape[2] * spacing[2] - 1:  # the whole-slab token has no single label
                continue
            inside = [n for n in nodules if x0 <= n.centre_mm[0] < x1 and y0 <= n.centre_mm[1] < y1]
            if inside:
                label = 0
            else:
                cell = volume[:, int(y0 / spacing[1]):int(y1 / spacing[1]), int(x0 / spacing[2]):int(x1 / spacing[2])]
                air, lung = (cell < -950).mean(), ((cell >= -950) & (cell < -400)).mean()
                label = 1 if lung > 0.35 else 3 if air > 0.6 else 2
            feats.append(vector)
            labels.append(label)
    return np.stack(feats), np.array(labels)


AUDIO_LINES = [
    ["Revenue for the quarter was {a} million dollars, up {p} percent.", "Net income reached {a} million dollars.",
     "Gross profit came in at {a} million, a margin of {p} percent."],
    ["Operating expenses rose to {a} million dollars.", "We spent {a} million on research and development.",
     "Costs increased by {p} percent because of hiring."],
    ["Good morning and welcome to the third quarter earnings call.", "Thank you for standing by. Today's call is "
     "being recorded.", "I will now hand the call over to our chief executive officer."],
    ["Thanks. Could you say more about demand in Europe?", "My question is about margins. Why did they fall?",
     "Can you comment on the outlook for next year?"],
]


def _audio_pairs(count: int, rng: np.random.Generator):
    import soundfile as sf

    from r1mm.encoders import audio as tower
    from r1mm.types import Item, Modality

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng); it speaks the audio pairs")
    feats, labels = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(count):
            label = k % len(AUDIO_LINES)
            text = str(rng.choice(AUDIO_LINES[label])).format(a=f"{rng.uniform(10, 900):.1f}",
                                                                p=f"{rng.uniform(1, 40):.0f}")
            wav = Path(tmp) / f"{k}.wav"
            subprocess.run([espeak, "-v", "en-us", "-p", str(int(rng.integers(20, 80))), "-s",
                            str(int(rng.integers(140, 180))), "-w", str(wav), text], check=True, capture_output=True)
            samples, rate = sf.read(str(wav), dtype="float32")
            import librosa
            samples = librosa.resample(samples, orig_sr=rate, target_sr=16000)
            item = Item(Modality.AUDIO, wav.name, samples, {"sample_rate": 16000})
            vectors, _ = tower.features(item, spans=[(0.0, len(samples) / 16000)])
            feats.append(vectors[0])
            labels.append(label)
    return np.stack(feats), np.array(labels)


def _pointcloud_pairs(count: int, rng: np.random.Generator):
    from r1mm.cases.parts import PlantedDefect, box, cylinder, plate
    from r1mm.encoders import pointcloud as tower
    from r1mm.types import Item, Modality

    feats, labels = [], []
    for k in range(count):
        shape = ("plate", "box", "cylinder")[k % 3]
        defects = [PlantedDefect(np.array([rng.uniform(25, 75), rng.uniform(20, 45), 0.0]), float(rng.uniform(8, 12)),
                                 float(rng.choice([-1, 1]) * rng.uniform(1.0, 2.5)))
                   for _ in range(int(rng.integers(0, 3)))]
        if shape == "plate":
            points, _ = plate(20_000, rng, defects)
        elif shape == "box":
            points, _ = box(20_000, rng, defects)
        else:
            points, _ = cylinder(20_000, rng)
        points = points + rng.normal(0, 0.02, points.shape)
        vectors, locators = tower.features(Item(Modality.POINTCLOUD, f"part_{k}.ply", points), regions=24)
        top = points[:, 2].max()
        for vector, loc in zip(vectors, locators):
            lo, hi = np.array(loc.region[:3]), np.array(loc.region[3:])
            if shape == "cylinder":
                label = 4
            elif shape == "box" and (hi[2] - lo[2]) > 3.0:     # spans two faces: an edge region
                label = 3
            else:
                hit = [d for d in defects if (lo[:2] - 2 <= d.centre[:2]).all() and (d.centre[:2] <= hi[:2] + 2).all()
                       and (shape == "plate" or hi[2] > top - 3)]
                label = (1 if hit[0].depth > 0 else 2) if hit else 0
            feats.append(vector)
            labels.append(label)
    return np.stack(feats), np.array(labels)


_MAKERS = {"image": (_image_pairs, 120), "ct": (_ct_pairs, 14), "audio": (_audio_pairs, 48),
           "pointcloud": (_pointcloud_pairs, 24)}


@functools.lru_cache(maxsize=16)
def pairs(modality: str, split: str, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(features, class labels) for a modality; train and held-out come from different seeds."""
    make, default = _MAKERS[modality]
    rng = np.random.default_rng([SEEDS[split], list(_MAKERS).index(modality)])
    return make(count or (default if split == "train" else max(4, default // 2)), rng)


def class_texts(modality: str, paraphrase: bool = False) -> list[str]:
    return [pair[1] if paraphrase else pair[0] for pair in CLASSES[modality]]


# ---- training ------------------------------------------------------------------------------

def train_projector(modality: str, features: np.ndarray, labels: np.ndarray, epochs: int = EPOCHS,
                    temperature: float = 0.07, seed: int = 0) -> Projector:
    """InfoNCE from each token to its class description, against every other description of every
    modality (so a CT token must also beat "a bar chart")."""
    from r1mm.encoders.text import embed

    torch.manual_seed(seed)
    all_texts = [t for m in CLASSES for t in class_texts(m)]
    text = torch.from_numpy(embed(all_texts))
    offset = sum(len(CLASSES[m]) for m in list(CLASSES)[:list(CLASSES).index(modality)])
    targets = torch.from_numpy(labels).long() + offset
    x = torch.from_numpy(features)
    projector = Projector(features.shape[1])
    opt = torch.optim.AdamW(projector.parameters(), lr=1e-3, weight_decay=1e-2)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(projector(x) @ text.t() / temperature, targets)
        loss.backward()
        opt.step()
    return projector.eval()


def build(progress=print) -> Path:
    """Train every projector (seeded, deterministic) and write them with a manifest."""
    inputs = build_inputs()
    progress(builds.why_rebuild(inputs))
    started = time.perf_counter()
    projectors = {}
    with builds.deterministic():
        for modality in encoder_dims():
            began = time.perf_counter()
            features, labels = pairs(modality, "train")
            projectors[modality] = train_projector(modality, features, labels)
            progress(f"{modality}: {len(labels)} pairs, trained in {time.perf_counter() - began:.0f} s")
    partial = inputs.folder().with_name(inputs.folder().name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save(projectors, partial / FILE_NAME)
    folder = builds.finish(partial, inputs, started)
    progress(f"output hash {builds.manifest(inputs)['output_hash']}")
    return folder / FILE_NAME


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m r1mm.latent.align", description=__doc__.splitlines()[0])
    parser.add_argument("--if-missing", action="store_true", help="do nothing when the projectors exist")
    args = parser.parse_args(argv)
    if args.if_missing and builds.is_built(build_inputs()):
        print(f"{projector_path()} exists (output hash {builds.manifest(build_inputs())['output_hash']})")
        return
    print(f"saved {build()}")


if __name__ == "__main__":
    main()
