"""Persistence: SQLite (WAL) for files, items, findings and answers; item data as files.

Only de-identified, derived data is stored: the volume of a CT series rather than its DICOM
files, so patient identifiers never reach the disk unless the user opted in. Every file is
written atomically (temporary file, then rename), so a crash leaves the old or the new file,
never half of one.
"""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from r1mm.types import Answer, Document, Finding, Item, Modality, Page, Table

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT, size_bytes INTEGER,
    status TEXT NOT NULL, error TEXT, upload_path TEXT, timings_json TEXT,
    stage TEXT, progress REAL, worker_pid INTEGER,
    added_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    modality TEXT NOT NULL, source TEXT NOT NULL, meta_json TEXT NOT NULL, data_path TEXT);
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    kind TEXT NOT NULL, finding_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    vector BLOB NOT NULL, locator_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY, question TEXT NOT NULL, answer_json TEXT NOT NULL, created_at REAL NOT NULL);
"""

STATUS_PROCESSING, STATUS_READY, STATUS_FAILED, STATUS_INTERRUPTED = \
    "processing", "ready", "failed", "interrupted"


def connect(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(SCHEMA)
    mark_interrupted(conn)
    return conn


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_interrupted(conn: sqlite3.Connection) -> None:
    """Work whose process is gone (crash, kill) is marked interrupted, so the user can retry it.

    Work of a live process, this one included, is left alone: it is still under way.
    """
    rows = conn.execute("SELECT id, worker_pid FROM files WHERE status = ?", (STATUS_PROCESSING,)).fetchall()
    for row in rows:
        if not _alive(row["worker_pid"]):
            conn.execute("UPDATE files SET status = ?, error = ?, stage = NULL, updated_at = ? WHERE id = ?",
                         (STATUS_INTERRUPTED, "processing was interrupted (the app stopped); retry it",
                          time.time(), row["id"]))


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), then rename the result over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj: Any):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False)


def save_item_data(item: Item, path_stem: Path) -> Path:
    """Write an item's data next to `path_stem` in a format per modality; returns the path."""
    if item.modality is Modality.TEXT:
        path = path_stem.with_suffix(".json")
        atomic_write(path, lambda p: p.write_text(dumps(asdict(item.data)), encoding="utf-8"))
    elif item.modality is Modality.IMAGE:
        path = path_stem.with_suffix(".png")
        atomic_write(path, lambda p: item.data.save(p, format="PNG"))
    else:
        path = path_stem.with_suffix(".npz")
        arrays = {"data": item.data, **{f"array_{k}": v for k, v in item.arrays.items()}}
        for key in ("spacing_mm", "orientation", "origin_mm"):
            value = getattr(item, key)
            if value is not None:
                arrays[f"geom_{key}"] = np.asarray(value, dtype=np.float64)

        def write(p: Path) -> None:
            with open(p, "wb") as fh:
                np.savez(fh, **arrays)
        atomic_write(path, write)
    return path


def load_item_data(item: Item, path: Path) -> Item:
    """Fill `item.data` (and geometry, extra arrays) from what `save_item_data` wrote."""
    if item.modality is Modality.TEXT:
        raw = json.loads(path.read_text(encoding="utf-8"))
        pages = [Page(p["number"], p["text"],
                      [Table(t["index"], t["rows"],
                             [[tuple(b) if b else None for b in row] for row in t["cell_bboxes"]]
                             if t.get("cell_bboxes") else None, t.get("sheet")) for t in p["tables"]],
                      tuple(p["size"]) if p.get("size") else None, p.get("paragraphs", [])) for p in raw["pages"]]
        item.data = Document(raw["format"], pages)
    elif item.modality is Modality.IMAGE:
        with Image.open(path) as img:
            item.data = img.convert("RGB")
    else:
        with np.load(path) as npz:
            item.data = npz["data"]
            for key in npz.files:
                if key.startswith("array_"):
                    item.arrays[key[6:]] = npz[key]
                elif key.startswith("geom_"):
                    setattr(item, key[5:], tuple(float(v) for v in npz[key]))
    return item


def finding_json(f: Finding) -> str:
    return dumps(f.to_dict())


def answer_json(a: Answer) -> str:
    return dumps(a.to_dict())
