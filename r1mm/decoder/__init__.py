"""Answer writers: the R1 MoE decoder (grounded in evidence), and findings-only answers without it.

    from r1mm.decoder import default_decoder
    ws = Workspace("my-analysis", decoder=default_decoder())

``R1MM_DECODER`` chooses: ``r1`` (the default when it has been built, see
``python -m r1mm.decoder.build``) or ``none`` (findings-only answers).
"""
from __future__ import annotations

import os


def load_grounded(name: str | None = None):
    """The built R1 decoder wrapped for grounded answers (builds it first if needed)."""
    from r1mm.decoder.build import DEFAULT_NAME, load
    from r1mm.decoder.grounded import GroundedDecoder

    model, tokenizer = load(name or DEFAULT_NAME)
    return GroundedDecoder(model, tokenizer, name or DEFAULT_NAME)


def default_decoder():
    """What ``R1MM_DECODER`` asks for; with it unset, the R1 decoder if it is built, else None."""
    from r1mm.decoder.build import is_built

    choice = os.environ.get("R1MM_DECODER", "").strip().lower()
    if choice in ("none", "off", "findings"):
        return None
    if choice in ("", "auto") and not is_built():
        return None
    return load_grounded()
