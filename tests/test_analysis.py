"""Findings: nodules in mm on phantoms, report figures, dents, speech spans — checked against truth."""
from __future__ import annotations

import numpy as np
import pytest

from r1mm.analysis import analyze
from r1mm.analysis.finance import parse_number, report_unit
from r1mm.analysis.geometry import inspect_surfaces
from r1mm.analysis.medical import THIN_SLICE_MM, find_nodules, nodule_findings, window
from r1mm.analysis.speech import speech_segments
from r1mm.ingest import load
from r1mm.cases.ct import Phantom, PhantomNodule, phantom_volume, write_dicom_series
from r1mm.cases.parts import plate_with_dent


def test_sample_phantom_nodules_match_truth(samples, truth):
    (item,) = load(samples / "ct_phantom.zip")
    nodules = find_nodules(item)
    expected = sorted(truth["ct"]["nodules"], key=lambda n: n["diameter_mm"], reverse=True)
    assert len(nodules) == len(expected)
    for found, want in zip(nodules, expected):
        assert found.diameter_mm == pytest.approx(want["diameter_mm"], abs=1.5)
        assert found.side == want["side"]


@pytest.mark.parametrize("spacing", [(1.25, 0.7, 0.7), (5.0, 1.0, 1.0)], ids=["thin", "thick"])
def test_nodule_sizes_follow_spacing_tags(tmp_path, spacing):
    """The same physical nodules measured at two resolutions give the same sizes in mm."""
    dz, dy, dx = spacing
    extent = (100.0, 260.0, 300.0)  # mm: z, y, x
    ph = Phantom(shape=tuple(int(e / s) for e, s in zip(extent, spacing)), spacing_mm=spacing,
                 nodules=[PhantomNodule((100.0, 130.0, 50.0), 14.0), PhantomNodule((205.0, 120.0, 45.0), 9.0)])
    write_dicom_series(phantom_volume(ph), spacing, tmp_path / "s")
    (item,) = load(tmp_path / "s")
    nodules = find_nodules(item)
    assert nodules[0].side == "right" and nodules[0].diameter_mm == pytest.approx(14.0, abs=1.5)
    assert nodules[0].volume_mm3 == pytest.approx(np.pi / 6 * 14.0 ** 3, rel=0.3)
    if dz <= THIN_SLICE_MM:
        assert [n.side for n in nodules] == ["right", "left"]
        assert nodules[1].diameter_mm == pytest.approx(9.0, abs=1.5)
    else:
        # one 5 mm slice cuts the 9 mm sphere through its middle only: it scores as a disc (56 HU, under
        # DOT_MIN_HU, where real hilar vessels at 5 mm scored 68) and is missed; the count says so
        assert len(nodules) == 1
        (count,) = [f for f in nodule_findings(item, nodules) if f.kind == "ct.nodule_count"]
        assert "nodules under about 10 mm may be missed" in count.text


def test_nodule_finding_points_at_its_slice_and_region(small_series, small_phantom):
    ph, _ = small_phantom
    (item,) = load(small_series)
    findings = analyze(item)
    count = next(f for f in findings if f.kind == "ct.nodule_count")
    assert count.value == 2
    largest = next(f for f in findings if f.kind == "ct.nodule")
    z_true = ph.nodules[0].centre_mm[2] / ph.spacing_mm[0]
    assert abs(largest.locator.slice - z_true) <= 1.0
    x0, y0, x1, y1 = largest.locator.bbox_mm
    cx, cy = ph.nodules[0].centre_mm[:2]
    assert x0 < cx < x1 and y0 < cy < y1
    assert "right lung" in largest.text and largest.unit == "mm"


def test_no_nodules_in_clean_lungs(tmp_path):
    ph = Phantom(shape=(24, 96, 96), spacing_mm=(3.0, 3.0, 3.0), nodules=[])
    write_dicom_series(phantom_volume(ph), ph.spacing_mm, tmp_path / "clean")
    assert find_nodules(load(tmp_path / "clean")[0]) == []


def test_window_presets_map_hu_to_grey():
    hu = np.array([-1000, -600, 150, 2000])
    grey = window(hu, -600, 1500)
    assert grey[0] < grey[1] < grey[2] == grey[3] == 255


def test_report_figures_are_exact(samples, truth):
    (item,) = load(samples / "quarterly_report.pdf")
    findings = analyze(item)
    figures = {f.text.split(" (")[0]: f for f in findings
               if f.kind == "finance.figure" and truth["report"]["periods"][0] in f.text}
    for metric, want in truth["report"]["figures"].items():
        assert figures[metric].value == want["current"]
        assert figures[metric].unit == "USD millions"
        assert figures[metric].locator.page == 2 and figures[metric].locator.cell_bbox is not None
    change = next(f for f in findings if f.kind == "finance.change" and f.text.startswith("Net income"))
    ni = truth["report"]["figures"]["Net income"]
    assert change.value == pytest.approx(100 * (ni["current"] - ni["previous"]) / ni["previous"], abs=0.01)


