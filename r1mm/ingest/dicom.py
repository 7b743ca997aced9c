"""CT: one DICOM file, a folder or a zip of a series, or a NIfTI or NRRD volume.

Slices are sorted by their position along the slice normal (ImagePositionPatient projected
on the cross product of the ImageOrientationPatient cosines), never by file name or
InstanceNumber. Pixel values become Hounsfield units through RescaleSlope/Intercept.
Several series in one folder or zip become separate items. Identifiers are removed on
ingest (see `deid.py`) unless the caller asks to keep them.
"""
from __future__ import annotations

import io
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from r1mm.errors import IngestError, LimitExceeded
from r1mm.ingest.archive import iter_zip_members
from r1mm.ingest.deid import METHOD, deidentify
from r1mm.ingest.limits import Limits
from r1mm.types import Item, Modality

log = logging.getLogger(__name__)

# Technical attributes safe to show; identifiers are added only with keep_phi.
SAFE_KEYWORDS = ("Modality", "Manufacturer", "ManufacturerModelName", "BodyPartExamined",
                 "StudyDate", "SeriesDate", "SeriesNumber", "KVP", "ConvolutionKernel",
                 "PatientPosition", "ImageType", "PhotometricInterpretation", "BitsStored",
                 "ContrastBolusAgent", "SliceThickness", "SpacingBetweenSlices")
PHI_SHOWN_WITH_CONSENT = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                          "PatientAge", "InstitutionName", "StudyDescription", "SeriesDescription")
# A gap over this multiple of the usual slice spacing means slices are missing.
_GAP_FACTOR = 1.5


@dataclass
class _Slice:
    name: str
    ds: pydicom.Dataset
    set_aside: str | None = None  # other DICOM objects beside it in its folder or zip, described


def load_ct(path: Path, source: str, fmt: str, limits: Limits, keep_phi: bool = False) -> list[Item]:
    if fmt == "nifti":
        return [_load_nifti(path, source, limits)]
    if fmt == "nrrd":
        return [_load_nrrd(path, source, limits)]
    if fmt == "dicom":
        slices = [_read_slice(path.read_bytes(), path.name, source, keep_phi, strict=True)]
    elif fmt == "dicom_zip":
        members = iter_zip_members(path, source, limits)
        slices = _read_many(members, source, keep_phi)
    elif fmt == "dicom_folder":
        slices = _read_many(_iter_folder(path, source, limits), source, keep_phi)
    else:
        raise AssertionError(f"load_ct got format {fmt!r}")
    series = _group_by_series(slices)
    items = []
    for number, (uid, members) in enumerate(series.items(), start=1):
        label = source if len(series) == 1 else f"{source} [series {number}]"
        items.append(_build_volume(members, label, limits, keep_phi))
    return items


def _iter_folder(folder: Path, source: str, limits: Limits) -> Iterator[tuple[str, bytes]]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if len(files) > limits.max_files:
        raise LimitExceeded(source, f"holds {len(files)} files; the limit is {limits.max_files} "
                                    "(R1MM_MAX_FILES)")
    for p in files:
        yield str(p.relative_to(folder)), p.read_bytes()


def _read_many(members: Iterable[tuple[str, bytes]], source: str, keep_phi: bool) -> list[_Slice]:
    slices, skipped, others = [], [], []
    for name, data in members:
        try:
            slices.append(_read_slice(data, name, source, keep_phi, strict=False))
        except _NotDicom:
            skipped.append(name)
        except _OtherObject as other:
            others.append(other)
    if not slices:
        if others:
            raise IngestError(source, f"holds no CT images, only {_listed(others)}; R1-MM analyses CT series")
        listed = ", ".join(skipped[:3]) + (" …" if len(skipped) > 3 else "")
        raise IngestError(source, "holds no DICOM files" + (f" (found: {listed})" if skipped else ""))
    if skipped:
        log.info("%s: skipped %d non-DICOM member(s)", source, len(skipped))
    for s in slices:  # each series says what was set aside beside it
        s.set_aside = _listed(others) if others else None
    return slices


