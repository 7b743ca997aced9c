"""CT question answering on phantoms with known nodules, metadata on pydicom's CT_small, and lungs
on a real chest CT.

Each case is a chest phantom written as shuffled DICOM files (random spacing, thickness and
nodules), zipped, added to a fresh workspace and asked the clinician's questions; answers are
scored against the truth the phantom was built from. The real CT (`r1mm/cases/real_ct.py`) is asked
for each lung's volume as shipped and resampled to thicker slices and coarser pixels, scored
against TotalSegmentator's labels of the same scan; two other real CTs for their largest lesion,
scored against the lesion outlined by the people who shipped them.
"""
from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from r1mm.cases.ct import Phantom, PhantomNodule, nodule_side, phantom_volume, write_dicom_series, zip_folder
from r1mm.workspace import Workspace

SIZE_TOLERANCE_MM = 1.5


@dataclass
class Case:
    phantom: Phantom
    thickness_mm: float


def make_case(seed: int) -> Case:
    """A phantom with 0–4 nodules placed well inside the lungs, none touching another."""
    rng = random.Random(seed)
    dz = rng.choice([1.0, 1.25, 2.0, 2.5, 3.0, 5.0])
    dxy = rng.choice([0.6, 0.7, 0.8, 1.0, 1.2])
    shape = (int(160 / dz), int(280 / dxy), int(330 / dxy))
    extent = (shape[0] * dz, shape[1] * dxy, shape[2] * dxy)  # z, y, x in mm
    nodules: list[PhantomNodule] = []
    for _ in range(rng.randint(0, 4)):
        for _attempt in range(50):
            diameter = rng.uniform(max(5.0, 2.0 * dz), 20.0)
            side = rng.choice([-1, 1])
            # lung ellipsoid (see phantom_volume): centre x = W/2 ± 0.2 W, semi-axes 0.15 W, 0.25 H, 0.55 D
            u, v, w = (rng.uniform(-0.55, 0.55) for _ in range(3))
            if u * u + v * v + w * w > 0.55 ** 2:
                continue
            x = extent[2] / 2 + side * 0.2 * extent[2] + u * 0.15 * extent[2]
            y = extent[1] / 2 + v * 0.25 * extent[1]
            z = extent[0] / 2 + w * 0.55 * extent[0]
            if any(np.linalg.norm(np.subtract((x, y, z), n.centre_mm)) < (diameter + n.diameter_mm) / 2 + 6
                   for n in nodules):
                continue
            nodules.append(PhantomNodule((x, y, z), round(diameter, 1)))
            break
    return Case(Phantom(shape=shape, spacing_mm=(dz, dxy, dxy), nodules=nodules), dz)


def run_case(case: Case, seed: int, workdir: Path) -> list[tuple[str, bool, float | None]]:
    """(question, correct, size error in mm or None) for each question about one case."""
    ph = case.phantom
    folder = workdir / f"case{seed}"
    write_dicom_series(phantom_volume(ph), ph.spacing_mm, folder, seed=seed, patient_id=f"P{seed}")
    zip_path = workdir / f"case{seed}.zip"
    zip_folder(folder, zip_path)
    ws = Workspace()
    record = ws.add(zip_path)
    if not record.ok:
        return [("load", False, None)]
    results = []
    count = ws.ask("How many nodules are in the lungs?").evidence[0].finding.value
    results.append(("How many nodules are in the lungs?", count == len(ph.nodules), None))
    largest_answer = ws.ask("How large is the largest nodule and in which lung?")
    if ph.nodules:
        truth = max(ph.nodules, key=lambda n: n.diameter_mm)
        ev = largest_answer.evidence[0] if largest_answer.evidence else None
        got = ev.finding.value if ev and ev.finding and ev.finding.kind in ("ct.nodule", "ct.mass") else None
        err = None if got is None else abs(got - truth.diameter_mm)
        side_ok = ev is not None and f"{nodule_side(ph, truth)} lung" in ev.text
        results.append(("How large is the largest nodule and in which lung?",
                        err is not None and err <= SIZE_TOLERANCE_MM and side_ok, err))
        shown = ws.ask("Show me the slice with the largest nodule.")
        sl = shown.evidence[0].locator.slice if shown.evidence else None
        r = truth.diameter_mm / 2
        z_lo, z_hi = (truth.centre_mm[2] - r) / ph.spacing_mm[0], (truth.centre_mm[2] + r) / ph.spacing_mm[0]
        results.append(("Show me the slice with the largest nodule.", sl is not None and z_lo - 1 <= sl <= z_hi, None))
    thickness = ws.ask("What is the slice thickness?").evidence[0].finding.value
    results.append(("What is the slice thickness?", abs(thickness - case.thickness_mm) < 1e-6, None))
    slices = ws.ask("How many slices are there?").evidence[0].finding.value
    results.append(("How many slices are there?", slices == ph.shape[0], None))
    return results


