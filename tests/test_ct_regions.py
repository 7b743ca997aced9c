"""CT of any body part: the region a volume covers is recognised from its HU values, only the
analyses that apply to it run, and findings never contradict each other."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from r1mm.analysis.body_region import coverage
from r1mm.analysis.medical import analyze
from r1mm.cases import regions
from r1mm.cases.ct import Phantom, phantom_volume, write_dicom_series
from r1mm.types import Item, Modality

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _item(volume: np.ndarray, spacing, orientation=AXIAL) -> Item:
    return Item(Modality.CT, "series", volume, {}, spacing_mm=tuple(spacing), orientation=orientation,
                origin_mm=(0.0, 0.0, 0.0))


@pytest.mark.parametrize("part,expected", [("head", "head"), ("abdomen", "abdomen"), ("pelvis", "pelvis"),
                                           ("thigh", "extremity")])
def test_each_phantom_is_recognised(part, expected):
    assert coverage(_item(getattr(regions, part)(), regions.SPACING_MM)).regions == [expected]


def test_the_chest_phantom_is_a_chest_even_acquired_sagittally():
    ph = Phantom(shape=(40, 160, 160))
    volume = phantom_volume(ph, supersample=1)
    assert coverage(_item(volume, ph.spacing_mm)).regions == ["chest"]
    # the same body stored as sagittal slices: rows along -z (feet), columns along +y
    sagittal = np.transpose(volume, (2, 0, 1))[:, ::-1, :]
    spacing = (ph.spacing_mm[2], ph.spacing_mm[0], ph.spacing_mm[1])
    assert coverage(_item(sagittal, spacing, orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0))).regions == ["chest"]


def test_a_head_ct_gets_no_lung_findings_and_says_why():
    findings = analyze(_item(regions.head(), regions.SPACING_MM))
    kinds = [f.kind for f in findings]
    assert "ct.nodule_count" not in kinds and not any(k.startswith("ct.lung_volume") for k in kinds)
    region = next(f for f in findings if f.kind == "ct.body_region")
    assert region.value == ["head"] and "head" in region.text
    absent = next(f for f in findings if f.kind == "ct.lungs_absent")
    assert "does not include the lungs" in absent.text
    bone = next(f for f in findings if f.kind == "ct.bone_volume")
    assert bone.value >= 0.5 and f"{bone.value:,.1f} mL" in bone.text  # a volume with slices is never "0 mL"


def test_questions_about_lungs_on_a_head_ct(tmp_path):
    from r1mm import Workspace

    write_dicom_series(regions.head(slices=20), regions.SPACING_MM, tmp_path / "head")
    ws = Workspace()
    assert ws.add(tmp_path / "head").ok
    for question in ("How large is the largest nodule?", "Are there any lung nodules?", "How big are the lungs?"):
        answer = ws.ask(question)
        assert "does not include the lungs" in answer.text, (question, answer.text)
    assert "head" in ws.ask("Which body part does this scan show?").text


def test_a_single_real_slice_gets_a_clear_note():
    from pydicom.data import get_testdata_file

    from r1mm.ingest import load

    (item,) = load(Path(get_testdata_file("CT_small.dcm")))
    findings = analyze(item)
    note = next(f for f in findings if f.kind == "ct.single_slice")
    assert "1 slice" in note.text
    assert not any(f.kind in ("ct.nodule_count", "ct.lungs_absent") for f in findings)


def test_rt_plan_and_dose_beside_a_series_are_set_aside_with_a_note(tmp_path):
    import shutil

    from pydicom.data import get_testdata_file

    from r1mm.ingest import load

    ph = Phantom(shape=(12, 96, 96))
    write_dicom_series(phantom_volume(ph, supersample=1), ph.spacing_mm, tmp_path / "study")
    for name in ("rtplan.dcm", "rtdose.dcm"):  # written by other software, shipped with pydicom
        shutil.copy(get_testdata_file(name), tmp_path / "study" / name)
    (item,) = load(tmp_path / "study")
    assert item.data.shape[0] == 12
    note = next(f for f in analyze(item) if f.kind == "ct.set_aside")
    assert "RTPLAN" in note.text and "RTDOSE" in note.text and "rtplan.dcm" in note.text
    only_rt = tmp_path / "rt"
    only_rt.mkdir()
    shutil.copy(get_testdata_file("rtplan.dcm"), only_rt / "rtplan.dcm")
    from r1mm.errors import IngestError

    with pytest.raises(IngestError, match=r"^rt: holds no CT images, only 1 RTPLAN object \(rtplan.dcm\)"):
        load(only_rt)
