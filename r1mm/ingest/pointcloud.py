"""Point clouds: PLY (ascii, binary little/big endian), PCD (ascii, binary), XYZ/PTS text,
OBJ/STL meshes sampled to points. Coordinates stay in the file's own units.

PLY, PCD and XYZ are parsed here with numpy rather than open3d: a corrupt header gets a
clear error instead of an empty cloud or a crash, and huge binary files are read through
a memory map and thinned on a voxel grid in chunks, so 20 million points do not need
20 million points' worth of Python objects.
"""
from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np

from r1mm.errors import IngestError, LimitExceeded
from r1mm.ingest.limits import Limits
from r1mm.types import Item, Modality

log = logging.getLogger(__name__)

_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}
_UNITS = re.compile(r"\b(?:units?|unit_of_measure)\s*[:=]?\s*(mm|millimet(?:er|re)s?|cm|m|meters?|metres?|"
                    r"in|inch(?:es)?)\b", re.IGNORECASE)
_CHUNK_POINTS = 2_000_000


def load_pointcloud(path: Path, source: str, fmt: str, limits: Limits) -> Item:
    reader = {"ply": _read_ply, "pcd": _read_pcd, "xyz": _read_xyz, "pts": _read_xyz,
              "obj": _read_mesh, "stl": _read_mesh}[fmt]
    points, colors, units = reader(path, source, limits)
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] == 0:
        raise IngestError(source, "holds no points")
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():
        points = points[finite]
        colors = colors[finite] if colors is not None else None
        if points.shape[0] == 0:
            raise IngestError(source, "holds no finite points")
    meta = {"format": fmt, "points": int(points.shape[0]), "units": units or "file units (unspecified)"}
    item = Item(Modality.POINTCLOUD, source, points, meta)
    if colors is not None:
        item.arrays["colors"] = colors
    return item


def _units_from(text: str) -> str | None:
    match = _UNITS.search(text)
    if not match:
        return None
    word = match.group(1).lower()
    for prefix, unit in (("mm", "mm"), ("millim", "mm"), ("cm", "cm"), ("in", "in"), ("m", "m")):
        if word.startswith(prefix):
            return unit
    return None


def _read_header(fh, source: str, end: bytes, max_lines: int = 200) -> list[str]:
    lines = []
    for _ in range(max_lines):
        raw = fh.readline()
        if not raw:
            raise IngestError(source, "ends inside its header (truncated file)")
        line = raw.decode("ascii", errors="replace").strip()
        lines.append(line)
        if line.split(" ")[0] == end.decode():
            return lines
    raise IngestError(source, f"has no '{end.decode()}' line within {max_lines} header lines")