def ct_small_metadata() -> list[tuple[str, bool, float | None]]:
    """Metadata questions on pydicom's real CT_small.dcm, checked against its own tags."""
    import pydicom
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    ws = Workspace()
    ws.add(path)

    def value(q: str):
        answer = ws.ask(q)
        return answer.evidence[0].finding.value if answer.evidence else None

    return [
        ("CT_small: slice thickness", value("What is the slice thickness?") == float(ds.SliceThickness), None),
        ("CT_small: pixel spacing", abs(value("What is the pixel spacing?") - float(ds.PixelSpacing[1])) < 1e-3,
         None),
        ("CT_small: number of slices", value("How many slices are there?") == 1, None),
        ("CT_small: modality", value("What is the modality?") == ds.Modality, None),
        ("CT_small: scanner", str(ds.ManufacturerModelName) in str(value("Which scanner was used?")), None),
        ("CT_small: study date", value("What is the study date?") ==
         f"{ds.StudyDate[:4]}-{ds.StudyDate[4:6]}-{ds.StudyDate[6:]}", None),
    ]


LUNG_VOLUME_TOLERANCE = 0.05  # issue 35's goal: each side within 5% of the labels

# The real scan as shipped and resampled, as other scanners' protocols would give it: (name, slices
# averaged in groups of, pixels averaged in squares of)
REAL_CT_VARIANTS = (("as shipped: 2.5 mm slices, 0.70 mm pixels", 1, 1),
                    ("5 mm slices (pairs averaged)", 2, 1),
                    ("1.4 mm pixels (2 x 2 averaged)", 1, 2))


