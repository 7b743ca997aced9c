"""Soft tokens: media latents enter the decoder as input embeddings beside the evidence text.

A media token (an image cell, a CT cell, a stretch of audio, a point-cloud region) lives in the
shared 384-d space, which the projectors bound to the text encoder (MiniLM). So a map from the
text encoder's space into the decoder's input-embedding space can be learnt from text alone:
for many sentences, MiniLM's vector of the sentence → the mean of the decoder's (scaled) input
embeddings of its tokens. It is a ridge regression, solved in closed form in seconds and cached
beside the decoder. A media token then reaches the decoder as one embedding that sits where the
words describing it would sit.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

FILE_NAME = "soft_projector.safetensors"
MARKER = "<media>"  # where a media evidence line takes its soft token in the prompt
RIDGE = 1e-2


def training_sentences(limit: int = 1500) -> list[str]:
    """Sentences from the decoder's calibration text plus the shared space's descriptions."""
    from r1mm.decoder.corpus import texts
    from r1mm.encoders.projector import CLASSES

    sentences = [s.strip() for t in texts("calibration") for s in re.split(r"(?<=[.!?])\s+|\n+", t)
                 if 20 <= len(s.strip()) <= 300]
    descriptions = [d for entries in CLASSES.values() for entry in entries for d in
                    ([entry] if isinstance(entry, str) else entry)]
    return descriptions + sentences[:limit]


@torch.no_grad()
def fit(model, tokenizer, sentences: list[str], text_vectors: np.ndarray) -> torch.Tensor:
    """Weights [385, hidden] (a bias row last) mapping a unit text vector to a mean input embedding."""
    embed = model.get_input_embeddings()
    targets = torch.stack([embed(tokenizer(s, return_tensors="pt", add_special_tokens=False).input_ids[0]).mean(0)
                           for s in sentences])
    x = torch.cat([torch.from_numpy(text_vectors).float(), torch.ones(len(sentences), 1)], dim=1)
    gram = x.t() @ x + RIDGE * len(sentences) * torch.eye(x.shape[1])
    return torch.linalg.solve(gram, x.t() @ targets)


class SoftProjector:
    def __init__(self, weights: torch.Tensor):
        self.weights = weights

    def __call__(self, vectors: np.ndarray | torch.Tensor) -> torch.Tensor:
        v = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        return torch.cat([v, torch.ones(v.shape[0], 1)], dim=1) @ self.weights

    @classmethod
    def for_model(cls, model, tokenizer, folder: Path | None) -> "SoftProjector":
        """The cached projector of a built decoder, fitted (and cached) on first use."""
        from safetensors.torch import load_file, save_file

        path = folder / FILE_NAME if folder is not None else None
        if path is not None and path.exists():
            return cls(load_file(path)["weights"])
        from r1mm.encoders.text import embed_batch

        sentences = training_sentences()
        log.info("fitting the soft-token projector on %d sentences", len(sentences))
        weights = fit(model, tokenizer, sentences, embed_batch(sentences))
        if path is not None:
            save_file({"weights": weights.contiguous()}, path)
        return cls(weights)


def prompt_embeddings(model, tokenizer, prompt: str, soft: torch.Tensor) -> torch.Tensor:
    """[1, tokens, hidden]: the prompt's token embeddings, with the k-th MARKER replaced by soft[k]."""
    embed = model.get_input_embeddings()
    pieces = prompt.split(MARKER)
    if len(pieces) - 1 != soft.shape[0]:
        raise ValueError(f"{len(pieces) - 1} media markers for {soft.shape[0]} soft tokens")
    parts = []
    for k, piece in enumerate(pieces):
        ids = tokenizer(piece, return_tensors="pt", add_special_tokens=(k == 0)).input_ids[0]
        if ids.numel():
            parts.append(embed(ids))
        if k < soft.shape[0]:
            parts.append(soft[k:k + 1].to(parts[0].dtype if parts else soft.dtype))
    return torch.cat(parts).unsqueeze(0)


def nearest_words(model, tokenizer, projector: SoftProjector, vector: np.ndarray, k: int = 8) -> list[str]:
    """The words a media token's soft token sits nearest to (cosine after centring both the
    vocabulary and the projection, whose common part is the frequent words)."""
    embed = model.get_input_embeddings()
    table = embed.weight * getattr(embed, "embed_scale", 1.0)
    soft = projector(np.asarray(vector, np.float32)[None])[0] - projector.weights[-1]  # less the bias row
    scores = torch.nn.functional.cosine_similarity(table - table.mean(0), soft.unsqueeze(0), dim=-1)
    words = []
    for i in scores.argsort(descending=True).tolist():
        word = tokenizer.decode([i]).strip()
        if word and not word.startswith("<"):
            words.append(word)
        if len(words) == k:
            break
    return words
