"""Answer writers: the R1 MoE decoder (grounded in evidence), and findings-only answers without it.

    from r1mm.decoder import default_decoder
    ws = Workspace("my-analysis", decoder=default_decoder())

``R1MM_DECODER`` chooses: ``r1`` (the default when it has been built, see
``python -m r1mm.decoder.build``) or ``none`` (findings-only answers). ``R1MM_DECODER_URL``
(or ``backend_url`` in the decoder's ``R1Config``) sends the writing to an OpenAI-compatible
server instead (see ``remote.py``).
"""
from __future__ import annotations

import os


def load_grounded(name: str | None = None):
    """The built R1 decoder wrapped for grounded answers (builds it first if needed); a
    RemoteDecoder when ``R1MM_DECODER_URL`` or the decoder config's ``backend_url`` names a server."""
    from r1mm.decoder.build import DEFAULT_NAME, decoder_dir, load
    from r1mm.decoder.grounded import GroundedDecoder
    from r1mm.decoder.remote import RemoteDecoder

    remote = RemoteDecoder.from_env()
    if remote is not None:
        return remote
    folder = decoder_dir(name or DEFAULT_NAME)  # hashes the build's inputs: once
    config_file = folder / "config.json"
    if config_file.exists():
        import json

        config = json.loads(config_file.read_text())
        if config.get("backend_url"):
            return RemoteDecoder(config["backend_url"], config.get("backend_model"))

    model, tokenizer = load(name or DEFAULT_NAME)
    return GroundedDecoder(model, tokenizer, name or DEFAULT_NAME, folder=folder).warm_up()


def default_decoder():
    """What ``R1MM_DECODER`` asks for; with it unset, the R1 decoder if it is built, else None."""
    from r1mm.decoder.build import is_built

    choice = os.environ.get("R1MM_DECODER", "").strip().lower()
    if choice in ("none", "off", "findings"):
        return None
    if choice in ("", "auto") and not is_built() and not os.environ.get("R1MM_DECODER_URL"):
        return None
    return load_grounded()
