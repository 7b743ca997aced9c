"""Realistic sample inputs for every modality, with their ground truth.

`python -m r1mm samples DIR` writes them; the tests, the app's "try a sample" buttons and
the docs use them. Everything is generated (seeded), nothing is downloaded.
"""
from __future__ import annotations

import json
import random
import shutil
import subprocess
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

# ---- financial report -----------------------------------------------------------------

REPORT_ROWS = [  # metric, current quarter, same quarter last year (USD millions; EPS in USD)
    ("Revenue", 1284.6, 1102.3),
    ("Cost of revenue", 702.1, 633.9),
    ("Gross profit", 582.5, 468.4),
    ("Operating expenses", 341.2, 310.7),
    ("Operating income", 241.3, 157.7),
    ("Net income", 187.9, 121.4),
]
PERIODS = ("Q3 2026", "Q3 2025")

CALL_SCRIPT = [
    ("Operator", "Good afternoon and welcome to the Northwind Instruments third quarter twenty twenty six "
                 "earnings call."),
    ("CEO", "Thank you. Revenue for the quarter was one thousand two hundred eighty four million dollars, "
            "up sixteen percent from a year ago."),
    ("CEO", "Net income grew to one hundred eighty eight million dollars."),
    # planted contradiction: the report says 341.2
    ("CFO", "Operating expenses were three hundred twenty one million dollars. We see supply chain "
            "constraints and currency headwinds as the main risks for the fourth quarter."),
]
CALL_CONTRADICTIONS = ["operating expenses"]


def write_report_pdf(path: Path, rows=REPORT_ROWS, periods=PERIODS, company="Northwind Instruments",
                     unit_phrase: str = "(in millions of USD, unaudited)", number_format: str = "{:,.1f}",
                     intro_pages: int = 1) -> None:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, f"{company} - Quarterly Report {periods[0]}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, f"{company} designs and manufactures precision measurement instruments. "
                         f"This report presents unaudited results for the quarter ended September 30, 2026.")
    pdf.ln(2)
    pdf.multi_cell(0, 6, "Highlights: revenue grew on strong demand for metrology systems; gross margin "
                         "improved as component costs eased.")
    for _ in range(intro_pages - 1):
        pdf.add_page()
        pdf.multi_cell(0, 6, "Management discussion and analysis. " * 20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, "Condensed Consolidated Statement of Income", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 6, unit_phrase, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    with pdf.table(col_widths=(70, 40, 40), text_align=("LEFT", "RIGHT", "RIGHT")) as table:
        header = table.row()
        for title in ("Metric", *periods):
            header.cell(title)
        for metric, *values in rows:
            row = table.row()
            row.cell(metric)
            for v in values:
                row.cell(number_format.format(v) if v >= 0 else "(" + number_format.format(-v) + ")")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "Risk factors", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 6, "Our results depend on a limited number of suppliers; supply chain constraints could "
                         "delay shipments. Currency fluctuations affect reported revenue, as about 40% of sales "
                         "are outside the United States.")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))


def write_call_audio(path: Path, script=CALL_SCRIPT, words_per_minute: int = 160) -> list[dict]:
    """Speak the call with espeak-ng, one turn after another; returns the turns with their times."""
    import soundfile as sf

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng); it speaks the sample call")
    # one clear voice at three pitches: espeak's variants (+m3, +f3) are much harder to understand
    pitches = {"Operator": "50", "CEO": "30", "CFO": "75"}
    pieces, turns, t, rate = [], [], 0.0, 16000
    gap = np.zeros(int(0.6 * rate), np.float32)
    for speaker, text in script:
        wav = path.with_suffix(f".{len(turns)}.tmp.wav")
        subprocess.run([espeak, "-v", "en-us", "-p", pitches.get(speaker, "50"), "-s", str(words_per_minute),
                        "-w", str(wav), text], check=True, capture_output=True)
        samples, sr = sf.read(str(wav), dtype="float32")
        wav.unlink()
        if sr != rate:
            import librosa
            samples = librosa.resample(samples, orig_sr=sr, target_sr=rate)
        turns.append({"speaker": speaker, "text": text, "start_s": round(t, 2),
                      "end_s": round(t + len(samples) / rate, 2)})
        pieces += [samples, gap]
        t += (len(samples) + len(gap)) / rate
    sf.write(str(path), np.concatenate(pieces), rate, subtype="PCM_16")
    return turns


# ---- CT phantom -------------------------------------------------------------------------

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


# ---- point cloud ------------------------------------------------------------------------

