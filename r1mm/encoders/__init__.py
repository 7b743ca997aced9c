"""Per-modality encoders into the shared latent space.

Each tower (``text``, ``image``, ``audio``, ``ct``, ``pointcloud``) turns an item into
features with one locator per token, from pretrained weights shipped in packages; the
projectors (``projector``) map them into the text tower's 384-d space, where a question can
be compared with a page passage, a CT cell, a stretch of audio or a region of a part.
"""
from __future__ import annotations

import numpy as np

from r1mm.types import Item, Modality, Tokens

TOWERS = {Modality.IMAGE: "image", Modality.AUDIO: "audio", Modality.CT: "ct", Modality.POINTCLOUD: "pointcloud"}


def encode(item: Item) -> Tokens | None:
    """The item's tokens in the shared space; None for documents (their passages are embedded
    by the text tower when a question is asked)."""
    import importlib

    import torch

    from r1mm.latent.align import projectors

    name = TOWERS.get(item.modality)
    if name is None:
        return None
    features, locators = importlib.import_module(f"r1mm.encoders.{name}").features(item)
    with torch.inference_mode():
        latent = projectors()[name](torch.from_numpy(np.asarray(features, np.float32)))
    return Tokens(latent, locators)
