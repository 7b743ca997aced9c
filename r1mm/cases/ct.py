"""Chest CT phantoms with nodules of known size and place, written as DICOM series with correct
geometry tags (shuffled file names, instance numbers out of order, as real exports come)."""
from __future__ import annotations

import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class PhantomNodule:
    centre_mm: tuple[float, float, float]  # (x, y, z) in the volume frame: mm from the first voxel's corner
    diameter_mm: float
    hu: float = 40.0


@dataclass
class Phantom:
    shape: tuple[int, int, int] = (64, 192, 192)  # slices, rows, columns
    spacing_mm: tuple[float, float, float] = (2.5, 1.8, 1.8)  # between slices, row, column
    nodules: list[PhantomNodule] = field(default_factory=lambda: [
        PhantomNodule((115.0, 150.0, 80.0), 12.0),  # image left half = patient right lung
        PhantomNodule((230.0, 160.0, 100.0), 8.0),  # patient left lung
        PhantomNodule((105.0, 170.0, 60.0), 6.0),   # patient right lung
    ])


def phantom_volume(ph: Phantom, supersample: int = 3) -> np.ndarray:
    """HU volume: air, a soft-tissue body, two lungs, a spine, and spherical nodules.

    Nodules are rendered with partial-volume averaging, as a scanner would blur their edges.
    """
    nz, ny, nx = ph.shape
    dz, dy, dx = ph.spacing_mm
    z = (np.arange(nz) + 0.5) * dz
    y = (np.arange(ny) + 0.5) * dy
    x = (np.arange(nx) + 0.5) * dx
    Z, Y, X = np.meshgrid(z, y, x, indexing="ij")
    cx, cy = nx * dx / 2, ny * dy / 2
    vol = np.full(ph.shape, -1000.0, np.float32)
    body = ((X - cx) / (0.45 * nx * dx)) ** 2 + ((Y - cy) / (0.36 * ny * dy)) ** 2 <= 1
    vol[body] = 40.0
    for side in (-1, 1):
        lung = ((X - (cx + side * 0.2 * nx * dx)) / (0.15 * nx * dx)) ** 2 + \
               ((Y - cy) / (0.25 * ny * dy)) ** 2 + ((Z - nz * dz / 2) / (0.55 * nz * dz)) ** 2 <= 1
        vol[lung] = -850.0
    spine = ((X - cx) / 12.0) ** 2 + ((Y - (cy + 0.25 * ny * dy)) / 12.0) ** 2 <= 1
    vol[spine] = 700.0
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    for nod in ph.nodules:
        r = nod.diameter_mm / 2
        (ncx, ncy, ncz) = nod.centre_mm
        lo = [int(max(0, (c - r) / s - 1)) for c, s in ((ncz, dz), (ncy, dy), (ncx, dx))]
        hi = [int(min(n, (c + r) / s + 2)) for c, s, n in ((ncz, dz, nz), (ncy, dy, ny), (ncx, dx, nx))]
        sub = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
        frac = np.zeros(vol[sub].shape, np.float32)
        for oz in offsets:
            for oy in offsets:
                for ox in offsets:
                    inside = ((X[sub] + ox * dx - ncx) ** 2 + (Y[sub] + oy * dy - ncy) ** 2 +
                              (Z[sub] + oz * dz - ncz) ** 2) <= r * r
                    frac += inside
        frac /= supersample ** 3
        vol[sub] = vol[sub] * (1 - frac) + nod.hu * frac
    return np.round(vol).astype(np.int16)


def write_dicom_series(volume: np.ndarray, spacing_mm, folder: Path, *, patient_name: str = "DOE^JANE",
                       patient_id: str = "PID-0042", series_uid: str | None = None, shuffle: bool = True,
                       origin_mm=(-172.8, -172.8, -300.0), seed: int = 0,
                       transfer_syntax: str | None = None) -> list[Path]:
    """One DICOM CT file per slice with correct geometry tags; file names in shuffled order.

    Stored values are HU + 1024 with RescaleIntercept -1024, as scanners write them.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    series_uid = series_uid or generate_uid(entropy_srcs=[f"series-{seed}-{patient_id}"])
    study_uid = generate_uid(entropy_srcs=[f"study-{seed}-{patient_id}"])
    frame_uid = generate_uid(entropy_srcs=[f"frame-{seed}-{patient_id}"])
    dz, dy, dx = spacing_mm
    order = list(range(volume.shape[0]))
    names = [f"IMG{i:04d}.dcm" for i in order]
    if shuffle:
        rng.shuffle(names)
    paths = []
    for z in order:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[f"{series_uid}-{z}"])
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = patient_name, patient_id, "19600101", "F"
        ds.InstitutionName, ds.ReferringPhysicianName = "General Hospital", "SMITH^JOHN"
        ds.AccessionNumber, ds.StudyID = "ACC123456", "STUDY7"
        ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "CT", "R1MM", "Phantom Scanner 1"
        ds.BodyPartExamined, ds.StudyDate, ds.SeriesDate = "CHEST", "20261015", "20261015"
        ds.KVP, ds.ConvolutionKernel, ds.PatientPosition = 120, "STANDARD", "FFS"
        ds.SeriesNumber, ds.InstanceNumber = 1, rng.randint(1, 10_000)  # deliberately not in slice order
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [origin_mm[0], origin_mm[1], origin_mm[2] + z * dz]
        ds.SliceLocation = origin_mm[2] + z * dz
        ds.SliceThickness, ds.PixelSpacing = dz, [dy, dx]
        ds.Rows, ds.Columns = volume.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = -600, 1500
        ds.PixelData = (volume[z].astype(np.int32) + 1024).clip(0, 65535).astype(np.uint16).tobytes()
        if transfer_syntax is not None:
            ds.compress(pydicom.uid.UID(transfer_syntax))
        path = folder / names[z]
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def zip_folder(folder: Path, zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder.parent))


def nodule_side(phantom: Phantom, nodule: PhantomNodule) -> str:
    """The patient's side of a nodule: the image's left half is the patient's right (LPS)."""
    return "right" if nodule.centre_mm[0] < phantom.shape[2] * phantom.spacing_mm[2] / 2 else "left"
