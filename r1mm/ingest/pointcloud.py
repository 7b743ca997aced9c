"""Point clouds: PLY (plyfile), LAS and LAZ (laspy + lazrs), E57 (pye57), PCD (ascii, binary), XYZ/PTS text,
OBJ/STL meshes sampled to points. Coordinates stay in the file's own units.

PLY and LAS/LAZ are read by maintained libraries. PCD and XYZ are still parsed here with numpy
(a maintained PCD reader, pypcd4, is not adopted yet): open3d's PCD reader returns an empty cloud
for a corrupt header instead of saying why, and a memory map of a binary PCD lets 20 million
points be thinned in chunks without 20 million points' worth of Python objects.
"""
from __future__ import annotations

import io
import logging
import re
import struct
from pathlib import Path

import numpy as np

from r1mm.errors import IngestError, LimitExceeded
from r1mm.ingest.limits import Limits
from r1mm.types import Item, Modality

log = logging.getLogger(__name__)

_UNITS = re.compile(r"\b(?:units?|unit_of_measure)\s*[:=]?\s*(mm|millimet(?:er|re)s?|cm|m|meters?|metres?|"
                    r"in|inch(?:es)?)\b", re.IGNORECASE)
_CHUNK_POINTS = 2_000_000


def load_pointcloud(path: Path, source: str, fmt: str, limits: Limits) -> Item:
    reader = {"ply": _read_ply, "pcd": _read_pcd, "xyz": _read_xyz, "pts": _read_xyz,
              "obj": _read_mesh, "stl": _read_mesh, "las": _read_las,
              "laz": _read_in_child("laz", "LAZ decompressor (lazrs)"),
              "e57": _read_in_child("e57", "E57 reader (libE57Format)")}[fmt]
    points, colors, units, *more = reader(path, source, limits)
    arrays, extra_meta = more if more else ({}, {})
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] == 0:
        raise IngestError(source, "holds no points")
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():
        points = points[finite]
        colors = colors[finite] if colors is not None else None
        arrays = {k: v[finite] for k, v in arrays.items()}
        if points.shape[0] == 0:
            raise IngestError(source, "holds no finite points")
    meta = {"format": fmt, "points": int(points.shape[0]), "units": units or "file units (unspecified)", **extra_meta}
    item = Item(Modality.POINTCLOUD, source, points, meta, arrays=dict(arrays))
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


_PLY_GEOMETRY = {"x", "y", "z", "nx", "ny", "nz", "red", "green", "blue", "alpha"}
_MAX_SCALAR_FIELDS = 8


def _read_ply(path: Path, source: str, limits: Limits):
    """Any valid PLY (plyfile): elements in any order, comments, extra properties, ASCII or binary
    of either byte order, binary vertices memory-mapped. A mesh (faces, no loose points) is
    sampled uniformly by area, as OBJ and STL are."""
    from plyfile import PlyData, PlyParseError

    try:
        ply = PlyData.read(str(path), mmap="r")
    except PlyParseError as exc:
        reason = str(exc)
        if "early end-of-file" in reason or "unexpected end" in reason.lower():
            raise IngestError(source, f"is truncated ({reason})") from None
        raise IngestError(source, f"is not a readable PLY ({reason})") from None
    except (ValueError, EOFError) as exc:
        raise IngestError(source, f"is not a readable PLY ({exc})") from None
    names = [e.name for e in ply.elements]
    if "vertex" not in names:
        raise IngestError(source, f"PLY file has no 'vertex' element (its elements: {', '.join(names) or 'none'})")
    vertices = ply["vertex"].data
    fields = set(vertices.dtype.names or ())
    if not {"x", "y", "z"} <= fields:
        raise IngestError(source, "PLY vertices need x, y and z properties")
    units = _units_from("\n".join([*ply.comments, *ply.obj_info]))
    count = len(vertices)
    faces = ply["face"].data if "face" in names else None
    if faces is not None and len(faces) and count <= limits.max_points:
        corners = np.stack([np.asarray(vertices[c], np.float64) for c in ("x", "y", "z")], axis=1)
        return _sample_faces(corners, faces, source, limits), None, units
    points, keep = _thin(vertices, count, limits, source)
    colors = None
    if {"red", "green", "blue"} <= fields:
        rgb = np.stack([np.asarray(vertices[c]) for c in ("red", "green", "blue")], axis=1)
        colors = (rgb[keep] if keep is not None else rgb).astype(np.float32)
        colors = colors / 255.0 if colors.max(initial=0) > 1.0 else colors
    arrays = {}
    for name in vertices.dtype.names:  # scalar fields: intensity, classification, CloudCompare's scalar_*
        field = name.lower().removeprefix("scalar_")
        if name in _PLY_GEOMETRY or len(arrays) >= _MAX_SCALAR_FIELDS or vertices.dtype[name].kind not in "iuf" \
                or vertices.dtype[name].shape:
            continue
        values = np.asarray(vertices[name])
        arrays[field] = values[keep] if keep is not None else np.array(values)
    return points, colors, units, arrays, {}


