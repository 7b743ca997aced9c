"""Per-modality encoders into the shared latent space.

Each tower (``text``, ``image``, ``audio``, ``ct``, ``pointcloud``) turns an item into
features with one locator per token, from pretrained weights shipped in packages; the
projectors (``projector``) map them into the text tower's 384-d space, where a question can
be compared with a page passage, a CT cell, a stretch of audio or a region of a part.
"""
from __future__ import annotations

import numpy as np

from r1mm.modalities import modality_spec
from r1mm.types import Item, Tokens


def features(item: Item) -> tuple[str, np.ndarray, list] | None:
    """(tower name, features before projection, one locator per token); None for documents."""
    import importlib

    name = modality_spec(item.modality).tower
    if name is None:
        return None
    feats, locators = importlib.import_module(f"r1mm.encoders.{name}").features(item)
    return name, np.asarray(feats, np.float32), locators


def encode(item: Item, projectors: dict | None = None) -> Tokens | None:
    """The item's tokens in the shared space; None for documents (their passages are embedded
    by the text tower when the file is added). ``projectors`` (tower name -> Projector)
    replaces the cached ones for the towers it names, e.g. a fine-tune's."""
    import torch

    from r1mm.encoders.projector import trained as cached

    found = features(item)
    if found is None:
        return None
    name, feats, locators = found
    projector = (projectors or {}).get(name) or cached()[name]
    with torch.inference_mode():
        latent = projector(torch.from_numpy(feats))
    return Tokens(latent, locators)
