"""CT: real CT_small.dcm, phantom series (folder, zip, shuffled, compressed), de-identification."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from r1mm.errors import IngestError, LimitExceeded
from r1mm.ingest import Limits, load
from r1mm.ingest.deid import deidentify
from r1mm.cases.ct import write_dicom_series, zip_folder
from r1mm.types import Modality

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))


def test_real_ct_small_in_hounsfield_units():
    ds = pydicom.dcmread(CT_SMALL)
    (item,) = load(CT_SMALL)
    assert item.modality is Modality.CT and item.data.shape == (1, 128, 128)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(item.data[0], expected)
    assert item.spacing_mm[1:] == tuple(float(v) for v in ds.PixelSpacing)
    assert item.meta["SliceThickness"] == float(ds.SliceThickness)
    assert "PatientName" not in item.meta and item.meta["deidentified"] is True


def test_series_sorted_by_position_not_name_or_instance_number(small_series, small_phantom):
    ph, volume = small_phantom
    # file names and InstanceNumbers are shuffled by write_dicom_series
    (item,) = load(small_series)
    np.testing.assert_array_equal(item.data, volume)  # exact HU round trip, in slice order
    assert item.spacing_mm == pytest.approx(ph.spacing_mm)
    assert np.all(np.diff(item.arrays["slice_positions_mm"]) > 0)
    assert item.meta["sort_basis"].startswith("ImagePositionPatient")


def test_reversed_slice_direction_is_sorted_along_the_normal(tmp_path, small_phantom):
    """Feet-first IOP flips the normal: order follows IPP·normal, not raw z."""
    ph, volume = small_phantom
    folder = tmp_path / "ff"
    paths = write_dicom_series(volume, ph.spacing_mm, folder)
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.ImageOrientationPatient = [-1, 0, 0, 0, 1, 0]  # normal is -z
        ds.save_as(p)
    (item,) = load(folder)
    np.testing.assert_array_equal(item.data, volume[::-1])


def test_zip_of_series_equals_folder(tmp_path, small_series):
    zip_folder(small_series, tmp_path / "series.zip")
    (from_zip,) = load(tmp_path / "series.zip")
    (from_folder,) = load(small_series)
    np.testing.assert_array_equal(from_zip.data, from_folder.data)
    assert from_zip.source == "series.zip"


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.90"],
                         ids=["RLE lossless", "JPEG 2000 lossless"])
def test_compressed_transfer_syntaxes_are_decoded(tmp_path, small_phantom, syntax):
    ph, volume = small_phantom
    write_dicom_series(volume[:6], ph.spacing_mm, tmp_path / "c", transfer_syntax=syntax)
    (item,) = load(tmp_path / "c")
    np.testing.assert_array_equal(item.data, volume[:6])
    assert item.meta["TransferSyntax"] != "Explicit VR Little Endian"


def test_two_series_in_one_folder_stay_apart(tmp_path, small_phantom):
    ph, volume = small_phantom
    write_dicom_series(volume[:8], ph.spacing_mm, tmp_path / "both" / "a", seed=1, patient_id="A")
    write_dicom_series(volume[:5], ph.spacing_mm, tmp_path / "both" / "b", seed=2, patient_id="B")
    items = load(tmp_path / "both")
    assert sorted(i.data.shape[0] for i in items) == [5, 8]
    assert all("[series" in i.source for i in items)


def test_missing_slices_are_reported(tmp_path, small_series):
    files = sorted(small_series.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    for p in files[10:13]:
        p.unlink()
    with pytest.raises(IngestError, match=r"about 3 slice\(s\) missing between positions"):
        load(small_series)


def test_non_ct_modality_says_what_it_is():
    with pytest.raises(IngestError, match="modality MR, not CT"):
        load(get_testdata_file("MR_small.dcm"))


def test_truncated_dicom_is_reported(tmp_path):
    data = CT_SMALL.read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match="cut.dcm"):
        load(tmp_path / "cut.dcm")


def test_folder_without_dicom_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "readme.txt").write_text("not an image")
    with pytest.raises(IngestError, match="holds no DICOM files"):
        load(tmp_path / "d")


def test_slice_limit(small_series):
    with pytest.raises(LimitExceeded, match="has 32 slices; the limit is 10"):
        load(small_series, limits=Limits(max_ct_slices=10))


# ---- archives ------------------------------------------------------------------------

def test_zip_with_parent_paths_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../../etc/passwd.dcm", CT_SMALL.read_bytes())
    with pytest.raises(IngestError, match=r"evil.zip: member '../../etc/passwd.dcm' contains '\.\.'"):
        load(tmp_path / "evil.zip")


def test_zip_bomb_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("slice.dcm", b"\0" * (50 << 20))
    with pytest.raises(LimitExceeded, match="looks like a zip bomb"):
        load(tmp_path / "bomb.zip")


def test_zip_total_size_limit(tmp_path):
    with zipfile.ZipFile(tmp_path / "big.zip", "w", zipfile.ZIP_STORED) as zf:
        for k in range(3):
            zf.writestr(f"s{k}.dcm", np.random.default_rng(k).bytes(1 << 20))
    with pytest.raises(LimitExceeded, match="expands to 3 MB; the limit is 2 MB"):
        load(tmp_path / "big.zip", limits=Limits(max_unzipped_mb=2))


def test_zip_member_count_limit(tmp_path):
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as zf:
        for k in range(20):
            zf.writestr(f"{k}.dcm", b"x")
    with pytest.raises(LimitExceeded, match="holds 20 files; the limit is 10"):
        load(tmp_path / "many.zip", limits=Limits(max_files=10))


def test_corrupt_zip(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    with pytest.raises(IngestError, match="bad.zip"):
        load(tmp_path / "bad.zip")


# ---- de-identification -----------------------------------------------------------------

PHI_VALUES = ("DOE^JANE", "PID-0042", "19600101", "General Hospital", "SMITH^JOHN", "ACC123456")


_MARKED = {"PN": "PHI^MARK", "LO": "PHI-MARK", "SH": "PHI-MARK", "LT": "PHI-MARK", "ST": "PHI-MARK",
           "UT": "PHI-MARK", "UC": "PHI-MARK", "UR": "http://phi.example/mark", "CS": "PHIMARK", "AE": "PHIMARK",
           "DA": "19600101", "DT": "19600101120000", "TM": "120000", "AS": "042Y", "IS": "42", "DS": "42.0",
           "US": 42, "SS": 42, "UL": 42, "SL": 42, "FL": 42.0, "FD": 42.0, "OB": b"PHI-MARK", "OW": b"PHI-MARK",
           "UN": b"PHI-MARK"}


def _every_profile_attribute() -> tuple[pydicom.Dataset, dict]:
    """CT_small with every attribute of PS3.15 Table E.1-1 that has a plain VR, filled with a marker."""
    from pydicom.datadict import dictionary_VR

    from r1mm.ingest.deid import PROFILE

    ds = pydicom.dcmread(CT_SMALL)
    filled = {}
    for n, tag in enumerate(PROFILE):
        if tag.group in (0x0000, 0x0002):
            continue  # command and file meta groups: never in a stored dataset's body
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue
        if vr == "UI":
            value = f"1.2.826.0.1.3680043.8.498.{n + 1}"
        elif vr == "SQ":
            nested = pydicom.Dataset()
            nested.PatientName = "NESTED^PHI"
            value = pydicom.Sequence([nested])
        elif vr in _MARKED:
            value = _MARKED[vr]
        else:
            continue  # AT, "US or SS"…: no plain value to plant
        ds.add_new(tag, vr, value)
        filled[tag] = vr
    return ds, filled


def test_deidentify_applies_the_basic_profile_attribute_by_attribute():
    from r1mm.ingest.deid import PROFILE, TEMPORAL_VRS, action_for

    ds, filled = _every_profile_attribute()
    assert len(filled) > 550  # nearly all of the table's 652 attributes
    ds.add_new(0x00091001, "LO", "private vendor note")
    seq_item = pydicom.Dataset()
    seq_item.PatientName = "NESTED^NAME"
    ds.ReferencedImageSequence = pydicom.Sequence([seq_item])  # not in the table: kept, but scrubbed inside
    before = {tag: ds[tag].value for tag in filled}
    deidentify(ds)
    for tag, vr in filled.items():
        action = PROFILE[tag]
        keyword = pydicom.datadict.keyword_for_tag(tag)
        if vr == "UI" and "U" in action:
            assert str(ds[tag].value).startswith("2.25."), keyword
        elif vr in TEMPORAL_VRS and keyword not in ("PatientBirthDate", "PatientBirthTime"):
            assert ds[tag].value == before[tag], f"{keyword}: full dates are retained"
        elif action in ("Z", "Z/D"):
            assert tag in ds and not ds[tag].value, f"{keyword} ({action}) must be present and empty"
        else:
            assert tag not in ds, f"{keyword} ({action}) must be removed"
        assert action_for(ds[tag]) in (None, "uid", "empty") if tag in ds else True
    assert not any(elem.tag.is_private for elem in ds.iterall())
    assert ds.PatientIdentityRemoved == "YES" and len(ds.DeidentificationMethod) <= 64
    out = io.BytesIO()
    ds.save_as(out)  # still a valid dataset
    for marker in (b"PHI-MARK", b"PHI^MARK", b"PHIMARK", b"NESTED^NAME", b"NESTED^PHI", b"private vendor"):
        assert marker not in out.getvalue(), marker


def test_uids_are_replaced_stably_so_a_series_stays_together():
    a, b = pydicom.dcmread(CT_SMALL), pydicom.dcmread(CT_SMALL)
    original = a.SeriesInstanceUID
    deidentify(a)
    deidentify(b)
    assert a.SeriesInstanceUID == b.SeriesInstanceUID != original


def test_ingested_series_has_no_phi_unless_asked(small_series):
    (item,) = load(small_series)
    assert not any(v in str(item.meta) for v in PHI_VALUES)
    (kept,) = load(small_series, keep_phi=True)
    assert kept.meta["PatientName"] == "DOE^JANE" and kept.meta["deidentified"] is False


def test_nifti_volume(tmp_path):
    import nibabel as nib

    data = np.zeros((20, 30, 10), np.int16)  # x, y, z
    data[5, 7, 3] = 900
    affine = np.diag([0.8, 0.9, 2.5, 1.0])
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "vol.nii.gz")
    (item,) = load(tmp_path / "vol.nii.gz")
    assert item.data.shape == (10, 30, 20)
    assert item.spacing_mm == pytest.approx((2.5, 0.9, 0.8))
    assert item.data.max() == 900 and item.data[3].max() == 900


def test_nrrd_volume_is_oriented_as_the_same_nifti(tmp_path):
    import nibabel as nib
    import nrrd

    rng = np.random.default_rng(0)
    data = rng.integers(-1000, 1000, (20, 30, 10)).astype(np.int16)  # x, y, z; no symmetry to hide a flip
    nib.save(nib.Nifti1Image(data, np.diag([0.8, 0.9, 2.5, 1.0])), tmp_path / "vol.nii.gz")
    (reference,) = load(tmp_path / "vol.nii.gz")
    # the same voxels in 3D Slicer's usual LPS space (x and y steps negative) and in RAS
    nrrd.write(str(tmp_path / "lps.nrrd"), data, {"space": "left-posterior-superior",
                                                   "space directions": np.diag([-0.8, -0.9, 2.5])})
    nrrd.write(str(tmp_path / "ras.nrrd"), data, {"space": "right-anterior-superior",
                                                   "space directions": np.diag([0.8, 0.9, 2.5])})
    for name in ("lps.nrrd", "ras.nrrd"):
        (item,) = load(tmp_path / name)
        assert item.meta["format"] == "nrrd"
        assert item.spacing_mm == pytest.approx((2.5, 0.9, 0.8))
        np.testing.assert_array_equal(item.data, reference.data)
    # a patient's right in LPS is a step to the other side: the columns come out mirrored
    nrrd.write(str(tmp_path / "mirrored.nrrd"), data, {"space": "left-posterior-superior",
                                                        "space directions": np.diag([0.8, -0.9, 2.5])})
    (mirrored,) = load(tmp_path / "mirrored.nrrd")
    np.testing.assert_array_equal(mirrored.data, reference.data[:, :, ::-1])


def test_damaged_or_unoriented_nrrd_is_refused_with_its_reason(tmp_path):
    import nrrd

    data = np.zeros((8, 8, 4), np.int16)
    nrrd.write(str(tmp_path / "whole.nrrd"), data, {"space": "left-posterior-superior",
                                                     "space directions": np.diag([1.0, 1.0, 2.0])})
    raw = (tmp_path / "whole.nrrd").read_bytes()
    (tmp_path / "cut.nrrd").write_bytes(raw[: len(raw) - 40])
    with pytest.raises(IngestError, match=r"cut\.nrrd.*not a readable NRRD"):
        load(tmp_path / "cut.nrrd")
    nrrd.write(str(tmp_path / "bare.nrrd"), data, {"spacings": [1.0, 1.0, 2.0]})
    with pytest.raises(IngestError, match=r"bare\.nrrd.*no patient orientation"):
        load(tmp_path / "bare.nrrd")


def test_sample_series_zip_loads(samples, truth):
    (item,) = load(samples / "ct_phantom.zip")
    assert item.data.shape[0] == truth["ct"]["slices"]
    assert item.spacing_mm == pytest.approx(tuple(truth["ct"]["spacing_mm"]))