class _NotDicom(Exception):
    pass


class _OtherObject(Exception):
    """A DICOM object in a folder or zip that is not a CT image: an RT plan, dose or structure set,
    a report, an MR image. Set aside with a note; the CT series beside it is still read."""

    def __init__(self, name: str, kind: str):
        super().__init__(name)
        self.name, self.kind = name, kind


def _listed(others: list[_OtherObject]) -> str:
    """'1 RTPLAN object (rtplan.dcm) and 2 RTDOSE objects (dose1.dcm, dose2.dcm)'."""
    kinds: dict[str, list[str]] = {}
    for other in others:
        kinds.setdefault(other.kind, []).append(other.name)
    parts = [f"{len(names)} {kind} object{'s' if len(names) > 1 else ''} ({', '.join(names[:3])}"
             f"{' …' if len(names) > 3 else ''})" for kind, names in kinds.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _read_slice(data: bytes, name: str, source: str, keep_phi: bool, strict: bool) -> _Slice:
    where = source if name == source else f"{source} › {name}"
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=not strict or data[128:132] != b"DICM")
    except InvalidDicomError:
        if strict:
            raise IngestError(where, "is not a DICOM file") from None
        raise _NotDicom from None
    except Exception as exc:  # pydicom raises many kinds on truncated or corrupt files
        raise IngestError(where, f"is a corrupt or truncated DICOM file ({_first_line(exc)})") from None
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        if strict or "SOPClassUID" in ds:
            kind = ds.get("Modality", "non-image")
            if not strict:
                raise _OtherObject(name, str(kind))
            raise IngestError(where, f"is a DICOM {kind} object without pixel data "
                                     "(R1-MM reads CT image series)")
        raise _NotDicom
    modality = str(ds.get("Modality", "")).upper()
    if modality and modality != "CT":
        if not strict:
            raise _OtherObject(name, modality)
        raise IngestError(where, f"is a DICOM image of modality {modality}, not CT; R1-MM analyses "
                                 "CT series (Modality CT, values in Hounsfield units)")
    if not keep_phi:
        try:
            deidentify(ds)  # reads every element: a corrupt one raises here, not at dcmread
        except Exception as exc:
            raise IngestError(where, f"is a corrupt DICOM file ({_first_line(exc)})") from None
    return _Slice(name, ds)


def _first_line(exc: Exception) -> str:
    """pydicom puts whole tracebacks into some messages; the user needs the first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _group_by_series(slices: list[_Slice]) -> dict[str, list[_Slice]]:
    series: dict[str, list[_Slice]] = defaultdict(list)
    for s in slices:
        series[str(s.ds.get("SeriesInstanceUID", "unknown"))].append(s)
    return dict(series)


def _slice_normal(ds: pydicom.Dataset) -> np.ndarray | None:
    iop = ds.get("ImageOrientationPatient")
    if iop is None or len(iop) != 6:
        return None
    row, col = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    return normal / norm if norm > 1e-6 else None


def _positions(members: list[_Slice], source: str) -> tuple[np.ndarray, str]:
    """Each slice's position along the normal, and what it was derived from."""
    normal = _slice_normal(members[0].ds)
    if normal is not None and all("ImagePositionPatient" in m.ds for m in members):
        ipp = np.array([[float(v) for v in m.ds.ImagePositionPatient] for m in members])
        return ipp @ normal, "ImagePositionPatient along the slice normal"
    if all("SliceLocation" in m.ds for m in members):
        return np.array([float(m.ds.SliceLocation) for m in members]), "SliceLocation"
    if len(members) == 1:
        return np.zeros(1), "single slice"
    raise IngestError(source, "slices carry neither ImagePositionPatient/ImageOrientationPatient nor "
                              "SliceLocation, so their order cannot be known")