@pytest.mark.parametrize("text,value", [("1,284.6", (1284.6, False)), ("(12.5)", (-12.5, False)),
                                        ("8.5%", (8.5, True)), ("$ 3,000", (3000.0, False)),
                                        ("(2.5) %", (-2.5, True)), ("(139.0)%", (-139.0, True)),
                                        ("Revenue", None), ("", None)])
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text,unit", [("(in millions of USD)", "USD millions"),
                                       ("€ thousands", "EUR thousands"),
                                       ("In millions of dollars, except per share", "USD millions")])
def test_report_unit(text, unit):
    assert report_unit(text) == unit


@pytest.mark.parametrize("depth,noise", [(1.5, 0.02), (0.5, 0.05), (0.3, 0.01)])
def test_dent_depth_within_a_tenth_of_a_millimetre(depth, noise):
    fit = inspect_surfaces(plate_with_dent(dent_depth=depth, noise=noise))
    assert len(fit.defects) == 1 and fit.defects[0].kind == "dent"
    assert fit.defects[0].depth == pytest.approx(depth, abs=0.1)
    assert fit.defects[0].centre[:2] == pytest.approx([40.0, 25.0], abs=2.0)
    assert fit.noise == pytest.approx(noise, rel=0.3)


def test_flat_plate_has_no_defects():
    assert inspect_surfaces(plate_with_dent(dent_depth=0.0, noise=0.02)).defects == []


def test_speech_segments_follow_the_spoken_turns(samples, truth):
    if "skipped" in truth["call"]:
        pytest.skip(truth["call"]["skipped"])
    (item,) = load(samples / "earnings_call.wav")
    segments = speech_segments(item.data, item.meta["sample_rate"])
    turns = truth["call"]["turns"]
    assert len(segments) == len(turns)
    for (start, end), turn in zip(segments, turns):
        assert start == pytest.approx(turn["start_s"], abs=0.5)
        assert end == pytest.approx(turn["end_s"], abs=0.5)


def test_eps_rows_keep_the_per_share_unit_and_get_a_change(tmp_path):
    from r1mm.cases.finance import write_report_pdf

    rows = [("Revenue", 500.0, 400.0), ("Net income", 50.0, 40.0), ("Diluted EPS", 1.25, 1.0)]
    write_report_pdf(tmp_path / "r.pdf", rows, ("FY2026", "FY2025"), number_format="{:,.2f}")
    findings = analyze(load(tmp_path / "r.pdf")[0])
    eps = next(f for f in findings if f.kind == "finance.figure" and f.text.startswith("Diluted EPS (FY2026)"))
    assert eps.value == 1.25 and eps.unit == "USD per share"
    change = next(f for f in findings if f.kind == "finance.change" and f.text.startswith("Diluted EPS"))
    assert change.value == pytest.approx(25.0)


def test_lung_volumes_per_side_and_bone(small_series, small_phantom):
    ph, _ = small_phantom
    (item,) = load(small_series)
    findings = {f.kind: f for f in analyze(item)}
    # each phantom lung is an ellipsoid with semi-axes 0.15 W, 0.25 H, 0.55 D (see samples.phantom_volume)
    w, h, d = (n * s for n, s in zip(ph.shape[::-1], ph.spacing_mm[::-1]))
    ellipsoid_ml = 4 / 3 * np.pi * (0.15 * w) * (0.25 * h) * (0.55 * d) / 1000
    for side in ("left", "right"):
        lung = findings[f"ct.lung_volume_{side}"]
        assert lung.unit == "mL" and lung.value == pytest.approx(ellipsoid_ml, rel=0.2)
    assert findings["ct.bone_volume"].value > 0


def test_a_vessel_through_the_lung_is_not_a_nodule(tmp_path):
    """A 4 mm vessel running through the lung is as dense as a nodule; only the round one counts."""
    ph = Phantom(shape=(48, 160, 190), spacing_mm=(2.0, 1.5, 1.5), nodules=[PhantomNodule((75.0, 130.0, 48.0), 10.0)])
    volume = phantom_volume(ph).astype(np.float32)
    z, y, x = np.meshgrid(*((np.arange(n) + 0.5) * s for n, s in zip(ph.shape, ph.spacing_mm)), indexing="ij")
    volume[((x - 210.0) ** 2 + (y - 110.0) ** 2 <= 2.0 ** 2) & (abs(z - 48.0) < 40)] = 40.0  # left lung, head-feet
    write_dicom_series(volume.astype(np.int16), ph.spacing_mm, tmp_path / "vessel")
    (nodule,) = find_nodules(load(tmp_path / "vessel")[0])
    assert nodule.diameter_mm == pytest.approx(10.0, abs=1.5) and nodule.side == "right"
