"""Point clouds: PLY ascii/binary (both endians; messages from plyfile, naming line or row), PCD, XYZ, PTS, OBJ/STL meshes; units; bad input."""
from __future__ import annotations

import numpy as np
import pytest

from r1mm.errors import IngestError
from r1mm.ingest import Limits, load
from r1mm.cases.parts import write_ply
from r1mm.types import Modality

POINTS = np.random.default_rng(0).uniform(-5, 5, (500, 3)).round(4)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "ascii"])
def test_ply_points_and_units(tmp_path, binary):
    write_ply(tmp_path / "part.ply", POINTS, binary=binary, units="mm")
    (item,) = load(tmp_path / "part.ply")
    assert item.modality is Modality.POINTCLOUD and item.meta["units"] == "mm"
    np.testing.assert_allclose(item.data, POINTS, atol=1e-4)


def test_big_endian_ply_with_colours(tmp_path):
    header = ("ply\nformat binary_big_endian 1.0\nelement vertex 3\nproperty double x\nproperty double y\n"
              "property double z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    rec = np.zeros(3, dtype=[("x", ">f8"), ("y", ">f8"), ("z", ">f8"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
    rec["x"], rec["y"], rec["z"], rec["r"] = [1, 2, 3], [4, 5, 6], [7, 8, 9], [255, 0, 0]
    (tmp_path / "be.ply").write_bytes(header.encode() + rec.tobytes())
    (item,) = load(tmp_path / "be.ply")
    np.testing.assert_array_equal(item.data[:, 0], [1, 2, 3])
    assert item.arrays["colors"][0, 0] == pytest.approx(1.0)
    assert item.meta["units"].startswith("file units")


def test_pcd_ascii_and_binary(tmp_path):
    head = "# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n" \
           f"WIDTH {len(POINTS)}\nHEIGHT 1\nPOINTS {len(POINTS)}\n"
    (tmp_path / "a.pcd").write_text(head + "DATA ascii\n" + "\n".join(" ".join(map(str, p)) for p in POINTS))
    (tmp_path / "b.pcd").write_bytes((head + "DATA binary\n").encode() + POINTS.astype("<f4").tobytes())
    for name in ("a.pcd", "b.pcd"):
        (item,) = load(tmp_path / name)
        np.testing.assert_allclose(item.data, POINTS, atol=1e-4)


def test_xyz_and_pts(tmp_path):
    (tmp_path / "scan.xyz").write_text("# units: mm\n" + "\n".join(f"{x},{y},{z}" for x, y, z in POINTS))
    (tmp_path / "scan.pts").write_text(f"{len(POINTS)}\n" + "\n".join(f"{x} {y} {z} 10 200 30 40" for x, y, z in POINTS))
    xyz = load(tmp_path / "scan.xyz")[0]
    assert xyz.meta["units"] == "mm"
    np.testing.assert_allclose(xyz.data, POINTS)
    np.testing.assert_allclose(load(tmp_path / "scan.pts")[0].data, POINTS)


@pytest.mark.parametrize("suffix", [".obj", ".stl"])
def test_meshes_are_sampled_on_their_surface(tmp_path, suffix):
    import open3d as o3d

    box = o3d.geometry.TriangleMesh.create_box(10.0, 20.0, 30.0)
    box.compute_triangle_normals()
    o3d.io.write_triangle_mesh(str(tmp_path / f"box{suffix}"), box)
    (item,) = load(tmp_path / f"box{suffix}")
    assert item.data.shape[0] >= 10_000
    np.testing.assert_allclose(item.data.max(axis=0) - item.data.min(axis=0), [10, 20, 30], atol=0.5)
    # every sample lies on a face of the box
    on_face = np.isclose(item.data, 0, atol=1e-6) | np.isclose(item.data, [10, 20, 30], atol=1e-6)
    assert on_face.any(axis=1).all()


def test_truncated_binary_ply(tmp_path):
    write_ply(tmp_path / "full.ply", POINTS)
    data = (tmp_path / "full.ply").read_bytes()
    (tmp_path / "cut.ply").write_bytes(data[:-100])
    with pytest.raises(IngestError, match=r"cut.ply: is truncated \(element .vertex.: row 491: early end-of-file\)"):
        load(tmp_path / "cut.ply")


@pytest.mark.parametrize("header,reason", [
    ("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nend_header\n0\n1\n", "need x, y and z"),
    ("ply\nformat ascii 1.0\nelement vertex many\nend_header\n", "line 3: expected integer count"),
    ("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\n", r"is truncated \(line 5"),
    ("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\n"
     "end_header\n1 2 3\n4 five 6\n", "row 1: property 'y': malformed input"),
])
def test_bad_ply_headers(tmp_path, header, reason):
    (tmp_path / "bad.ply").write_text(header)
    with pytest.raises(IngestError, match=reason):
        load(tmp_path / "bad.ply")


def test_huge_cloud_is_thinned_to_the_point_limit(tmp_path):
    pts = np.random.default_rng(1).uniform(0, 1, (10_000, 3))
    write_ply(tmp_path / "big.ply", pts)
    (item,) = load(tmp_path / "big.ply", limits=Limits(max_points=2_500))
    assert item.data.shape[0] == 2_500
    np.testing.assert_allclose(item.data, pts[::4].astype(np.float32), atol=1e-6)
