"""Point clouds and meshes: PLY, LAS/LAZ, E57, PCD, XYZ, PTS, OBJ and STL (meshes sampled to points).
A scanned part is inspected as a machined part (faces, dimensions, dents and bumps); a LiDAR tile
as a survey (extent, density, classes). Shown in 3D with the region boxed."""
from __future__ import annotations

from pathlib import Path

from r1mm.modalities import Analysis, ModalitySpec, kinds, largest, loader, rule
from r1mm.modalities.storage import ARRAYS
from r1mm.types import Finding, Item, Modality


def sniff(head: bytes, path: Path) -> str | None:
    if head.startswith(b"LASF"):
        # LAZ is LAS with compressed points: the point format id (byte 104) has bit 7 (or 6) set
        return "laz" if path.suffix.lower() == ".laz" or (len(head) > 104 and head[104] & 0xC0) else "las"
    if head.startswith(b"ASTM-E57"):
        return "e57"
    if head.startswith(b"ply\n") or head.startswith(b"ply\r\n"):
        return "ply"
    if head.startswith(b"# .PCD") or (head.startswith(b"VERSION") and b"FIELDS" in head):
        return "pcd"  # the header is text; the data after it may be binary
    if len(head) >= 84 and path.suffix.lower() == ".stl":
        # binary STL: an 80-byte header, a uint32 triangle count, 50 bytes per triangle
        if path.stat().st_size == 84 + 50 * int.from_bytes(head[80:84], "little"):
            return "stl"
    return None


def _classes(q: str, fs: list[Finding]) -> list[Finding]:
    """The LiDAR classes the question names ("ground", "high vegetation"), else every class."""
    shares = [f for f in fs if f.kind == "lidar.class_share"]
    named = [f for f in shares if f.text.split(" points:")[0].lower() in q]
    return named or shares


def is_lidar(item: Item) -> bool:
    """A LAS/LAZ tile: georeferenced terrain, not a part."""
    return bool(item.meta.get("lidar"))


SPEC = ModalitySpec(
    modality=Modality.POINTCLOUD,
    name="point cloud",
    formats={"ply": "PLY", "las": "LAS", "laz": "LAZ", "e57": "E57", "pcd": "PCD", "xyz": "XYZ", "pts": "PTS", "obj": "OBJ",
             "stl": "STL"},
    sniff=sniff,
    load=loader("r1mm.ingest.pointcloud:load_pointcloud"),
    analyses=(Analysis("machined part", "r1mm.analysis.geometry", lambda item: not is_lidar(item)),
              Analysis("LiDAR survey", "r1mm.analysis.lidar", is_lidar)),
    storage=ARRAYS,
    view="r1mm.ui.evidence:show_pointcloud",
    tower="pointcloud",
    rules=(
        rule(145, r"\bground\b|classif|vegetation|building|water|noise|\bclass(es)?\b", _classes),
        rule(146, r"density|points per", kinds("lidar.density")),
        rule(147, r"extent|area|how (big|large|wide) is the (tile|survey|site|scan)|where is", kinds("lidar.extent")),
        rule(150, r"dimension|how (big|large) is the (part|object|scan)|size of the part", kinds("pointcloud.dimensions")),
        # a free-form shape: defects are not judged against a primitive, and the answer says so
        rule(155, r"how deep|deepest|dent|defect|damage|bump|flaw", kinds("pointcloud.free_form")),
        rule(160, r"how deep|deepest|dent", largest("pointcloud.dent")),
        rule(170, r"defect|damage|bump|flaw", kinds("pointcloud.defect_count", "pointcloud.dent", "pointcloud.bump")),
        rule(190, r"how many points|point count", kinds("pointcloud.points")),
    ),
    binary_suffixes={".las": "las", ".laz": "laz", ".e57": "e57"},
    text_suffixes={".xyz": "xyz", ".pts": "pts", ".obj": "obj", ".pcd": "pcd", ".ply": "ply", ".stl": "stl"},
)
