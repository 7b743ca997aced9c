"""The shared latent space on held-out pairs (other seeds than training), per modality.

- token → text: is the token's own description the nearest (R@1) or among the 5 nearest (R@5)
  of all 19 descriptions of all modalities?
- text → tokens: with a paraphrase of each description as the query (words never trained on),
  what share of the 5 nearest held-out tokens show it (P@5)?
Against two baselines on the same tokens: the same projector architecture untrained (random
projection), and text-only (the item's own words: its transcript for audio, its file name
otherwise). Encode throughput per modality is measured on the sample files.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from r1mm.encoders.projector import CLASSES, Projector, encoder_dims, trained
from r1mm.latent.align import class_texts, pairs


def _scores(latent: torch.Tensor, labels: np.ndarray, modality: str) -> dict:
    from r1mm.encoders.text import embed

    all_texts = [t for m in CLASSES for t in class_texts(m)]
    offset = sum(len(CLASSES[m]) for m in list(CLASSES)[:list(CLASSES).index(modality)])
    text = torch.from_numpy(embed(all_texts))
    ranks = (latent @ text.t()).argsort(dim=-1, descending=True)
    truth = torch.from_numpy(labels) + offset
    r1 = (ranks[:, 0] == truth).float().mean().item()
    r5 = (ranks[:, :5] == truth[:, None]).any(-1).float().mean().item()
    queries = torch.from_numpy(embed(class_texts(modality, paraphrase=True)))
    top = (queries @ latent.t()).topk(min(5, len(labels)), dim=-1).indices
    p5 = np.mean([(labels[top[c].numpy()] == c).mean() for c in range(len(queries))])
    return {"token_to_text_R@1": round(r1, 3), "token_to_text_R@5": round(r5, 3), "text_to_token_P@5": round(float(p5), 3)}


def _text_only(modality: str, labels: np.ndarray) -> dict:
    """Rank with the words an item carries without any encoder: its file name (or, for audio, the
    line that was spoken, as a perfect transcript would give)."""
    from r1mm.encoders.text import embed
    from r1mm.latent.align import AUDIO_LINES

    if modality == "audio":
        words = [AUDIO_LINES[label][0] for label in labels]
    else:
        words = [f"{modality}_{k}" for k in range(len(labels))]
    return _scores(torch.from_numpy(embed(words)), labels, modality)


def _throughput() -> dict:
    from r1mm.encoders import audio, ct, image, pointcloud
    from r1mm.ingest import load
    from r1mm.samples import write_samples
    import tempfile
    from pathlib import Path

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_samples(Path(tmp))
        first = lambda name: (lambda x: x[0] if isinstance(x, list) else x)(load(Path(tmp) / name))
        img, call, scan, part = (first(n) for n in ("revenue_chart.png", "earnings_call.wav", "ct_phantom.zip",
                                                   "plate_scan.ply"))
        for module, item in ((image, img), (audio, call), (ct, scan), (pointcloud, part)):
            module.features(item)  # warm-up: weights load, first-call compilation
        started = time.perf_counter()
        for _ in range(10):
            image.features(img)
        out["image_items_per_s"] = round(10 / (time.perf_counter() - started), 1)
        started = time.perf_counter()
        audio.features(call)
        seconds = len(call.data) / call.meta.get("sample_rate", 16000)
        out["audio_real_time_factor"] = round((time.perf_counter() - started) / seconds, 3)
        started = time.perf_counter()
        ct.features(scan)
        out["ct_slices_per_s"] = round(scan.data.shape[0] / (time.perf_counter() - started), 1)
        started = time.perf_counter()
        pointcloud.features(part)
        out["pointcloud_points_per_s"] = round(len(part.data) / (time.perf_counter() - started))
    return out


def run(cases: int | None = None) -> dict:
    projectors = trained()
    result = {"descriptions": sum(len(v) for v in CLASSES.values()), "modalities": {}}
    for modality, d_in in encoder_dims().items():
        features, labels = pairs(modality, "heldout", cases)
        x = torch.from_numpy(features)
        torch.manual_seed(123)
        random_projection = Projector(d_in).eval()
        with torch.no_grad():
            result["modalities"][modality] = {
                "heldout_tokens": len(labels), "classes": len(CLASSES[modality]),
                "trained": _scores(projectors[modality](x), labels, modality),
                "random_projection": _scores(random_projection(x), labels, modality),
                "text_only": _text_only(modality, labels),
            }
    result["throughput"] = _throughput()
    return result