def _resampled_nifti(source: Path, target: Path, slices: int, pixels: int) -> Path:
    """The NIfTI with groups of slices and squares of pixels averaged, its affine scaled to match."""
    import nibabel as nib

    img = nib.load(str(source))
    data = np.asarray(img.dataobj, dtype=np.float32)
    nx, ny, nz = (n - n % k for n, k in zip(data.shape, (pixels, pixels, slices)))
    data = data[:nx, :ny, :nz].reshape(nx // pixels, pixels, ny // pixels, pixels, nz // slices, slices)
    affine = img.affine.copy()
    affine[:3, :3] = affine[:3, :3] @ np.diag([pixels, pixels, slices])
    nib.save(nib.Nifti1Image(data.mean(axis=(1, 3, 5)).astype(np.int16), affine), str(target))
    return target


def real_scan() -> dict:
    """Each lung's volume asked of the real chest CT and its resamplings, through a workspace as a
    user would; right when the stated value is the asked side's and within 5% of its labels.
    Nodules reported are counted too: no nodule is labelled in this scan."""
    from tqdm import tqdm

    from r1mm.cases import real_ct

    scan = real_ct.scan_path()
    labels = real_ct.labels()
    truth = {"left": labels.volume_ml(real_ct.LEFT_LUNG), "right": labels.volume_ml(real_ct.RIGHT_LUNG)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-real-ct-") as tmp:
        for name, slices, pixels in tqdm(REAL_CT_VARIANTS, desc="real chest CT", unit="scan"):
            path = scan if slices == pixels == 1 else \
                _resampled_nifti(scan, Path(tmp) / f"cxr-{slices}-{pixels}.nii.gz", slices, pixels)
            ws = Workspace()
            t0 = time.perf_counter()
            ws.add(path)
            row = {"scan": name, "seconds": round(time.perf_counter() - t0, 1)}
            for side in ("left", "right"):
                answer = ws.ask(f"What is the volume of the {side} lung in mL?")
                finding = answer.evidence[0].finding if answer.evidence else None
                stated = finding.value if finding and finding.kind == f"ct.lung_volume_{side}" else None
                error = None if stated is None else stated / truth[side] - 1
                row[side] = {"stated_ml": stated, "truth_ml": round(truth[side], 1),
                             "error_percent": None if error is None else round(100 * error, 2),
                             "right": error is not None and abs(error) <= LUNG_VOLUME_TOLERANCE}
            count = ws.ask("How many lung nodules are there?")
            row["nodules_reported"] = count.evidence[0].finding.value if count.evidence else None
            rows.append(row)
    right = sum(row[side]["right"] for row in rows for side in ("left", "right"))
    return {"source": real_ct.SOURCE, "lung_volumes_right": f"{right}/{2 * len(rows)}", "scans": rows}


# A reported size is right within 2 mm or 15% of the outlined lesion's, whichever is larger (readers of
# one scan differ by about that on nodules of 5-20 mm and by 10-15% on masses); set before the scans
# below were run, like every other figure of `labelled_lesions`.
LESION_SIZE_TOLERANCE = (2.0, 0.15)
ON_LESION_MM = 3.0  # the shown outline's centre this close to the outlined lesion (in its slice) is on it


def labelled_lesions() -> dict:
    """Real chest CTs with one lesion outlined by others (`real_ct.lesion_scans`), held out: each
    read through a workspace and asked for the largest lesion and its lung, as a user would.

    Right when the answer's evidence is a nodule or mass shown on the outlined lesion's slices with
    its outline centred on the lesion, on the right side, its size (Fleischner's mean axial
    diameter) within LESION_SIZE_TOLERANCE of the outline's. Refused: no nodule or mass reported.
    Wrong shown: any other answer (another place named the largest lesion, or the lesion measured
    or sided wrong). Whether the outlined lesion is among all those reported is counted apart;
    the others are listed: they are not outlined, so not known to be wrong."""
    from tqdm import tqdm

    from r1mm.analysis.medical import MASS_MM
    from r1mm.cases import real_ct
    from r1mm.ingest import load

    rows = []
    for scan in tqdm(real_ct.lesion_scans(), desc="outlined real lesions", unit="scan"):
        (outline,) = load(scan.label)
        lesion = outline.data > 0
        truth = outlined_size(lesion, outline.spacing_mm)
        ws = Workspace()
        t0 = time.perf_counter()
        ws.add(scan.image)
        seconds = time.perf_counter() - t0
        answer = ws.ask("How large is the largest nodule and in which lung?")
        ev = answer.evidence[0] if answer.evidence else None
        finding = ev.finding if ev and ev.finding and ev.finding.kind in ("ct.nodule", "ct.mass") else None
        on_lesion = finding is not None and _shown_on(lesion, outline.spacing_mm, ev.locator)
        stated = finding.value if finding else None
        tolerance = max(LESION_SIZE_TOLERANCE[0], LESION_SIZE_TOLERANCE[1] * truth["diameter_mm"])
        size_ok = stated is not None and abs(stated - truth["diameter_mm"]) <= tolerance
        side_ok = finding is not None and f"{scan.side} lung" in finding.text
        kind_ok = finding is not None and finding.kind == ("ct.mass" if truth["diameter_mm"] > MASS_MM else "ct.nodule")
        verdict = "refused" if finding is None else "right" if on_lesion and size_ok and side_ok else "wrong"
        reported = [f for f in ws.findings() if f.kind in ("ct.nodule", "ct.mass")]
        found = [f for f in reported if _shown_on(lesion, outline.spacing_mm, f.locator)]
        rows.append({"scan": scan.name, "outlined": f"{scan.side} {scan.lobe} lobe, {truth['diameter_mm']:.1f} mm "
                                                   f"({truth['long_axis_mm']:.1f} x {truth['short_axis_mm']:.1f}), "
                                                   f"{truth['volume_ml']:.1f} mL, slices {truth['slices']}",
                     "answer": answer.text[:300], "stated_mm": stated, "verdict": verdict, "on_lesion": on_lesion,
                     "size_right": size_ok, "side_right": side_ok, "called_nodule_or_mass_right": kind_ok,
                     "outlined_lesion_reported": [f"{f.text.split(':')[0]}: {f.value} mm" for f in found],
                     "others_reported": [f"{f.text.split(':')[0]}: {f.value} mm" for f in reported if f not in found],
                     "seconds_to_read": round(seconds, 1)})
    return {"source": real_ct.LESIONS_SOURCE,
            "right": sum(r["verdict"] == "right" for r in rows), "refused": sum(r["verdict"] == "refused" for r in rows),
            "wrong_shown": sum(r["verdict"] == "wrong" for r in rows), "of": len(rows),
            "outlined_lesion_reported": sum(bool(r["outlined_lesion_reported"]) for r in rows), "scans": rows}


def outlined_size(mask: np.ndarray, spacing_mm: tuple[float, float, float]) -> dict:
    """The outlined lesion measured as Fleischner asks, on the axial slice where it is largest:
    long axis (largest Feret diameter) and short axis (largest width perpendicular to it); their
    mean is the diameter. Computed from the outline's pixel corners, independent of `nodules.py`."""
    from scipy.spatial import ConvexHull
    from scipy.spatial.distance import pdist, squareform

    dz, dy, dx = spacing_mm
    zs = np.flatnonzero(mask.any(axis=(1, 2)))
    largest = int(max(zs, key=lambda z: mask[z].sum()))
    ys, xs = np.nonzero(mask[largest])
    corners = np.concatenate([np.stack([(xs + a) * dx, (ys + b) * dy], axis=1) for a in (0, 1) for b in (0, 1)])
    hull = corners[ConvexHull(corners).vertices]
    distance = squareform(pdist(hull))
    i, j = np.unravel_index(np.argmax(distance), distance.shape)
    along = (hull[j] - hull[i]) / distance[i, j]
    across = hull @ np.array([-along[1], along[0]])
    long_axis, short_axis = float(distance[i, j]), float(across.max() - across.min())
    return {"diameter_mm": (long_axis + short_axis) / 2, "long_axis_mm": long_axis, "short_axis_mm": short_axis,
            "volume_ml": float(mask.sum()) * dz * dy * dx / 1000.0, "largest_slice": largest,
            "slices": f"{zs.min() + 1}-{zs.max() + 1}"}


def _shown_on(mask: np.ndarray, spacing_mm: tuple[float, float, float], locator) -> bool:
    """Whether the slice and outline an answer shows lie on the outlined lesion: the slice is one
    of its slices and the outline's centre within ON_LESION_MM of it on that slice."""
    from scipy import ndimage

    if locator.slice is None or locator.bbox_mm is None or not 0 <= locator.slice < mask.shape[0] \
            or not mask[locator.slice].any():
        return False
    _, dy, dx = spacing_mm
    x0, y0, x1, y1 = locator.bbox_mm
    row, col = int((y0 + y1) / 2 / dy), int((x0 + x1) / 2 / dx)
    distance = ndimage.distance_transform_edt(~mask[locator.slice], sampling=(dy, dx))
    return bool(0 <= row < mask.shape[1] and 0 <= col < mask.shape[2] and distance[row, col] <= ON_LESION_MM)


PLANTED_DIAMETERS_MM = (4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0)
DEV_SEEDS = (1, 2)  # planted sets the nodule detector's limits were set on
# Each round of changes to the detector gets new held-out seeds, looked at once its limits are fixed:
# seeds 3-6 held out the first version (limits on the chest wall apart), 7-10 the second (the hilum
# left out instead), 11-14 the third (masses in the lungs' bays; one blob limit at every slice
# thickness); 7-10 are reported again, no longer held out
EARLIER_HELD_OUT_SEEDS = (7, 8, 9, 10)
HELD_OUT_SEEDS = (11, 12, 13, 14)
SENSITIVITY_FROM_MM = 6.0  # issue 35's goal: 90% of planted nodules of 6 mm or more found
KNOWN_LESION_REACH_MM = 15.0  # a reported nodule this close to the scan's own lesion is that lesion


def planted_nodules(seeds: tuple[int, ...], average_slices: int = 1) -> dict:
    """Nodules planted into the real scan's lungs (`cases/lesions.py`: spheres and lobulated, free,
    on a vessel, on the chest wall) and looked for with `find_nodules`; a planted nodule is found
    when a reported one's centre lies within its radius (4 mm at least). Size error on spheres:
    the reported diameter (Fleischner's axial mean) against the sphere's. `average_slices`: groups
    of slices averaged after planting, as a thick-slice reconstruction of the same scan."""
    from tqdm import tqdm

    from r1mm.analysis.lungs import AIR_TISSUE_HU, chest_anatomy
    from r1mm.analysis.medical import find_nodules
    from r1mm.cases import lesions, real_ct
    from r1mm.ingest import load

    (scan,) = load(real_ct.scan_path())

    def real_lesion(nodule) -> bool:  # the scan's own lesion: neither planted nor a false positive
        return any(np.linalg.norm(np.asarray(nodule.centre_mm) - where) <= KNOWN_LESION_REACH_MM for where in known)

    anatomy = chest_anatomy(scan)
    thick = _thicker(scan, scan.data, average_slices)
    known = [np.asarray(_patient_mm(thick, lesion, average_slices)) for lesion in real_ct.KNOWN_LESIONS]
    unplanted = find_nodules(thick, anatomy if average_slices == 1 else None)
    lungs = anatomy.filled
    dense = lungs & ~anatomy.aerated & (scan.data >= AIR_TISSUE_HU)
    found: dict[str, list[bool]] = {}
    size_errors, false_positives = [], []
    for seed in tqdm(seeds, desc=f"planted nodules, {scan.spacing_mm[0] * average_slices:g} mm slices", unit="scan"):
        volume, planted = lesions.plant(scan.data, scan.spacing_mm, lungs, dense, seed=seed,
                                        diameters_mm=PLANTED_DIAMETERS_MM)
        item = _thicker(scan, volume, average_slices)
        reported = find_nodules(item)
        matched = set()
        for nodule in planted:
            where = np.asarray(_patient_mm(item, nodule.centre, average_slices))
            near = [k for k, r in enumerate(reported)
                    if np.linalg.norm(np.asarray(r.centre_mm) - where) <= max(nodule.diameter_mm / 2, 4.0)]
            ok = bool(near)
            matched.update(near)
            key = f"{'≥' if nodule.diameter_mm >= SENSITIVITY_FROM_MM else '<'}{SENSITIVITY_FROM_MM:g} mm, {nodule.place}"
            found.setdefault(key, []).append(ok)
            if ok and nodule.shape == "sphere":
                size_errors.append(abs(reported[near[0]].diameter_mm - nodule.diameter_mm))
        false_positives.append(sum(1 for k, r in enumerate(reported) if k not in matched and not real_lesion(r)))
    large = [ok for key, oks in found.items() if key.startswith("≥") for ok in oks]
    return {
        "seeds": list(seeds),
        "slice_mm": scan.spacing_mm[0] * average_slices,
        "found_6mm_or_more": f"{sum(large)}/{len(large)}",
        "found_by_size_and_place": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(found.items())},
        "size_error_mm_spheres": {"mean": round(float(np.mean(size_errors)), 2) if size_errors else None,
                                  "max": round(float(np.max(size_errors)), 2) if size_errors else None},
        "false_positives_per_planted_scan": false_positives,
        "unplanted_scan": {"its_lesion_found": any(real_lesion(r) for r in unplanted),
                           "false_positives": sum(1 for r in unplanted if not real_lesion(r)),
                           "reported": [f"{r.diameter_mm:.1f} mm {r.density}, {r.side} lung, slices "
                                        f"{r.slices[0] + 1}-{r.slices[1] + 1}" for r in unplanted]},
    }


def _thicker(scan, volume: np.ndarray, slices: int):
    """The scan with this volume, groups of `slices` slices averaged into one (a thick-slice
    reconstruction; the scan itself with the volume when `slices` is 1)."""
    import copy

    item = copy.copy(scan)
    n = volume.shape[0] - volume.shape[0] % slices
    item.data = volume if slices == 1 else \
        volume[:n].reshape(n // slices, slices, *volume.shape[1:]).mean(axis=1).round().astype(volume.dtype)
    item.spacing_mm = (scan.spacing_mm[0] * slices, *scan.spacing_mm[1:])
    return item


def _patient_mm(item, voxel, slices: int) -> tuple[float, float, float]:
    """A voxel of the thin-slice scan in the patient frame of its `slices`-times thicker `item`."""
    from r1mm.analysis.lungs import voxel_to_patient

    z, y, x = voxel
    return voxel_to_patient(item, (z - (slices - 1) / 2) / slices, y, x)


def run(cases: int = 20, seed: int = 0, planted: bool = True) -> dict:
    """The phantoms, CT_small, the real scan's lungs and, with `planted`, the real scans' outlined
    lesions and lesion insertion (14 real scans at about a minute each)."""
    from tqdm import tqdm

    results: list[tuple[str, bool, float | None]] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-ct-") as tmp:
        for k in tqdm(range(seed, seed + cases), desc="CT phantoms", unit="case"):
            results += run_case(make_case(k), k, Path(tmp))
    elapsed = time.perf_counter() - t0
    results += ct_small_metadata()
    by_question: dict[str, list[bool]] = {}
    for question, ok, _ in results:
        by_question.setdefault(question, []).append(ok)
    errors = [e for _, _, e in results if e is not None]
    result = {
        "cases": cases,
        "questions": len(results),
        "accuracy": sum(ok for _, ok, _ in results) / len(results),
        "per_question": {q: f"{sum(v)}/{len(v)}" for q, v in by_question.items()},
        "size_error_mm": {"mean": float(np.mean(errors)) if errors else None,
                          "max": float(np.max(errors)) if errors else None},
        "seconds_per_case": elapsed / max(cases, 1),
        "real_ct": real_scan(),
    }
    if planted:
        result.update({
            "real_ct_lesions": labelled_lesions(),
            "planted_dev": planted_nodules(DEV_SEEDS),
            "planted_earlier_held_out": planted_nodules(EARLIER_HELD_OUT_SEEDS),
            "planted_held_out": planted_nodules(HELD_OUT_SEEDS),
            "planted_held_out_5mm_slices": planted_nodules(HELD_OUT_SEEDS, average_slices=2),
        })
    return result
