"""Point clouds and meshes: PLY, PCD, XYZ, PTS, OBJ and STL (meshes sampled to points). Inspected
as a machined part (faces, dimensions, dents and bumps); shown in 3D with the region boxed."""
from __future__ import annotations

from pathlib import Path

from r1mm.modalities import Analysis, ModalitySpec, kinds, largest, loader, rule
from r1mm.modalities.storage import ARRAYS
from r1mm.types import Modality


def sniff(head: bytes, path: Path) -> str | None:
    if head.startswith(b"ply\n") or head.startswith(b"ply\r\n"):
        return "ply"
    if head.startswith(b"# .PCD") or (head.startswith(b"VERSION") and b"FIELDS" in head):
        return "pcd"  # the header is text; the data after it may be binary
    if len(head) >= 84 and path.suffix.lower() == ".stl":
        # binary STL: an 80-byte header, a uint32 triangle count, 50 bytes per triangle
        if path.stat().st_size == 84 + 50 * int.from_bytes(head[80:84], "little"):
            return "stl"
    return None


SPEC = ModalitySpec(
    modality=Modality.POINTCLOUD,
    name="point cloud",
    formats={"ply": "PLY", "pcd": "PCD", "xyz": "XYZ", "pts": "PTS", "obj": "OBJ", "stl": "STL"},
    sniff=sniff,
    load=loader("r1mm.ingest.pointcloud:load_pointcloud"),
    analyses=(Analysis("machined part", "r1mm.analysis.geometry"),),
    storage=ARRAYS,
    view="r1mm.ui.evidence:show_pointcloud",
    tower="pointcloud",
    rules=(
        rule(150, r"dimension|how (big|large) is the (part|object|scan)|size of the part", kinds("pointcloud.dimensions")),
        rule(160, r"how deep|deepest|dent", largest("pointcloud.dent")),
        rule(170, r"defect|damage|bump|flaw", kinds("pointcloud.defect_count", "pointcloud.dent", "pointcloud.bump")),
        rule(190, r"how many points|point count", kinds("pointcloud.points")),
    ),
    text_suffixes={".xyz": "xyz", ".pts": "pts", ".obj": "obj", ".pcd": "pcd", ".ply": "ply", ".stl": "stl"},
)
