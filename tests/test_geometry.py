"""Part inspection: faces of boxes, cylinders, clean-up, downsampling, reference comparison."""
from __future__ import annotations

import numpy as np
import pytest

from r1mm.analysis.geometry import deviation_from_reference, inspect_surfaces, remove_outliers
from r1mm.bench.pointcloud import make_case, score
from r1mm.cases.parts import PlantedDefect, box, cylinder
from r1mm.points import voxel_downsample


def _noisy(points, sigma, seed=0):
    return points + np.random.default_rng(seed).normal(0, sigma, points.shape)


def test_box_dent_on_top_face_and_no_false_edges():
    rng = np.random.default_rng(1)
    pts, _ = box(80_000, rng, [PlantedDefect(np.array([50.0, 30.0, 0.0]), 8.0, 1.2)])
    fit = inspect_surfaces(_noisy(pts, 0.02))
    assert fit.description == "6 planar faces"
    assert [d.kind for d in fit.defects] == ["dent"]
    assert fit.defects[0].depth == pytest.approx(1.2, abs=0.1)
    assert fit.defects[0].centre == pytest.approx([50.0, 30.0, 40.0 - 1.2], abs=2.0)


def test_cylinder_bump_measured_radially():
    rng = np.random.default_rng(2)
    pts, _ = cylinder(60_000, rng, [PlantedDefect(np.array([10.0, 70.0, 0.0]), 8.0, -0.8)])
    fit = inspect_surfaces(_noisy(pts, 0.02))
    assert fit.description.startswith("a cylinder of radius 25")
    assert [d.kind for d in fit.defects] == ["bump"]
    assert fit.defects[0].depth == pytest.approx(0.8, abs=0.1)


def test_bench_cases_are_scored_correctly():
    for seed in range(6):
        result = score(make_case(seed, 40_000))
        assert result["fp"] == 0 and result["fn"] == 0, (seed, result)


def test_voxel_downsample_keeps_the_shape():
    rng = np.random.default_rng(3)
    pts = np.column_stack([rng.uniform(0, 100, 200_000), rng.uniform(0, 50, 200_000), np.zeros(200_000)])
    small = voxel_downsample(pts, 20_000)
    assert 10_000 <= len(small) <= 26_000
    assert np.ptp(small, axis=0)[:2] == pytest.approx([100, 50], abs=2)


def test_outliers_are_removed():
    rng = np.random.default_rng(4)
    surface = np.column_stack([rng.uniform(0, 10, (5000, 2)), np.zeros(5000)])
    stray = rng.uniform(-50, 50, (20, 3)) + [0, 0, 30]
    kept, removed = remove_outliers(np.vstack([surface, stray]))
    assert removed >= 20 and np.abs(kept[:, 2]).max() < 1.0


def test_scan_against_a_reference_finds_the_dent_after_alignment():
    rng = np.random.default_rng(5)
    reference, _ = box(40_000, rng)
    scan, _ = box(40_000, rng, [PlantedDefect(np.array([50.0, 30.0, 0.0]), 8.0, 1.0)])
    angle = np.radians(3)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    moved = _noisy(scan, 0.01) @ rot.T + [2.0, -1.0, 0.5]
    aligned, deviation, rmse = deviation_from_reference(moved, reference)
    deepest = aligned[np.nanargmin(deviation)]
    assert np.nanmin(deviation) == pytest.approx(-1.0, abs=0.2)
    assert deepest[:2] == pytest.approx([50.0, 30.0], abs=3.0)
    assert np.nanmedian(np.abs(deviation)) < 0.1
    assert 0.9 < np.isfinite(deviation).mean() < 1.0  # edge points are not judged


def test_workspace_compares_a_scan_with_its_reference(tmp_path):
    from r1mm import Workspace
    from r1mm.cases.parts import write_ply

    rng = np.random.default_rng(6)
    reference, _ = box(30_000, rng)
    scan, _ = box(30_000, rng, [PlantedDefect(np.array([40.0, 20.0, 0.0]), 8.0, 1.5)])
    write_ply(tmp_path / "nominal.ply", reference)
    write_ply(tmp_path / "scan.ply", _noisy(scan, 0.01) + [1.0, 0.5, 0.0])
    ws = Workspace()
    ws.add(tmp_path / "nominal.ply")
    ws.add(tmp_path / "scan.ply")
    nominal_id, scan_id = (i.id for i in ws.items())
    findings = ws.compare_to_reference(scan_id, nominal_id)
    dents = [f for f in findings if f.kind == "pointcloud.dent"]
    assert len(dents) == 1 and dents[0].value == pytest.approx(1.5, abs=0.2)


