"""CT findings: series metadata, the body region covered (`body_region.py`), body and lung masks,
lung nodule candidates in millimetres, bone.

Geometry follows the DICOM patient frame (LPS: +x towards the patient's left, +y posterior,
+z head). Every size is computed from the spacing tags, never from pixel counts alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from r1mm.analysis.lungs import AIR_TISSUE_HU, BONE_HU, ChestAnatomy, body_mask, chest_anatomy, voxel_to_patient
from r1mm.analysis.nodules import blob_peaks, density, masses, search_region, segment
from r1mm.types import Finding, Item, Locator

MIN_NODULE_MM = 3.0  # below this a candidate is noise or a micronodule, not reported
MASS_MM = 30.0  # lesions over 30 mm are called masses, not nodules
THIN_SLICE_MM = 2.5  # thicker slices miss small nodules (bench ct: planted at 5 mm); the count says so

WINDOWS = {  # (level, width) in HU
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}


@dataclass
class Nodule:
    diameter_mm: float  # Fleischner's average diameter: mean of the long and short axial axes
    long_axis_mm: float  # in the axial slice where the nodule is largest
    short_axis_mm: float
    volume_mm3: float
    mean_hu: float
    density: str  # "solid", "calcified" or "ground-glass"
    side: str  # "left" or "right" lung, in the patient's frame
    slices: tuple[int, int]  # first and last slice index (0-based, inclusive)
    centre_slice: int  # the axial slice the axes are measured in
    centre_mm: tuple[float, float, float]  # patient coordinates (LPS), mm
    bbox_mm: tuple[float, float, float, float]  # (x0, y0, x1, y1) on the centre slice, mm from the corner
    blob_hu: float  # the dot filter's score: how clearly round it is (nodules.py)


def window(volume: np.ndarray, level: float, width: float) -> np.ndarray:
    """HU -> uint8 grey levels for display with the given window."""
    lo, hi = level - width / 2, level + width / 2
    return (np.clip((volume.astype(np.float32) - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def analyze(item: Item) -> list[Finding]:
    """Metadata, the body region the volume covers, and the analyses that apply to that region:
    lungs and nodules only when the lungs are in the field of view."""
    from r1mm.analysis.body_region import coverage

    findings = metadata_findings(item)
    cover = coverage(item)
    first = cover.slices[cover.regions[0]] if cover.regions else (0, 0)
    findings.append(Finding("ct.body_region", cover.regions, None,
                            f"The series covers the {cover.describe()}, as recognised from the HU values of "
                            "each axial slice.", Locator(item.source, slice=(first[0] + first[1]) // 2)))
    if item.meta.get("set_aside"):
        findings.append(Finding("ct.set_aside", item.meta["set_aside"], None,
                                f"Beside this series the upload holds {item.meta['set_aside']}; they are not CT "
                                "images and were set aside (R1-MM analyses CT series).", Locator(item.source)))
    if item.data.shape[0] < 3:
        findings.append(Finding("ct.single_slice", int(item.data.shape[0]), "slices",
                                f"The series has {item.data.shape[0]} slice(s): volumes, lungs and nodules need a "
                                "stack of slices, so only the slice's details are reported.", Locator(item.source)))
        return findings
    body = body_mask(item.data)
    if cover.has_lungs:
        anatomy = chest_anatomy(item, body)
        findings += lung_findings(item, anatomy)
        findings += nodule_findings(item, find_nodules(item, anatomy))
    else:
        covered = " and ".join(cover.regions) or "no recognisable body part"
        findings.append(Finding("ct.lungs_absent", covered, None,
                                f"This series does not include the lungs (it covers the {covered}); lung volumes "
                                "and lung nodules were not measured.", Locator(item.source)))
    findings += bone_findings(item, body)
    return findings


def lung_findings(item: Item, anatomy: ChestAnatomy) -> list[Finding]:
    """Each lung's volume (the patient's left and right), with the vessels and other structures it
    encloses; the airways found and left out."""
    voxel_ml = float(np.prod(item.spacing_mm)) / 1000.0
    out = []
    if anatomy.airways is not None:
        zz = np.flatnonzero(anatomy.airways.any(axis=(1, 2)))
        ml = float(anatomy.airways.sum()) * voxel_ml
        out.append(Finding("ct.airways", round(ml, 1), "mL",
                           f"Trachea and main bronchi found (lumen {ml:,.1f} mL, slices {zz.min() + 1}–{zz.max() + 1}); "
                           "they are not counted in the lung volumes.",
                           Locator(item.source, slice=int(zz[len(zz) // 2]))))
    for lung in anatomy.lungs:
        zz, yy, xx = np.nonzero(lung.filled)
        ml = float(zz.size) * voxel_ml
        aerated_ml = float(lung.aerated.sum()) * voxel_ml
        centre = round(float(zz.mean()))
        ys, xs = yy[zz == centre], xx[zz == centre]
        _, dy, dx = item.spacing_mm
        bbox = (float(xs.min() * dx), float(ys.min() * dy), float((xs.max() + 1) * dx), float((ys.max() + 1) * dy)) \
            if xs.size else None
        name = "The two lungs together" if lung.side == "both" else f"The {lung.side} lung"
        both = lung.side == "both"
        text = (f"{name} measure{'' if both else 's'} {ml:,.0f} mL, the vessels and other structures "
                f"{'they enclose' if both else 'it encloses'} included ({aerated_ml:,.0f} mL of it aerated, below "
                f"{AIR_TISSUE_HU:.0f} HU), slices {zz.min() + 1}–{zz.max() + 1}.")
        if both:
            text += f" No volume per side: {anatomy.note}."
        out.append(Finding(f"ct.lung_volume_{lung.side}", round(ml, 1), "mL", text,
                           Locator(item.source, slice=centre, bbox_mm=bbox)))
    return out


MIN_BONE_ML = 0.5  # less rounds to "0 mL", which would contradict the slices it was found on


def bone_findings(item: Item, body: np.ndarray | None = None) -> list[Finding]:
    """Bone volume (≥300 HU inside the body) and the slices it spans; nothing below half a mL."""
    voxel_ml = float(np.prod(item.spacing_mm)) / 1000.0
    body = body_mask(item.data) if body is None else body
    bone = (item.data >= BONE_HU) & body
    ml = float(bone.sum()) * voxel_ml
    if ml < MIN_BONE_ML:
        return []
    zz = np.flatnonzero(bone.any(axis=(1, 2)))
    return [Finding("ct.bone_volume", round(ml, 1), "mL",
                    f"Bone (≥{BONE_HU:.0f} HU): {ml:,.1f} mL, on slices {zz.min() + 1}–{zz.max() + 1}.",
                    Locator(item.source, slice=int(zz[len(zz) // 2])))]


def metadata_findings(item: Item) -> list[Finding]:
    m, src = item.meta, item.source
    loc = Locator(src)
    out = []
    dz, dy, dx = item.spacing_mm
    slices = item.data.shape[0]
    thickness = float(m.get("SliceThickness") or dz)
    out.append(Finding("ct.slice_thickness", round(thickness, 3), "mm",
                       f"Slice thickness is {thickness:g} mm (slice spacing {dz:.3g} mm).", loc))
    out.append(Finding("ct.pixel_spacing", round(dx, 4), "mm",
                       f"Pixel spacing is {dy:.4g} × {dx:.4g} mm (rows × columns).", loc))
    out.append(Finding("ct.slices", slices, "slices",
                       f"The series has {slices} slices of {item.data.shape[1]}×{item.data.shape[2]} pixels.",
                       loc))
    extent = (slices * dz, item.data.shape[1] * dy, item.data.shape[2] * dx)
    out.append(Finding("ct.extent", round(extent[0], 1), "mm",
                       f"The volume covers {extent[2]:.0f} × {extent[1]:.0f} × {extent[0]:.0f} mm "
                       "(left–right × front–back × head–feet).", loc))
    for key, kind, label in (("Modality", "ct.modality", "Modality"),
                             ("StudyDate", "ct.study_date", "Study date"),
                             ("BodyPartExamined", "ct.body_part", "Body part examined"),
                             ("ManufacturerModelName", "ct.scanner", "Scanner"),
                             ("KVP", "ct.kvp", "Tube voltage"),
                             ("ConvolutionKernel", "ct.kernel", "Reconstruction kernel")):
        if key in m:
            value = m[key]
            if key == "StudyDate" and len(str(value)) == 8:
                value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
            if key == "ManufacturerModelName" and "Manufacturer" in m:
                value = f"{m['Manufacturer']} {value}"
            unit = "kV" if key == "KVP" else None
            out.append(Finding(kind, value, unit, f"{label}: {value}{' kV' if unit else ''}.", loc))
    return out


def find_nodules(item: Item, anatomy: ChestAnatomy | None = None) -> list[Nodule]:
    """Round dense structures inside the lungs, 3 mm or more, told from vessels by shape, and
    masses over MASS_MM in the bays they cut into the lungs (`nodules.py`), largest first."""
    volume = item.data
    anatomy = chest_anatomy(item) if anatomy is None else anatomy
    if not anatomy.lungs:
        return []
    inside = anatomy.filled
    region = search_region([lung.filled for lung in anatomy.lungs], item.spacing_mm)
    dense = region & ~anatomy.aerated & (volume >= AIR_TISSUE_HU)
    taken = np.zeros(volume.shape, bool)
    blobs = []
    for peak in blob_peaks(volume, item.spacing_mm, region, dense, inside, anatomy.airways):
        if taken[peak.voxel]:
            continue
        blob = segment(volume, item.spacing_mm, dense, peak)
        if blob is None or taken[blob.voxels].mean() > 0.5:
            continue  # a second peak of a nodule already measured
        taken[blob.voxels] = True
        blobs.append(blob)
    for blob in masses(volume, item.spacing_mm, [lung.filled for lung in anatomy.lungs], anatomy.aerated,
                       anatomy.airways):
        if blob.diameter_mm > MASS_MM and taken[blob.voxels].mean() <= 0.5:  # smaller: the dot filter's
            taken[blob.voxels] = True
            blobs.append(blob)
    found = [_measured(item, anatomy, blob) for blob in blobs if blob.diameter_mm >= MIN_NODULE_MM]
    found.sort(key=lambda nod: nod.diameter_mm, reverse=True)
    return found


def _measured(item: Item, anatomy: ChestAnatomy, blob) -> Nodule:
    """A segmented nodule or mass as the findings report it, in mm and HU."""
    dz, dy, dx = item.spacing_mm
    zz, yy, xx = blob.voxels
    on_slice = zz == blob.axial_slice
    ys, xs = yy[on_slice], xx[on_slice]
    centre = voxel_to_patient(item, zz.mean(), yy.mean(), xx.mean())
    side = _side_of(anatomy, zz, yy, xx) or ("left" if centre[0] > anatomy.midline_x_mm else "right")
    mean_hu = float(item.data[zz, yy, xx].mean())
    return Nodule(
        diameter_mm=blob.diameter_mm, long_axis_mm=blob.long_axis_mm, short_axis_mm=blob.short_axis_mm,
        volume_mm3=float(zz.size * dz * dy * dx), mean_hu=mean_hu, density=density(mean_hu), side=side,
        slices=(int(zz.min()), int(zz.max())), centre_slice=blob.axial_slice, centre_mm=centre,
        bbox_mm=(float(xs.min() * dx), float(ys.min() * dy), float((xs.max() + 1) * dx), float((ys.max() + 1) * dy)),
        blob_hu=blob.peak.dot_hu)


def _side_of(anatomy: ChestAnatomy, zz, yy, xx) -> str | None:
    """The lung that encloses most of these voxels, when the lungs were told apart."""
    inside = {lung.side: int(lung.filled[zz, yy, xx].sum()) for lung in anatomy.lungs if lung.side != "both"}
    return max(inside, key=inside.get) if inside and max(inside.values()) > 0 else None


def nodule_findings(item: Item, nodules: list[Nodule]) -> list[Finding]:
    src = item.source
    n_nod = sum(1 for nod in nodules if nod.diameter_mm <= MASS_MM)
    n_mass = len(nodules) - n_nod
    sides = {s: sum(1 for nod in nodules if nod.side == s) for s in ("right", "left")}
    summary = (f"{n_nod} lung nodule{'s' if n_nod != 1 else ''}"
               + (f" and {n_mass} mass{'es' if n_mass != 1 else ''} (over {MASS_MM:g} mm)" if n_mass else "")
               + " found"
               + (f" ({sides['right']} in the right lung, {sides['left']} in the left)" if nodules else "")
               + f"; round structures told from vessels by shape, candidates under {MIN_NODULE_MM:g} mm are not reported."
               + (f" The slices are {item.spacing_mm[0]:g} mm thick: nodules under about 10 mm may be missed (at 5 mm "
                  f"slices a third of planted 6-20 mm nodules were), so none found here does not rule one out."
                  if item.spacing_mm[0] > THIN_SLICE_MM else ""))
    out = [Finding("ct.nodule_count", n_nod, "nodules", summary, Locator(src))]
    for rank, nod in enumerate(nodules, start=1):
        kind = "nodule" if nod.diameter_mm <= MASS_MM else "mass"
        x, y, z = nod.centre_mm
        text = (f"{kind.capitalize()} {rank} in the {nod.side} lung: {nod.diameter_mm:.1f} mm diameter "
                f"(mean of the axial axes {nod.long_axis_mm:.1f} × {nod.short_axis_mm:.1f} mm), "
                f"{nod.density}, volume {nod.volume_mm3:.0f} mm³, mean {nod.mean_hu:.0f} HU, "
                f"slices {nod.slices[0] + 1}–{nod.slices[1] + 1}, centre at ({x:.1f}, {y:.1f}, {z:.1f}) mm (LPS).")
        loc = Locator(src, slice=nod.centre_slice, bbox_mm=tuple(round(v, 2) for v in nod.bbox_mm))
        out.append(Finding(f"ct.{kind}", round(nod.diameter_mm, 1), "mm", text, loc))
    return out
