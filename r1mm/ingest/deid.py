"""DICOM de-identification after PS3.15 Annex E, Basic Application Level Confidentiality Profile.

Options applied: Retain Longitudinal Temporal Information with Full Dates (study and series
dates stay, since clinicians ask for them; birth dates go) and Retain Safe Private (none are
kept: all private tags go). Every attribute of the profile's table is handled by its action:
removed (X, D and their combinations), emptied (Z) or, for UIDs, replaced by stable hashes so
that the slices of one series stay together.
"""
from __future__ import annotations

import hashlib

import pydicom
from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table

METHOD = "DICOM PS3.15 E.1 basic profile; retain longitudinal full dates; private tags removed"
METHOD_TAG = "R1MM PS3.15 basic profile, full dates kept"  # DeidentificationMethod is LO: 64 chars at most

# The profile's attribute table (PS3.15 Table E.1-1, 2026c, 654 attributes), as transcribed by
# Kitware's dicom-anonymizer (BSD-3): one list per action code.
_TABLE = table.__dict__
_ACTIONS = {"D": "D_TAGS", "Z": "Z_TAGS", "X": "X_TAGS", "U": "U_TAGS", "Z/D": "Z_D_TAGS", "X/Z": "X_Z_TAGS",
            "X/D": "X_D_TAGS", "X/Z/D": "X_Z_D_TAGS", "X/Z/U*": "X_Z_U_STAR_TAGS"}
PROFILE: dict[int, str] = {pydicom.tag.Tag(*entry): action
                           for action, name in _ACTIONS.items() for entry in _TABLE[name] if len(entry) == 2}
# Repeating groups (curves 50xx, overlays 60xx): (group, element, group mask, element mask, action)
MASKED: list[tuple[int, int, int, int, str]] = [(*entry, action) for action, name in _ACTIONS.items()
                                                for entry in _TABLE[name] if len(entry) == 4]

# Retain Longitudinal Temporal Information with Full Dates: dates and times stay (clinicians ask
# "when was this scan?"), except those that date the patient rather than the study.
TEMPORAL_VRS = frozenset({"DA", "DT", "TM"})
PATIENT_DATES = frozenset({pydicom.tag.Tag("PatientBirthDate"), pydicom.tag.Tag("PatientBirthTime")})


def action_for(elem: pydicom.DataElement) -> str | None:
    """What happens to an element: None (kept), "remove", "empty" or "uid" (replaced by a hash)."""
    action = PROFILE.get(elem.tag) or next(
        (a for group, element, gmask, emask, a in MASKED
         if elem.tag.group & gmask == group and elem.tag.element & emask == element), None)
    if action is None:
        return None
    if elem.VR == "UI" and "U" in action:
        return "uid"
    if elem.VR in TEMPORAL_VRS and elem.tag not in PATIENT_DATES:
        return None
    if action in ("Z", "Z/D"):
        return "empty"  # type 2: present, without a value
    return "remove"     # X, D and the combinations: removal is the strictest choice each allows


def hashed_uid(uid: str) -> str:
    """A stable replacement UID under the 2.25 (UUID-derived) root."""
    digest = hashlib.sha256(b"r1mm-deid:" + uid.encode()).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def deidentify(ds: pydicom.Dataset) -> None:
    """Remove identifying attributes in place, through nested sequences, and mark the dataset."""
    ds.remove_private_tags()

    def scrub(dataset: pydicom.Dataset, elem: pydicom.DataElement) -> None:
        action = action_for(elem)
        if action == "remove":
            del dataset[elem.tag]
        elif action == "empty":
            elem.value = pydicom.Sequence() if elem.VR == "SQ" else None
        elif action == "uid" and elem.value:
            elem.value = hashed_uid(str(elem.value))

    ds.walk(scrub)
    if hasattr(ds, "file_meta"):
        meta_uid = ds.file_meta.get("MediaStorageSOPInstanceUID")
        if meta_uid:
            ds.file_meta.MediaStorageSOPInstanceUID = hashed_uid(str(meta_uid))
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD_TAG