def test_parts_are_counted_without_splitting_a_sampled_surface():
    from r1mm.analysis.geometry import count_parts
    from r1mm.cases.parts import plate_with_dent
    from r1mm.points import point_spacing

    plate = plate_with_dent()
    assert count_parts(plate, point_spacing(plate)) == 1
    two = np.vstack([plate, plate + [200.0, 0.0, 0.0]])
    assert count_parts(two, point_spacing(two)) == 2


# ---- closed solids scanned from every side, designed features, free-form objects ----------------

def _thin_box(defects=()) -> np.ndarray:
    """200 × 120 × 10 mm, all six faces scanned: its walls lie within the band of top and bottom."""
    points, _ = box(200_000, np.random.default_rng(4), defects=defects, size=(200.0, 120.0, 10.0))
    return _noisy(points, 0.05)


def test_a_closed_thin_box_has_no_defects_and_a_real_dent_is_measured():
    from r1mm.analysis.geometry import inspect

    assert inspect(_thin_box()).fit.defects == []
    dented = inspect(_thin_box([PlantedDefect(np.array([60.0, 40.0]), 12.0, 2.5)])).fit
    assert len(dented.defects) == 1 and dented.defects[0].kind == "dent"
    assert abs(dented.defects[0].depth - 2.5) <= 0.1


def test_a_cylinder_with_end_caps_is_not_dented_by_its_caps():
    rng = np.random.default_rng(5)
    lateral, _ = cylinder(150_000, rng)
    r, a = 25 * np.sqrt(rng.uniform(0, 1, 20_000)), rng.uniform(-np.pi, np.pi, 20_000)
    caps = np.column_stack([r * np.cos(a), r * np.sin(a), np.where(np.arange(20_000) % 2, 150.0, 0.0)])
    fit = inspect_surfaces(_noisy(np.vstack([lateral, caps]), 0.05))
    assert fit.fits and fit.defects == [] and "cylinder" in fit.description


@pytest.mark.parametrize("pocket_depth", [1.0, 1.8])
def test_a_pocket_and_a_through_hole_are_designed_features(pocket_depth):
    rng = np.random.default_rng(6)
    xy = rng.uniform((0, 0), (120, 80), (150_000, 2))
    z = np.full(len(xy), 10.0)
    z[(xy[:, 0] > 20) & (xy[:, 0] < 50) & (xy[:, 1] > 20) & (xy[:, 1] < 40)] -= pocket_depth  # flat floor
    keep = np.hypot(xy[:, 0] - 90, xy[:, 1] - 40) >= 8  # a through-hole of 16 mm
    bottom = np.column_stack([rng.uniform((0, 0), (120, 80), (120_000, 2)), np.zeros(120_000)])
    bottom = bottom[np.hypot(bottom[:, 0] - 90, bottom[:, 1] - 40) >= 8]
    fit = inspect_surfaces(_noisy(np.vstack([np.column_stack([xy[keep], z[keep]]), bottom]), 0.05))
    assert fit.defects == []


def test_an_organic_shape_is_free_form_with_no_defects():
    rng = np.random.default_rng(7)
    u = rng.normal(size=(120_000, 3))
    u /= np.linalg.norm(u, axis=1)[:, None]
    radius = 30 * (1 + 0.25 * np.sin(3 * np.arctan2(u[:, 1], u[:, 0])) * np.cos(2 * np.arccos(u[:, 2])))
    fit = inspect_surfaces(_noisy(u * radius[:, None], 0.05))
    assert not fit.fits and fit.defects == [] and fit.description.startswith("a free-form shape")
    assert fit.fit_share < 0.5


def test_questions_about_defects_on_a_free_form_scan(tmp_path):
    from r1mm import Workspace
    from r1mm.cases.parts import write_ply

    rng = np.random.default_rng(8)
    u = rng.normal(size=(60_000, 3))
    u /= np.linalg.norm(u, axis=1)[:, None]
    radius = 30 * (1 + 0.25 * np.sin(3 * np.arctan2(u[:, 1], u[:, 0])) * np.cos(2 * np.arccos(u[:, 2])))
    write_ply(tmp_path / "figurine.ply", _noisy(u * radius[:, None], 0.05))
    ws = Workspace()
    assert ws.add(tmp_path / "figurine.ply").ok
    answer = ws.ask("Does the part have any defects?")
    assert "not judged" in answer.text and "reference" in answer.text
    assert not answer.text.startswith(("Yes", "No"))