def _build_volume(members: list[_Slice], source: str, limits: Limits, keep_phi: bool) -> Item:
    first = members[0].ds
    if int(first.get("NumberOfFrames", 1) or 1) > 1:
        if len(members) > 1:
            raise IngestError(source, "mixes multi-frame and single-frame DICOM files in one series")
        return _build_multiframe(members[0], source, limits, keep_phi)
    if len(members) > limits.max_ct_slices:
        raise LimitExceeded(source, f"has {len(members)} slices; the limit is {limits.max_ct_slices} "
                                    "(R1MM_MAX_CT_SLICES)")
    positions, basis = _positions(members, source)
    order = np.argsort(positions, kind="stable")
    members = [members[i] for i in order]
    positions = positions[order]
    slice_spacing = _check_spacing(positions, members, source)
    shape = (int(first.Rows), int(first.Columns))
    volume = None
    integral = True
    for z, m in enumerate(members):
        if (int(m.ds.Rows), int(m.ds.Columns)) != shape:
            raise IngestError(source, f"slice {m.name} is {m.ds.Rows}×{m.ds.Columns} pixels, "
                                      f"the others {shape[0]}×{shape[1]}: mixed series")
        hu, is_integral = _hounsfield(m, source)
        integral &= is_integral
        if volume is None:
            volume = np.empty((len(members), *shape), np.float32)
        volume[z] = hu
    if integral and volume.min() >= -32768 and volume.max() <= 32767:
        volume = volume.astype(np.int16)
    row_mm, col_mm = _pixel_spacing(first, source)
    item = Item(Modality.CT, source, volume, _series_meta(members, keep_phi, basis))
    item.spacing_mm = (slice_spacing, row_mm, col_mm)
    iop = first.get("ImageOrientationPatient")
    item.orientation = tuple(float(v) for v in iop) if iop is not None else None
    ipp = members[0].ds.get("ImagePositionPatient")
    item.origin_mm = tuple(float(v) for v in ipp) if ipp is not None else None
    item.arrays["slice_positions_mm"] = positions.astype(np.float64)
    item.meta.update({"slices": len(members), "rows": shape[0], "columns": shape[1],
                      "spacing_mm": [round(v, 4) for v in item.spacing_mm]})
    return item


def _check_spacing(positions: np.ndarray, members: list[_Slice], source: str) -> float:
    if len(positions) < 2:
        ds = members[0].ds
        return float(ds.get("SpacingBetweenSlices") or ds.get("SliceThickness") or 1.0)
    gaps = np.diff(positions)
    dup = np.flatnonzero(gaps < 1e-3)
    if dup.size:
        i = int(dup[0])
        raise IngestError(source, f"slices {members[i].name} and {members[i + 1].name} lie at the same "
                                  f"position ({positions[i]:.2f} mm): duplicate or mixed acquisitions")
    spacing = float(np.median(gaps))
    big = np.flatnonzero(gaps > _GAP_FACTOR * spacing)
    if big.size:
        i = int(big[0])
        missing = int(round(gaps[i] / spacing)) - 1
        raise IngestError(source, f"about {missing} slice(s) missing between positions "
                                  f"{positions[i]:.2f} mm and {positions[i + 1]:.2f} mm "
                                  f"(gap {gaps[i]:.2f} mm, spacing {spacing:.2f} mm)")
    return spacing


def _hounsfield(m: _Slice, source: str) -> tuple[np.ndarray, bool]:
    try:
        pixels = m.ds.pixel_array
    except Exception as exc:  # missing decoder plugin, truncated pixel data, bad transfer syntax
        syntax = getattr(getattr(m.ds, "file_meta", None), "TransferSyntaxUID", None)
        name = syntax.name if syntax is not None else "unknown transfer syntax"
        raise IngestError(f"{source} › {m.name}" if m.name != source else source,
                          f"pixel data cannot be decoded ({name}: {exc})") from None
    slope = float(m.ds.get("RescaleSlope", 1) or 1)
    intercept = float(m.ds.get("RescaleIntercept", 0) or 0)
    integral = slope == int(slope) and intercept == int(intercept)
    return pixels.astype(np.float32) * slope + intercept, integral