def _sample_faces(corners: np.ndarray, faces: np.ndarray, source: str, limits: Limits) -> np.ndarray:
    """Points spread over a mesh's triangles by area (polygons are fanned into triangles): 100 per
    triangle, between 10,000 and 200,000 in all; seeded, so a file always gives the same points."""
    index_field = next((n for n in faces.dtype.names or () if n in ("vertex_indices", "vertex_index")), None)
    if index_field is None:
        raise IngestError(source, "PLY faces have no vertex_indices property")
    triangles = [(poly[0], poly[k], poly[k + 1]) for poly in faces[index_field] for k in range(1, len(poly) - 1)]
    tri = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    if tri.size == 0:
        return corners
    if tri.min() < 0 or tri.max() >= len(corners):
        raise IngestError(source, f"has a face that refers to vertex {int(tri.max())}; there are {len(corners):,}")
    a, b, c = corners[tri[:, 0]], corners[tri[:, 1]], corners[tri[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    if area.sum() <= 0:
        return corners
    n = int(min(200_000, max(10_000, 100 * len(tri)), limits.max_points))
    rng = np.random.default_rng(0)
    pick = rng.choice(len(tri), n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    return a[pick] + u[:, None] * (b[pick] - a[pick]) + v[:, None] * (c[pick] - a[pick])


# ---- LAS / LAZ (airborne and terrestrial LiDAR) ------------------------------------------------

_LAS_UNIT_CODES = {9001: "m", 9002: "ft", 9003: "US survey ft"}  # GeoTIFF ProjLinearUnitsGeoKey
_WKT_UNIT = re.compile(r'UNIT\["([^"]+)",\s*([0-9.eE+-]+)')


def _read_in_child(reader: str, library: str):
    """A reader run in a child process, its result back through an NPZ file. Some native readers
    end the whole process on a corrupt file (lazrs aborts on some, found by tests/test_fuzz.py) or
    print their diagnostics on stdout (libE57Format); a bad upload must do neither to the app."""
    def read(path: Path, source: str, limits: Limits):
        import json
        import subprocess
        import sys
        import tempfile

        with tempfile.TemporaryDirectory(prefix="r1mm-cloud-") as tmp:
            out = Path(tmp) / "cloud.npz"
            code = ("import sys; from pathlib import Path; from r1mm.ingest.pointcloud import child_main; "
                    "sys.exit(child_main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), "
                    "Path(sys.argv[5])))")
            proc = subprocess.run([sys.executable, "-c", code, reader, str(path), source, str(limits.max_points),
                                   str(out)], capture_output=True, text=True)
            if proc.returncode < 0:
                raise IngestError(source, f"is corrupt: the {library} crashed on it (signal {-proc.returncode})")
            if proc.returncode == 2:
                raise IngestError(source, proc.stdout.strip().splitlines()[-1])
            if proc.returncode != 0 or not out.exists():
                last = (proc.stderr.strip().splitlines() or ["no message"])[-1][:300]
                raise IngestError(source, f"could not be read: the {library} failed ({last})")
            with np.load(out) as npz:
                arrays = {k[6:]: npz[k] for k in npz.files if k.startswith("array_")}
                colors = npz["colors"] if "colors" in npz.files else None
                points, meta = npz["points"], json.loads(str(npz["meta"]))
        return points, colors, meta.pop("units"), arrays, meta
    return read


def child_main(reader: str, path: Path, source: str, max_points: int, out: Path) -> int:
    """The child's side of `_read_in_child`: 0 and the cloud in ``out``, or 2 and the reason on stdout."""
    import contextlib
    import json
    import os

    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            points, colors, units, arrays, meta = _IN_CHILD[reader](path, source, Limits(max_points=max_points))
    except IngestError as exc:
        print(exc.reason)
        return 2
    extra = {"colors": colors} if colors is not None else {}
    np.savez(out, points=points, meta=json.dumps({**meta, "units": units}),
             **{f"array_{k}": v for k, v in arrays.items()}, **extra)
    return 0


def _read_e57(path: Path, source: str, limits: Limits):
    """E57 (ASTM E2807; libE57Format through pye57): every scan, moved by its pose into the file's
    common frame, in metres (the standard's unit); intensity and colour where the scan has them."""
    import pye57

    try:
        e57 = pye57.E57(str(path))
        count = e57.scan_count
    except Exception as exc:
        raise IngestError(source, f"is not a readable E57 file: {_e57_reason(exc)}") from None
    if count == 0:
        raise IngestError(source, "holds no scans")
    parts: dict[str, list[np.ndarray]] = {"xyz": [], "intensity": [], "rgb": [], "scan": []}
    try:
        total = sum(int(e57.get_header(k).point_count) for k in range(count))
        stride = max(1, int(np.ceil(total / limits.max_points)))
        for k in range(count):
            fields = set(e57.get_header(k).point_fields)
            scan = e57.read_scan(k, ignore_missing_fields=True, intensity="intensity" in fields,
                                 colors={"colorRed", "colorGreen", "colorBlue"} <= fields, transform=True)
            xyz = np.stack([scan["cartesianX"], scan["cartesianY"], scan["cartesianZ"]], axis=1)[::stride]
            parts["xyz"].append(xyz)
            parts["scan"].append(np.full(len(xyz), k, np.uint16))
            if "intensity" in scan:
                parts["intensity"].append(np.asarray(scan["intensity"], np.float32)[::stride])
            if "colorRed" in scan:
                parts["rgb"].append(np.stack([scan[c] for c in ("colorRed", "colorGreen", "colorBlue")],
                                             axis=1)[::stride])
    except IngestError:
        raise
    except Exception as exc:
        raise IngestError(source, f"is truncated or corrupt: {_e57_reason(exc)}") from None
    arrays = {"scan": np.concatenate(parts["scan"])}
    if len(parts["intensity"]) == count:
        arrays["intensity"] = np.concatenate(parts["intensity"])
    colors = None
    if len(parts["rgb"]) == count:
        rgb = np.concatenate(parts["rgb"]).astype(np.float32)
        colors = rgb / (65535.0 if rgb.max(initial=0) > 255 else 255.0 if rgb.max(initial=0) > 1 else 1.0)
    meta = {"scans": count, "points_in_file": total, "thinned_stride": stride}
    return np.concatenate(parts["xyz"]), colors, "m", arrays, meta


_E57_ERRORS = {"ErrorBadFileLength": "truncated: the file is shorter or longer than its header says",
               "ErrorBadChecksum": "corrupt: a page's checksum does not match its bytes"}


def _e57_reason(exc: Exception) -> str:
    """libE57Format's message without its debug lines, in words for the two common cases."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    code = next((c for c in _E57_ERRORS if c in first), None)
    return f"{_E57_ERRORS[code]} ({first})" if code else first


def _read_las(path: Path, source: str, limits: Limits):
    """LAS and LAZ (laspy; LAZ decompressed by lazrs), read in chunks and thinned by a stride when
    over the limit. Real-world coordinates are kept (scale and offset applied) with the units of
    the file's CRS, and the per-point classification, intensity and colour."""
    import laspy

    _check_las_records(path, source)
    try:
        # lazrs' single-threaded decompressor: its parallel one aborts the process on some corrupt
        # chunk tables (found by tests/test_fuzz.py) where this one raises
        reader = laspy.open(str(path), laz_backend=laspy.LazBackend.Lazrs)
    except BaseException as exc:  # laspy's and lazrs' own errors alike: the file is bad, say so
        _reraise_unless_library_error(exc)
        raise IngestError(source, f"is not a readable LAS/LAZ file: truncated or corrupt "
                                  f"({type(exc).__name__}: {exc})") from None
    with reader:
        header = reader.header
        count = int(header.point_count)
        if count == 0:
            raise IngestError(source, "holds no points")
        if not header.are_points_compressed:  # a count the file cannot hold is known before reading
            room = max(path.stat().st_size - header.offset_to_point_data, 0) // max(header.point_format.size, 1)
            if count > room:
                raise IngestError(source, f"is truncated: the header promises {count:,} points, "
                                          f"the file holds {room:,}")
        stride = max(1, int(np.ceil(count / limits.max_points)))
        dims = set(header.point_format.dimension_names)
        parts: dict[str, list[np.ndarray]] = {"xyz": [], "classification": [], "intensity": [], "rgb": []}
        seen = 0
        try:
            while seen < count:
                # read_points counts what it was asked for, not what the file held: a header that
                # promises more points than the file has would loop over empty chunks for ever
                wanted = min(_CHUNK_POINTS, count - seen)
                chunk = reader.read_points(wanted)
                take = slice((-seen) % stride, None, stride)
                seen += len(chunk)
                if len(chunk) < wanted:
                    break
                parts["xyz"].append(np.stack([np.asarray(chunk.x)[take], np.asarray(chunk.y)[take],
                                              np.asarray(chunk.z)[take]], axis=1))
                parts["classification"].append(np.asarray(chunk.classification)[take].astype(np.uint8))
                parts["intensity"].append(np.asarray(chunk.intensity)[take].astype(np.uint16))
                if {"red", "green", "blue"} <= dims:
                    parts["rgb"].append(np.stack([np.asarray(chunk[c])[take] for c in ("red", "green", "blue")],
                                                 axis=1))
        except BaseException as exc:  # lazrs reports a cut-off stream as its own error type
            _reraise_unless_library_error(exc)
            raise IngestError(source, f"is truncated or corrupt after {seen:,} of {count:,} points "
                                      f"({type(exc).__name__}: {exc})") from None
    if seen < count:
        raise IngestError(source, f"is truncated: the header promises {count:,} points, the file holds {seen:,}")
    points = np.concatenate(parts["xyz"])
    arrays = {k: np.concatenate(parts[k]) for k in ("classification", "intensity")}
    colors = None
    if parts["rgb"]:
        rgb = np.concatenate(parts["rgb"]).astype(np.float32)
        colors = rgb / (65535.0 if rgb.max(initial=0) > 255 else 255.0)
    units, crs = _las_units(header)
    meta = {"lidar": True, "crs": crs, "points_in_file": count, "thinned_stride": stride,
            "offset": [float(v) for v in header.offsets], "scale": [float(v) for v in header.scales],
            "las_version": str(header.version), "point_format": int(header.point_format.id)}
    return points, colors, units, arrays, meta


_VLR_HEADER_BYTES, _EVLR_HEADER_BYTES = 54, 60


def _check_las_records(path: Path, source: str) -> None:
    """Refuse a header that declares more (extended) variable-length records than the file can hold:
    laspy reads them in a loop that goes on past the end of the file, one empty record at a time,
    4 billion times for a corrupt count (found by tests/test_fuzz.py: minutes and gigabytes)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(247)
    if len(head) < 104 or head[:4] != b"LASF":
        return  # laspy names what is wrong with these
    header_size, = struct.unpack_from("<H", head, 94)
    vlrs, = struct.unpack_from("<I", head, 100)
    if vlrs * _VLR_HEADER_BYTES > max(size - header_size, 0):
        raise IngestError(source, f"is corrupt: its header declares {vlrs:,} variable-length records, "
                                  f"more than its {size:,} bytes can hold")
    if head[24:26] >= b"\x01\x04" and len(head) >= 247:
        start, evlrs = struct.unpack_from("<QI", head, 235)
        if evlrs and (start > size or evlrs * _EVLR_HEADER_BYTES > size - start):
            raise IngestError(source, f"is corrupt: its header declares {evlrs:,} extended records at byte "
                                      f"{start:,}, more than its {size:,} bytes can hold")


_IN_CHILD = {"laz": _read_las, "e57": _read_e57}


def _reraise_unless_library_error(exc: BaseException) -> None:
    """A Rust panic inside lazrs reaches Python as pyo3's PanicException, a BaseException; it means a
    corrupt file like any Exception does. Interrupts and exits go on up."""
    if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
        raise exc


def _las_units(header) -> tuple[str, str | None]:
    """(linear unit, CRS name) from the GeoTIFF keys or the WKT of the file's VLRs."""
    crs_name, unit = None, None
    for vlr in header.vlrs:
        for key in getattr(vlr, "geo_keys", []) or []:
            if key.id in (3076, 2052) and key.value_offset in _LAS_UNIT_CODES:
                unit = unit or _LAS_UNIT_CODES[key.value_offset]
        wkt = getattr(vlr, "string", None)
        if isinstance(wkt, bytes):
            wkt = wkt.decode("ascii", errors="replace")
        if isinstance(wkt, str) and "UNIT[" in wkt:
            crs_name = crs_name or (re.findall(r'^\w+\["([^"]+)"', wkt.strip()) or [None])[0]
            linear = [(name, float(f)) for name, f in _WKT_UNIT.findall(wkt) if abs(float(f) - 0.0174532925) > 1e-6]
            if linear and unit is None:
                name, factor = linear[0]
                unit = "m" if abs(factor - 1) < 1e-9 else "US survey ft" if abs(factor - 0.3048006096) < 1e-9 \
                    else "ft" if abs(factor - 0.3048) < 1e-9 else name
    return unit or "file units (no CRS in the file; LiDAR is usually in metres)", crs_name


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
