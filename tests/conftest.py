"""Shared fixtures: generated sample files (once per session) and small CT phantoms."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from r1mm.samples import Phantom, PhantomNodule, phantom_volume, write_dicom_series, write_samples


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