def _pixel_spacing(ds: pydicom.Dataset, source: str) -> tuple[float, float]:
    spacing = ds.get("PixelSpacing")
    if spacing is None or len(spacing) != 2:
        raise IngestError(source, "has no PixelSpacing, so nothing can be measured in millimetres")
    return float(spacing[0]), float(spacing[1])


def _series_meta(members: list[_Slice], keep_phi: bool, basis: str) -> dict:
    ds = members[0].ds
    keywords = SAFE_KEYWORDS + (PHI_SHOWN_WITH_CONSENT if keep_phi else ())
    meta = {"format": "dicom", "sort_basis": basis}
    for kw in keywords:
        value = ds.get(kw)
        if value is None or value == "":
            continue
        meta[kw] = _plain(value)
    spacing = ds.get("PixelSpacing")
    if spacing is not None:
        meta["PixelSpacing"] = [float(v) for v in spacing]
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None:
        meta["TransferSyntax"] = syntax.name
    if members[0].set_aside:
        meta["set_aside"] = members[0].set_aside
    meta["deidentified"] = not keep_phi
    if not keep_phi:
        meta["DeidentificationMethod"] = METHOD
    return meta


def _plain(value):
    """DICOM values as JSON-friendly Python values."""
    if isinstance(value, pydicom.multival.MultiValue):
        return [_plain(v) for v in value]
    if isinstance(value, (pydicom.valuerep.DSfloat, pydicom.valuerep.DSdecimal, float)):
        return float(value)
    if isinstance(value, (pydicom.valuerep.IS, int)):
        return int(value)
    return str(value)


def _build_multiframe(m: _Slice, source: str, limits: Limits, keep_phi: bool) -> Item:
    """Enhanced CT: one file, many frames, geometry in the functional group sequences."""
    ds = m.ds
    frames = int(ds.NumberOfFrames)
    if frames > limits.max_ct_slices:
        raise LimitExceeded(source, f"has {frames} frames; the limit is {limits.max_ct_slices}")
    try:
        pixels = ds.pixel_array.astype(np.float32)
    except Exception as exc:
        raise IngestError(source, f"pixel data cannot be decoded ({exc})") from None
    shared = ds.get("SharedFunctionalGroupsSequence", [pydicom.Dataset()])[0]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence", [])

    def group(attr: str, i: int):
        if i < len(per_frame) and attr in per_frame[i]:
            return per_frame[i].get(attr)[0]
        return shared.get(attr, [None])[0] if attr in shared else None

    measures = group("PixelMeasuresSequence", 0)
    orientation = group("PlaneOrientationSequence", 0)
    iop = orientation.ImageOrientationPatient if orientation is not None else None
    normal = _slice_normal(orientation) if orientation is not None else None
    positions = np.arange(frames, dtype=float)
    ipps = []
    for i in range(frames):
        plane = group("PlanePositionSequence", i)
        ipps.append([float(v) for v in plane.ImagePositionPatient] if plane is not None else None)
    if normal is not None and all(p is not None for p in ipps):
        positions = np.asarray(ipps) @ normal
    for i in range(frames):
        transform = group("PixelValueTransformationSequence", i)
        if transform is not None:
            pixels[i] = pixels[i] * float(transform.get("RescaleSlope", 1)) + \
                float(transform.get("RescaleIntercept", 0))
    order = np.argsort(positions, kind="stable")
    volume = pixels[order]
    positions = positions[order]
    spacing = float(np.median(np.diff(positions))) if frames > 1 else \
        float(getattr(measures, "SliceThickness", 1.0) or 1.0)
    if measures is None or "PixelSpacing" not in measures:
        raise IngestError(source, "has no PixelSpacing, so nothing can be measured in millimetres")
    item = Item(Modality.CT, source, volume, _series_meta([m], keep_phi, "multi-frame positions"))
    item.spacing_mm = (abs(spacing), float(measures.PixelSpacing[0]), float(measures.PixelSpacing[1]))
    item.orientation = tuple(float(v) for v in iop) if iop is not None else None
    first = ipps[int(order[0])]
    item.origin_mm = tuple(first) if first is not None else None
    item.arrays["slice_positions_mm"] = positions
    item.meta.update({"slices": frames, "rows": volume.shape[1], "columns": volume.shape[2],
                      "spacing_mm": [round(v, 4) for v in item.spacing_mm]})
    if "SliceThickness" in measures:
        item.meta["SliceThickness"] = float(measures.SliceThickness)
    return item