def _read_ply(path: Path, source: str, limits: Limits):
    with open(path, "rb") as fh:
        header = _read_header(fh, source, b"end_header")
        offset = fh.tell()
    fmt_line = next((line for line in header if line.startswith("format ")), None)
    if fmt_line is None:
        raise IngestError(source, "PLY header has no 'format' line")
    encoding = fmt_line.split()[1]
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []
    for line in header:
        words = line.split()
        if words[:1] == ["element"] and len(words) == 3:
            try:
                elements.append((words[1], int(words[2]), []))
            except ValueError:
                raise IngestError(source, f"PLY header line {line!r} has no element count") from None
        elif words[:1] == ["property"] and elements:
            if words[1] == "list":
                elements[-1][2].append(("list", " ".join(words[2:])))
            elif len(words) == 3 and words[1] in _PLY_TYPES:
                elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
            else:
                raise IngestError(source, f"PLY header line {line!r} has an unknown property type")
    if not elements or elements[0][0] != "vertex":
        raise IngestError(source, "PLY file has no leading 'vertex' element")
    _, count, props = elements[0]
    names = [n for n, _ in props]
    if not {"x", "y", "z"} <= set(names) or any(n == "list" for n in names):
        raise IngestError(source, "PLY vertices need x, y and z properties")
    units = _units_from("\n".join(line for line in header if line.startswith(("comment", "obj_info"))))
    if encoding == "ascii":
        cols = [names.index(c) for c in ("x", "y", "z")]
        table = _parse_ascii(path, offset, count, len(names), source)
        points = table[:, cols]
        colors = _colors(table, names) if {"red", "green", "blue"} <= set(names) else None
        return points, colors, units
    if encoding not in ("binary_little_endian", "binary_big_endian"):
        raise IngestError(source, f"PLY format {encoding!r} is not supported")
    order = "<" if encoding == "binary_little_endian" else ">"
    dtype = np.dtype([(n, order + t) for n, t in props])
    needed = offset + count * dtype.itemsize
    if path.stat().st_size < needed:
        raise IngestError(source, f"is truncated: the header promises {count:,} vertices "
                                  f"({needed:,} bytes) but the file has {path.stat().st_size:,} bytes")
    vertices = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(count,))
    points, keep = _thin(vertices, count, limits, source)
    colors = None
    if {"red", "green", "blue"} <= set(names):
        rgb = vertices[["red", "green", "blue"]][keep] if keep is not None else \
            vertices[["red", "green", "blue"]]
        colors = np.stack([rgb[c] for c in ("red", "green", "blue")], axis=1).astype(np.float32)
        colors = colors / 255.0 if colors.max(initial=0) > 1.0 else colors
    return points, colors, units


def _colors(table: np.ndarray, names: list[str]) -> np.ndarray:
    rgb = table[:, [names.index(c) for c in ("red", "green", "blue")]].astype(np.float32)
    return rgb / 255.0 if rgb.max(initial=0) > 1.0 else rgb


def _thin(vertices: np.ndarray, count: int, limits: Limits, source: str):
    """All points when under the limit; else a uniform stride, read chunk by chunk."""
    if count <= limits.max_points:
        return np.stack([np.asarray(vertices[c], np.float64) for c in ("x", "y", "z")], axis=1), None
    stride = int(np.ceil(count / limits.max_points))
    log.info("%s: %d points over the limit of %d; keeping every %d-th", source, count,
             limits.max_points, stride)
    keep = np.arange(0, count, stride)
    out = np.empty((keep.size, 3))
    for start in range(0, keep.size, _CHUNK_POINTS):
        idx = keep[start:start + _CHUNK_POINTS]
        chunk = vertices[idx]
        out[start:start + idx.size] = np.stack([chunk[c] for c in ("x", "y", "z")], axis=1)
    return out, keep


def _parse_ascii(path: Path, offset: int, count: int, n_cols: int, source: str) -> np.ndarray:
    with open(path, "rb") as fh:
        fh.seek(offset)
        try:
            table = np.loadtxt(fh, dtype=np.float64, max_rows=count, ndmin=2,
                               usecols=range(n_cols))
        except ValueError as exc:
            raise IngestError(source, f"has a malformed data line ({exc})") from None
    if table.shape[0] < count:
        raise IngestError(source, f"is truncated: the header promises {count:,} points, "
                                  f"the file holds {table.shape[0]:,}")
    return table


