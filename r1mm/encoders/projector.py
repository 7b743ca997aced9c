"""Projectors: one small MLP per modality from its encoder's features into the shared space.

The shared space is the text tower's (all-MiniLM-L6-v2, 384-d = ``R1Config.d_latent``): each
other modality is bound to text, ImageBind-style, by ``python -m r1mm.latent.align``. The
trained weights are cached in ``$R1MM_CACHE/latent/projectors.safetensors``; building them
is seeded, so two builds give the same weights.
"""
from __future__ import annotations

import torch
from torch import nn

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