def _load_nifti(path: Path, source: str, limits: Limits) -> Item:
    """NIfTI volumes, reoriented to (slices, rows, cols) = (z, y, x); values taken as HU."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
        img = nib.as_closest_canonical(img)  # RAS+
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises ImageFileError, EOFError, zlib errors
        raise IngestError(source, f"is not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    return _volume_item(data, img.header.get_zooms()[:3], source, limits, "nifti", "NIfTI affine")


# NRRD's patient spaces, as the sign of each axis in RAS (LPS's x runs to the left, RAS's to the right)
_NRRD_SPACES = {"left-posterior-superior": (-1, -1, 1), "lps": (-1, -1, 1),
                "right-anterior-superior": (1, 1, 1), "ras": (1, 1, 1),
                "left-anterior-superior": (-1, 1, 1), "las": (-1, 1, 1)}


def _load_nrrd(path: Path, source: str, limits: Limits) -> Item:
    """NRRD volumes (3D Slicer's and ITK's format), read by pynrrd; their space directions and
    origin become a RAS affine, then the volume is reoriented as a NIfTI's is."""
    import nibabel as nib
    import nrrd

    try:
        data, header = nrrd.read(str(path))
    except Exception as exc:  # pynrrd raises NRRDError, zlib and EOF errors on damaged files
        raise IngestError(source, f"is not a readable NRRD file ({type(exc).__name__}: {exc})") from None
    if data.ndim != 3:
        raise IngestError(source, f"holds a {data.ndim}-D image; a 3-D CT volume is needed")
    space = str(header.get("space", "")).lower()
    directions = header.get("space directions")
    if space not in _NRRD_SPACES or directions is None:
        raise IngestError(source, f"gives no patient orientation R1-MM can read (space {space or 'missing'!r}); "
                                  f"needed: one of left-posterior-superior, right-anterior-superior, "
                                  f"left-anterior-superior with space directions")
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(directions, dtype=np.float64).T  # columns: each index axis's step in mm
    affine[:3, 3] = np.asarray(header.get("space origin", (0.0, 0.0, 0.0)), dtype=np.float64)
    affine[:3] *= np.asarray(_NRRD_SPACES[space], dtype=np.float64)[:, None]
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise IngestError(source, "has space directions that do not span three dimensions")
    img = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine))
    return _volume_item(np.asarray(img.dataobj, dtype=np.float32), img.header.get_zooms()[:3], source, limits,
                        "nrrd", "NRRD space directions")


def _volume_item(data: np.ndarray, zooms, source: str, limits: Limits, fmt: str, sort_basis: str) -> Item:
    """A CT item from a RAS+ (x, y, z) array and its voxel sizes in mm."""
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise IngestError(source, f"holds a {data.ndim}-D image; a 3-D CT volume is needed")
    if data.shape[2] > limits.max_ct_slices:
        raise LimitExceeded(source, f"has {data.shape[2]} slices; the limit is {limits.max_ct_slices}")
    # RAS (x, y, z) -> (z, y, x) with rows running anterior->posterior like DICOM's LPS display
    volume = np.ascontiguousarray(np.transpose(data, (2, 1, 0))[:, ::-1, ::-1])
    item = Item(Modality.CT, source, volume, {"format": fmt, "sort_basis": sort_basis})
    item.spacing_mm = (float(zooms[2]), float(zooms[1]), float(zooms[0]))
    item.orientation = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    item.arrays["slice_positions_mm"] = np.arange(volume.shape[0]) * item.spacing_mm[0]
    item.meta.update({"slices": volume.shape[0], "rows": volume.shape[1], "columns": volume.shape[2],
                      "spacing_mm": [round(v, 4) for v in item.spacing_mm], "deidentified": True})
    return item