def _read_pcd(path: Path, source: str, limits: Limits):
    with open(path, "rb") as fh:
        header = _read_header(fh, source, b"DATA")
        offset = fh.tell()
    fields_: dict[str, list[str]] = {}
    for line in header:
        words = line.split()
        if words and not line.startswith("#"):
            fields_[words[0].upper()] = words[1:]
    names = fields_.get("FIELDS", [])
    if not {"x", "y", "z"} <= set(names):
        raise IngestError(source, "PCD header needs FIELDS with x, y and z")
    try:
        count = int(fields_.get("POINTS", fields_.get("WIDTH", ["0"]))[0])
        sizes = [int(s) for s in fields_.get("SIZE", ["4"] * len(names))]
        counts = [int(c) for c in fields_.get("COUNT", ["1"] * len(names))]
    except ValueError:
        raise IngestError(source, "PCD header has a non-numeric POINTS, SIZE or COUNT") from None
    types = fields_.get("TYPE", ["F"] * len(names))
    data_kind = fields_["DATA"][0] if fields_.get("DATA") else ""
    units = _units_from("\n".join(line for line in header if line.startswith("#")))
    if data_kind == "ascii":
        table = _parse_ascii(path, offset, count, sum(counts), source)
        cols = np.cumsum([0] + counts[:-1])
        return table[:, [cols[names.index(c)] for c in ("x", "y", "z")]], None, units
    if data_kind == "binary":
        if len({len(names), len(sizes), len(types), len(counts)}) != 1:
            raise IngestError(source, "PCD header's FIELDS, SIZE, TYPE and COUNT disagree in length")
        kinds = {"F": "f", "I": "i", "U": "u"}
        try:
            dtype = np.dtype([(n, f"<{kinds[t]}{s}", (c,)) if c > 1 else (n, f"<{kinds[t]}{s}")
                              for n, s, t, c in zip(names, sizes, types, counts)])
        except (KeyError, TypeError) as exc:
            raise IngestError(source, f"PCD header has an unsupported field type ({exc})") from None
        if path.stat().st_size < offset + count * dtype.itemsize:
            raise IngestError(source, f"is truncated: the header promises {count:,} points")
        vertices = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(count,))
        points, _ = _thin(vertices, count, limits, source)
        return points, None, units
    if data_kind == "binary_compressed":
        return _read_with_open3d(path, source), None, units
    raise IngestError(source, f"PCD DATA kind {data_kind!r} is not supported")


def _read_xyz(path: Path, source: str, limits: Limits):
    """Whitespace- or comma-separated x y z [more columns]; '#' or '//' comments; PTS count line."""
    with open(path, "rb") as fh:
        raw = fh.read()
    text = raw.decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith(("#", "//"))]
    units = _units_from("\n".join(line for line in text.splitlines()[:20] if line.lstrip().startswith(("#", "//"))))
    if lines and len(lines[0].replace(",", " ").split()) == 1:
        lines = lines[1:]  # PTS files start with the point count
    if len(lines) > limits.max_points:
        raise LimitExceeded(source, f"has {len(lines):,} points; the limit for text clouds is "
                                    f"{limits.max_points:,} (R1MM_MAX_POINTS)")
    try:
        table = np.loadtxt(io.StringIO("\n".join(lines).replace(",", " ")), dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise IngestError(source, f"has a line that is not numbers ({exc})") from None
    if table.shape[1] < 3:
        raise IngestError(source, f"has {table.shape[1]} column(s); x y z needs 3")
    colors = None
    if table.shape[1] >= 6 and table[:, 3:6].min() >= 0 and table[:, 3:6].max() <= 255:
        colors = (table[:, 3:6] / (255.0 if table[:, 3:6].max() > 1 else 1.0)).astype(np.float32)
    return table[:, :3], colors, units


def _read_with_open3d(path: Path, source: str) -> np.ndarray:
    import open3d as o3d

    cloud = o3d.io.read_point_cloud(str(path))
    if cloud.is_empty():
        raise IngestError(source, "open3d read no points from it (corrupt or unsupported file)")
    return np.asarray(cloud.points)


def _read_mesh(path: Path, source: str, limits: Limits):
    """Meshes are sampled uniformly by area: 100 points per triangle, 200k points at most."""
    import open3d as o3d

    mesh = o3d.io.read_triangle_mesh(str(path))
    if len(mesh.triangles) == 0:
        if len(mesh.vertices):
            return np.asarray(mesh.vertices), None, None
        raise IngestError(source, "holds no triangles or vertices (corrupt or empty mesh)")
    n = int(min(200_000, max(10_000, 100 * len(mesh.triangles)), limits.max_points))
    o3d.utility.random.seed(0)  # the same file gives the same points
    cloud = mesh.sample_points_uniformly(number_of_points=n)
    return np.asarray(cloud.points), None, None
