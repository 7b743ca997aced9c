"""CT series: DICOM files, folders and archives, and NIfTI and NRRD volumes. Read into a de-identified HU
volume with its geometry in mm; analysed for lungs, nodules and bone; shown as the slice with the
region outlined. Uploads are not kept: DICOM files carry patient identifiers."""
from __future__ import annotations

import re
from pathlib import Path

from r1mm.modalities import Analysis, ModalitySpec, kinds, largest, loader, rule
from r1mm.modalities.storage import ARRAYS
from r1mm.types import Finding, Modality


def sniff(head: bytes, path: Path) -> str | None:
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "nifti"
    if head.startswith(b"\x1f\x8b") and path.name.lower().endswith(".nii.gz"):
        return "nifti"
    if head.startswith(b"NRRD000"):
        return "nrrd"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "dicom_zip"  # any ZIP that is not a document; the archive loader says what is wrong with it
    if path.suffix.lower() in (".dcm", ".ima", ".dicom") and head[:2] in (b"\x08\x00", b"\x02\x00"):
        return "dicom"  # old DICOM files start straight with group 0x0008 (or 0x0002) elements
    return None


def lung_volumes(question: str, findings: list[Finding]) -> list[Finding]:
    """The lung asked for ("the left lung"), else both; the two together when the sides could not
    be told apart."""
    volumes = [f for f in findings if f.kind.startswith("ct.lung_volume_")]
    asked = [side for side in ("left", "right") if re.search(rf"\b{side}\b", question.lower())]
    if len(asked) == 1:
        return [f for f in volumes if f.kind == f"ct.lung_volume_{asked[0]}"] or volumes
    return volumes


SPEC = ModalitySpec(
    modality=Modality.CT,
    name="CT series",
    formats={"dicom": "DICOM (file, folder or zip)", "dicom_zip": "DICOM (file, folder or zip)",
             "dicom_folder": "DICOM (file, folder or zip)", "nifti": "NIfTI", "nrrd": "NRRD"},
    sniff=sniff,
    load=loader("r1mm.ingest.dicom:load_ct", items_per_file="many"),
    analyses=(Analysis("CT", "r1mm.analysis.medical"),),
    storage=ARRAYS,
    view="r1mm.ui.evidence:show_ct",
    tower="ct",
    rules=(
        rule(35, r"\blungs?\b|nodules?|\bmass(es)?\b|pulmonary", kinds("ct.lungs_absent")),
        rule(40, r"how many (lung )?nodules|number of nodules|nodule count|any nodules?", kinds("ct.nodule_count")),
        rule(50, r"(largest|biggest|how (large|big)).*(nodule|lesion|mass)|(nodule|lesion|mass).*(size|large|big)|"
                 r"slice with.*nodule|which lung", largest("ct.nodule", "ct.mass")),
        rule(60, r"lung volume|how (big|large) (are|is) the lungs?|volume of the (left |right )?lungs?",
             lung_volumes),
        rule(65, r"trachea|airways?|bronch", kinds("ct.airways")),
        rule(70, r"\bbones?\b", kinds("ct.bone_volume")),
        rule(80, r"slice thickness|how thick", kinds("ct.slice_thickness")),
        rule(90, r"pixel spacing|in-plane resolution", kinds("ct.pixel_spacing")),
        rule(100, r"how many slices|number of slices", kinds("ct.slices")),
        rule(110, r"study date|when was .*(scan|study|taken|acquired)", kinds("ct.study_date")),
        rule(120, r"scanner|manufacturer", kinds("ct.scanner")),
        rule(125, r"body (part|region)|which (part|region)|what (part of the body|anatomy|region)|"
                  r"\b(head|chest|abdomen|pelvis|thorax|brain|skull|leg|arm|knee)\b.*\b(scan|series|ct|image)",
             kinds("ct.body_region", "ct.body_part")),
        rule(126, r"single slice|only one slice", kinds("ct.single_slice")),
        rule(140, r"\bmodality\b", kinds("ct.modality")),
    ),
    binary_suffixes={".dcm": "dicom", ".nii": "nifti", ".gz": "nifti", ".nrrd": "nrrd", ".zip": "zip"},
    uploads_carry_identifiers=True,
)
