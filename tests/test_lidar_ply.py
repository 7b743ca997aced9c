"""Point clouds written by other software: LAS/LAZ from laspy's own test data, PLY written by
plyfile with other element orders, extra properties, comments and faces."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from r1mm.analysis import analyze
from r1mm.errors import IngestError
from r1mm.ingest import load
from r1mm.modalities import modality_spec
from r1mm.types import Modality

LASPY = Path(__file__).parent / "fixtures" / "laspy"


@pytest.mark.parametrize("name", ["simple.las", "simple.laz"])
def test_las_and_laz_keep_coordinates_and_classes(name):
    (item,) = load(LASPY / name)
    assert item.modality is Modality.POINTCLOUD and item.meta["format"] == name[-3:]
    assert len(item.data) == 1065 and item.meta["lidar"]
    # real-world coordinates (offset and scale applied), as libLAS wrote them
    assert item.data[:, 0].min() == pytest.approx(635619.85, abs=0.01)
    assert np.bincount(item.arrays["classification"]).tolist()[1:3] == [789, 276]
    assert item.arrays["intensity"].shape == (1065,) and item.arrays["colors"].shape == (1065, 3)


def test_a_lidar_tile_is_surveyed_not_inspected_as_a_part():
    (item,) = load(LASPY / "simple.laz")
    assert [a.domain for a in modality_spec(Modality.POINTCLOUD).analyses_for(item)] == ["LiDAR survey"]
    findings = analyze(item)
    kinds = {f.kind for f in findings}
    assert "pointcloud.defect_count" not in kinds and "pointcloud.surfaces" not in kinds
    ground = next(f for f in findings if f.kind == "lidar.class_share" and f.text.startswith("Ground"))
    assert ground.value == pytest.approx(100 * 276 / 1065, abs=0.01) and "26%" in ground.text
    assert ground.locator.region[5] < 480  # the ground's box lies low in the tile


@pytest.mark.parametrize("name,unit", [("autzen.las", "ft"), ("test1_4.las", "US survey ft")])
def test_units_come_from_the_files_crs_and_density_is_per_square_metre(name, unit):
    (item,) = load(LASPY / name)
    assert item.meta["units"] == unit
    density = next(f for f in analyze(item) if f.kind == "lidar.density")
    lo, hi = item.data.min(0), item.data.max(0)
    metres = 0.3048 if unit == "ft" else 1200 / 3937
    expected = len(item.data) / ((hi[0] - lo[0]) * (hi[1] - lo[1]) * metres ** 2)
    assert density.unit == "points per m²" and density.value == pytest.approx(expected, rel=1e-3)


def test_questions_about_a_tile(tmp_path):
    from r1mm import Workspace

    ws = Workspace()
    assert ws.add(LASPY / "simple.laz").ok
    assert "26%" in ws.ask("What share of the points is ground?").text
    assert "Unclassified" not in ws.ask("How much of the tile is ground?").text
    assert ws.ask("What is the point density?").evidence[0].finding.kind == "lidar.density"


def test_a_truncated_laz_names_the_file(tmp_path):
    data = (LASPY / "simple.laz").read_bytes()
    (tmp_path / "cut.laz").write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match=r"^cut\.laz: .*(truncated|corrupt|readable)"):
        load(tmp_path / "cut.laz")


@pytest.mark.parametrize("name", ["simple.las", "simple.laz"])
@pytest.mark.parametrize("field, offset", [("records", 100), ("points", 107)])
def test_a_header_that_promises_more_than_the_file_holds_is_refused_at_once(tmp_path, name, field, offset):
    """A corrupt count once sent laspy round an empty loop for minutes and gigabytes (found by the fuzz)."""
    import resource
    import struct

    data = bytearray((LASPY / name).read_bytes())
    data[offset:offset + 4] = struct.pack("<I", 1_851_876_179)
    (tmp_path / f"bad{Path(name).suffix}").write_bytes(bytes(data))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(IngestError, match=r"^bad\.la[sz]: .*(corrupt|truncated)"):
        load(tmp_path / f"bad{Path(name).suffix}")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 512 * 1024  # KiB: no runaway


def _ply(tmp_path, elements, byte_order="<", comments=("units mm",), text=False):
    from plyfile import PlyData

    path = tmp_path / "scan.ply"
    PlyData(elements, text=text, byte_order=byte_order, comments=list(comments)).write(str(path))
    return path


def _vertices(points, extra=True):
    from plyfile import PlyElement

    fields = [("x", "f4"), ("y", "f4"), ("z", "f4")] + ([("confidence", "f4"), ("intensity", "u1")] if extra else [])
    rec = np.zeros(len(points), dtype=fields)
    rec["x"], rec["y"], rec["z"] = points.T
    return PlyElement.describe(rec, "vertex")


@pytest.mark.parametrize("byte_order,text", [("<", False), (">", False), ("=", True)], ids=["le", "be", "ascii"])
def test_a_ply_that_declares_another_element_first_is_read(tmp_path, byte_order, text):
    """A range scan whose header lists the camera before the vertices (as some scanners write)."""
    from plyfile import PlyElement

    camera = np.zeros(1, dtype=[("view_px", "f4"), ("view_py", "f4"), ("view_pz", "f4")])
    points = np.random.default_rng(1).uniform(0, 50, (400, 3)).astype(np.float32)
    path = _ply(tmp_path, [PlyElement.describe(camera, "camera"), _vertices(points)], byte_order, text=text)
    (item,) = load(path)
    np.testing.assert_allclose(item.data, points, atol=1e-4)
    assert item.meta["units"] == "mm"


def test_a_ply_mesh_without_loose_points_is_sampled_over_its_faces(tmp_path):
    from plyfile import PlyElement

    corners = np.array([[0, 0, 0], [100, 0, 0], [100, 60, 0], [0, 60, 0]], dtype=np.float32)
    faces = np.array([([0, 1, 2, 3],)], dtype=[("vertex_indices", "i4", (4,))])  # one quad
    path = _ply(tmp_path, [_vertices(corners, extra=False), PlyElement.describe(faces, "face")])
    (item,) = load(path)
    assert len(item.data) == 10_000  # sampled over the face, not its 4 corners
    assert np.allclose(item.data[:, 2], 0) and item.data[:, 0].max() <= 100 and item.data[:, 1].max() <= 60
    assert abs(item.data[:, 0].mean() - 50) < 2 and abs(item.data[:, 1].mean() - 30) < 2  # uniform by area


def test_a_ply_without_vertices_says_which_elements_it_has(tmp_path):
    from plyfile import PlyElement

    camera = np.zeros(1, dtype=[("view_px", "f4")])
    with pytest.raises(IngestError, match="no 'vertex' element.*camera"):
        load(_ply(tmp_path, [PlyElement.describe(camera, "camera")]))


def test_a_laz_that_crashes_the_decompressor_is_refused_and_the_process_goes_on():
    with pytest.raises(IngestError, match=r"^lazrs_aborts\.laz: is corrupt: the LAZ decompressor \(lazrs\) crashed"):
        load(LASPY / "lazrs_aborts.laz")
    assert len(load(LASPY / "simple.laz")[0].data) == 1065  # this process is still here and reads on


def _write_e57(path: Path, scans: list[dict]) -> None:
    """An E57 file written by libE57Format (through pye57), one scan per dict with its pose."""
    import pye57

    e57 = pye57.E57(str(path), mode="w")
    for k, scan in enumerate(scans):
        e57.write_scan_raw(scan["fields"], name=f"station {k + 1}", rotation=scan.get("rotation"),
                           translation=scan.get("translation"))
    e57.close()


def test_an_e57_with_two_stations_is_read_in_the_common_frame(tmp_path):
    rng = np.random.default_rng(3)
    n = 2000
    local = rng.uniform(0, 2, (n, 3))
    fields = {"cartesianX": local[:, 0], "cartesianY": local[:, 1], "cartesianZ": local[:, 2],
              "intensity": rng.uniform(0, 1, n), "colorRed": np.full(n, 200, np.uint8),
              "colorGreen": np.full(n, 10, np.uint8), "colorBlue": np.full(n, 10, np.uint8)}
    # the second station is turned 90 degrees about z (w, x, y, z quaternion) and moved 10 m along x
    quarter = np.array([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    _write_e57(tmp_path / "site.e57", [{"fields": fields},
                                      {"fields": fields, "rotation": quarter, "translation": np.array([10.0, 0, 0])}])
    (item,) = load(tmp_path / "site.e57")
    assert item.meta["format"] == "e57" and item.meta["scans"] == 2 and item.meta["units"] == "m"
    assert len(item.data) == 2 * n and np.bincount(item.arrays["scan"]).tolist() == [n, n]
    second = item.data[item.arrays["scan"] == 1]
    expected = np.stack([10 - local[:, 1], local[:, 0], local[:, 2]], axis=1)
    assert np.allclose(second, expected, atol=1e-6)
    assert item.arrays["colors"][:, 0].min() > 0.7 and item.arrays["intensity"].shape == (2 * n,)


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_e57_names_the_file_and_prints_nothing(tmp_path, damage, capfd):
    xyz = np.random.default_rng(0).uniform(0, 1, (500, 3))
    _write_e57(tmp_path / "ok.e57", [{"fields": {"cartesianX": xyz[:, 0], "cartesianY": xyz[:, 1],
                                                 "cartesianZ": xyz[:, 2]}}])
    data = bytearray((tmp_path / "ok.e57").read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 3]
    else:
        data[2000:2100] = bytes(100)
    (tmp_path / "scan.e57").write_bytes(bytes(data))
    with pytest.raises(IngestError) as err:
        load(tmp_path / "scan.e57")
    assert str(err.value).startswith("scan.e57: ") and damage in str(err.value)
    out, _ = capfd.readouterr()
    assert "e57 exception" not in out.lower()  # libE57Format's debug lines stay in the child


def test_ply_scalar_fields_are_kept_and_reported(tmp_path):
    from plyfile import PlyData, PlyElement

    rng = np.random.default_rng(2)
    n = 3000
    vertex = np.zeros(n, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "f4"),
                                ("scalar_Classification", "u1")])
    vertex["x"], vertex["y"] = rng.uniform(0, 100, n), rng.uniform(0, 50, n)
    vertex["intensity"] = rng.uniform(10, 20, n)
    vertex["scalar_Classification"] = np.where(np.arange(n) < 1200, 2, 6)  # as CloudCompare names it
    PlyData([PlyElement.describe(vertex, "vertex")], text=False).write(str(tmp_path / "scan.ply"))
    (item,) = load(tmp_path / "scan.ply")
    assert set(item.arrays) >= {"intensity", "classification"}
    texts = {f.kind: f.text for f in analyze(item)}
    assert "40%" in texts["pointcloud.field.classification"] and "60%" in texts["pointcloud.field.classification"]
    assert texts["pointcloud.field.intensity"].startswith("Per-point intensity: from 10")