def plate_with_dent(n_points: int = 60_000, size=(120.0, 80.0), dent_centre=(40.0, 25.0),
                    dent_radius: float = 8.0, dent_depth: float = 1.5, noise: float = 0.02,
                    seed: int = 0) -> np.ndarray:
    """The top face of a scanned plate (mm) with a spherical-cap dent, plus scanner noise."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform((0, 0), size, (n_points, 2))
    r = np.hypot(xy[:, 0] - dent_centre[0], xy[:, 1] - dent_centre[1])
    z = np.where(r < dent_radius, -dent_depth * (1 - (r / dent_radius) ** 2), 0.0) + 10.0
    z += rng.normal(0, noise, n_points)
    return np.column_stack([xy, z])


def write_ply(path: Path, points: np.ndarray, binary: bool = True, units: str | None = "mm",
              colors: np.ndarray | None = None) -> None:
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0"]
    if units:
        header.append(f"comment units {units}")
    header += [f"element vertex {len(points)}", "property float x", "property float y", "property float z"]
    if colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header.append("end_header")
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode())
        if binary:
            fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
            if colors is not None:
                fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
            rec = np.empty(len(points), dtype=fields)
            rec["x"], rec["y"], rec["z"] = points.T
            if colors is not None:
                rec["red"], rec["green"], rec["blue"] = colors.T
            fh.write(rec.tobytes())
        else:
            for p in points:
                fh.write(f"{p[0]:.5f} {p[1]:.5f} {p[2]:.5f}\n".encode())


# ---- chart image ------------------------------------------------------------------------

def write_chart(path: Path) -> None:
    """A bar chart of quarterly revenue, drawn with Pillow."""
    from PIL import Image, ImageDraw

    quarters = [("Q4 25", 1150.2), ("Q1 26", 1189.7), ("Q2 26", 1231.0), ("Q3 26", 1284.6)]
    img = Image.new("RGB", (640, 400), "white")
    draw = ImageDraw.Draw(img)
    draw.text((20, 12), "Revenue by quarter (USD millions)", fill="black")
    top = max(v for _, v in quarters)
    for i, (label, value) in enumerate(quarters):
        x0 = 70 + i * 140
        height = int(300 * value / top)
        draw.rectangle([x0, 360 - height, x0 + 80, 360], fill=(40, 90, 160))
        draw.text((x0 + 10, 365), label, fill="black")
        draw.text((x0 + 10, 345 - height), f"{value:,.1f}", fill="black")
    draw.line([60, 360, 620, 360], fill="black")
    img.save(path)


# ---- everything ---------------------------------------------------------------------------

def write_samples(out: Path) -> dict:
    """Write one sample per use case into `out`; returns (and writes) the ground truth."""
    out.mkdir(parents=True, exist_ok=True)
    truth: dict = {}
    write_report_pdf(out / "quarterly_report.pdf")
    truth["report"] = {"file": "quarterly_report.pdf", "unit": "USD millions", "periods": list(PERIODS),
                       "figures": {m: {"current": a, "previous": b} for m, a, b in REPORT_ROWS}}
    try:
        turns = write_call_audio(out / "earnings_call.wav")
        truth["call"] = {"file": "earnings_call.wav", "turns": turns, "contradictions": CALL_CONTRADICTIONS}
    except RuntimeError as exc:
        truth["call"] = {"skipped": str(exc)}
    ph = Phantom()
    volume = phantom_volume(ph)
    series = out / "ct_phantom"
    if series.exists():
        shutil.rmtree(series)
    write_dicom_series(volume, ph.spacing_mm, series)
    zip_folder(series, out / "ct_phantom.zip")
    shutil.rmtree(series)
    truth["ct"] = {"file": "ct_phantom.zip", "spacing_mm": list(ph.spacing_mm), "slices": ph.shape[0],
                   "nodules": [asdict(n) | {"side": "right" if n.centre_mm[0] < ph.shape[2] * ph.spacing_mm[2] / 2
                                            else "left"} for n in ph.nodules]}
    write_ply(out / "plate_scan.ply", plate_with_dent())
    truth["pointcloud"] = {"file": "plate_scan.ply", "units": "mm", "dent_depth": 1.5, "dent_centre": [40.0, 25.0],
                           "size": [120.0, 80.0]}
    write_chart(out / "revenue_chart.png")
    truth["image"] = {"file": "revenue_chart.png", "size": [640, 400]}
    (out / "truth.json").write_text(json.dumps(truth, indent=2))
    return truth
