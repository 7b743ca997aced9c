"""Persistence: SQLite (WAL) for files, items, findings, passages and answers; item data as files.

All SQL of a workspace is here, behind `Repository`; the rest of R1-MM reads and writes records.

Only de-identified, derived data is stored: the volume of a CT series rather than its DICOM
files, so patient identifiers never reach the disk unless the user opted in. Every file is
written atomically (temporary file, then rename), so a crash leaves the old or the new file,
never half of one.
"""
from __future__ import annotations

import functools
import json
import os
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from r1mm.modalities import modality_spec
from r1mm.types import Answer, Evidence, Finding, Item, Locator, Modality

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
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    finding_id INTEGER REFERENCES findings(id) ON DELETE CASCADE,
    text TEXT NOT NULL, locator_json TEXT NOT NULL, vector BLOB);
CREATE INDEX IF NOT EXISTS passages_by_item ON passages(item_id);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
    file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE, path TEXT NOT NULL, cleanup TEXT,
    keep_phi INTEGER NOT NULL, worker_pid INTEGER, attempts INTEGER NOT NULL DEFAULT 0, queued_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS watch_runs (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, inspector TEXT NOT NULL, pid INTEGER,
    started_at REAL NOT NULL, updated_at REAL NOT NULL, ended_at REAL, reason TEXT,
    position TEXT, frames_read INTEGER NOT NULL DEFAULT 0, frames_inspected INTEGER NOT NULL DEFAULT 0,
    frames_skipped INTEGER NOT NULL DEFAULT 0, frames_unreadable INTEGER NOT NULL DEFAULT 0,
    alerts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES watch_runs(id) ON DELETE CASCADE,
    frame TEXT NOT NULL, time_s REAL, seen_at REAL NOT NULL, score REAL NOT NULL, threshold REAL NOT NULL,
    regions_json TEXT NOT NULL, frame_path TEXT NOT NULL, heatmap_path TEXT NOT NULL);
"""
# Columns added after the first release: (table, column, declaration). Added on open when missing.
MIGRATIONS = [("items", "indexed", "INTEGER NOT NULL DEFAULT 0")]  # 1: its passages are in `passages`

STATUS_PROCESSING, STATUS_READY, STATUS_FAILED, STATUS_INTERRUPTED, STATUS_CANCELLED = \
    "processing", "ready", "failed", "interrupted", "cancelled"
BUSY_TIMEOUT_S = 60  # worker processes write progress while another saves a long filing in one transaction


def connect(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(SCHEMA)
    for table, column, declaration in MIGRATIONS:
        if column not in {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    mark_interrupted(conn)
    return conn


def process_alive(pid: int | None) -> bool:
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

    Work of a live process, this one included, is left alone: it is still under way; so is a file
    in the queue, which a worker process reads again (`r1mm.workers`).
    """
    rows = conn.execute("SELECT id, worker_pid FROM files WHERE status = ? AND id NOT IN (SELECT file_id FROM queue)",
                        (STATUS_PROCESSING,)).fetchall()
    for row in rows:
        if not process_alive(row["worker_pid"]):
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
    """Write an item's data next to `path_stem`, as its modality keeps it; returns the path."""
    storage = modality_spec(item.modality).storage
    path = path_stem.with_suffix(storage.suffix)
    atomic_write(path, lambda tmp: storage.write(item, tmp))
    return path


def load_item_data(item: Item, path: Path) -> Item:
    """Fill `item.data` (and geometry, extra arrays) from what `save_item_data` wrote."""
    modality_spec(item.modality).storage.read(item, path)
    return item


def finding_json(f: Finding) -> str:
    return dumps(f.to_dict())


def answer_json(a: Answer) -> str:
    return dumps(a.to_dict())


# ---- records ---------------------------------------------------------------------------------

@dataclass
class WatchRun:
    """One run of a line watcher over a source: its counts so far and, once over, why it ended."""
    id: int
    source: str
    inspector: str
    pid: int | None
    started_at: float
    updated_at: float
    ended_at: float | None
    reason: str | None
    position: str | None  # the last frame inspected (a frame number or a file name): where a restart resumes
    frames_read: int
    frames_inspected: int
    frames_skipped: int  # read while the inspector was busy and passed over
    frames_unreadable: int
    alerts: int

    @property
    def running(self) -> bool:
        return self.ended_at is None and process_alive(self.pid)


@dataclass
class Alert:
    id: int
    run_id: int
    frame: str  # "frame 120" in a video or stream, the file name in a folder
    time_s: float | None  # position in the video or stream, seconds
    seen_at: float  # when it was inspected (seconds since the epoch)
    score: float
    threshold: float
    regions: list[dict[str, Any]]  # {"box": [x0, y0, x1, y1], "area_px", "score"}, most anomalous first
    frame_path: str
    heatmap_path: str


@dataclass
class FileRecord:
    id: int
    name: str
    status: str  # processing, ready, failed, interrupted, cancelled
    error: str | None
    size_bytes: int
    timings: dict[str, float]
    retryable: bool
    stage: str | None = None  # while processing: parsing, analysing, encoding, indexing
    progress: float = 0.0  # while processing: 0..1
    added_at: float = 0.0  # when the upload arrived (seconds since the epoch)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_READY


@dataclass
class QueuedFile:
    """A file waiting for a worker process, or being read by one (`r1mm.workers`)."""
    file_id: int
    path: str  # what to read: the workspace's kept upload, else the upload itself
    cleanup: str | None  # a folder to delete once the file is read (the upload's private folder)
    keep_phi: bool
    worker_pid: int | None
    attempts: int  # how many workers have taken it; one that died (a server killed, out of memory) leaves it


def _queued_file(row: sqlite3.Row) -> QueuedFile:
    return QueuedFile(row["file_id"], row["path"], row["cleanup"], bool(row["keep_phi"]), row["worker_pid"],
                      row["attempts"])


@dataclass
class ItemRecord:
    id: int
    file_id: int
    modality: Modality
    source: str
    meta: dict[str, Any]
    data_path: str | None


@dataclass
class Exchange:
    question: str
    answer: Answer
    created_at: float = field(default=0.0)


@dataclass
class ItemResult:
    """What processing one item produced, saved in one transaction with the other items of its file."""
    item: Item
    findings: list[Finding]
    data_path: str | None
    token_vectors: np.ndarray | None  # (n, d) in the shared space, one per locator
    token_locators: list[Locator]
    # retrievable text: (text, locator, index into `findings` or None, unit vector) per passage
    passages: list[tuple[str, Locator, int | None, np.ndarray]]


@dataclass
class StoredPassage:
    id: int
    item_id: int
    text: str
    locator: Locator
    finding: Finding | None
    vector: np.ndarray | None


@dataclass
class StoredToken:
    id: int
    item_id: int
    modality: Modality
    vector: np.ndarray
    locator: Locator


def _serialised(method):
    """One call at a time on the shared connection: threads (the app's upload workers, the API's
    requests) would otherwise interleave their transactions."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return locked


class Repository:
    """Every query of a workspace's database, safe to call from several threads. `generation`
    grows whenever items are added or removed, so readers that keep indexes in memory know when
    to catch up."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._lock = threading.RLock()

    @_serialised
    def close(self) -> None:
        self.conn.close()

    # ---- files -----------------------------------------------------------------------------
    @_serialised
    def insert_file(self, name: str, size_bytes: int) -> int:
        now = time.time()
        cur = self.conn.execute(
            "INSERT INTO files (name, size_bytes, status, stage, progress, worker_pid, added_at, updated_at) "
            "VALUES (?, ?, ?, 'queued', 0, ?, ?, ?)", (name, size_bytes, STATUS_PROCESSING, os.getpid(), now, now))
        return int(cur.lastrowid)

    @_serialised
    def file_name(self, file_id: int) -> str | None:
        row = self.conn.execute("SELECT name FROM files WHERE id = ?", (file_id,)).fetchone()
        return row["name"] if row else None

    @_serialised
    def upload_path(self, file_id: int) -> str | None:
        row = self.conn.execute("SELECT upload_path FROM files WHERE id = ?", (file_id,)).fetchone()
        return row["upload_path"] if row else None

    @_serialised
    def set_upload_path(self, file_id: int, path: str | None) -> None:
        self.conn.execute("UPDATE files SET upload_path = ? WHERE id = ?", (path, file_id))

    @_serialised
    def claim(self, file_id: int) -> None:
        """This process works on the file now (a crash of it marks the file interrupted)."""
        self.conn.execute("UPDATE files SET worker_pid = ? WHERE id = ?", (os.getpid(), file_id))

    @_serialised
    def reset_for_retry(self, file_id: int) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("DELETE FROM items WHERE file_id = ?", (file_id,))
            self.conn.execute("UPDATE files SET status = ?, error = NULL, stage = 'queued', progress = 0, "
                              "worker_pid = ?, updated_at = ? WHERE id = ?",
                              (STATUS_PROCESSING, os.getpid(), time.time(), file_id))
            self._bump()

    @_serialised
    def delete_file(self, file_id: int) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("DELETE FROM files WHERE id = ?", (file_id,))
            self._bump()

    # ---- the queue that worker processes read files from (`r1mm.workers`) ------------------------
    @_serialised
    def enqueue(self, file_id: int, path: str, cleanup: str | None, keep_phi: bool) -> None:
        self.conn.execute("INSERT OR REPLACE INTO queue (file_id, path, cleanup, keep_phi, attempts, queued_at) "
                          "VALUES (?, ?, ?, ?, 0, ?)", (file_id, path, cleanup, int(keep_phi), time.time()))

    @_serialised
    def queued(self) -> list[QueuedFile]:
        return [_queued_file(r) for r in self.conn.execute("SELECT * FROM queue ORDER BY file_id").fetchall()]

    @_serialised
    def take_next(self, pid: int) -> QueuedFile | None:
        """The first queued file no live process holds, now held by `pid` (one transaction, so two
        workers never take the same file)."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            for r in self.conn.execute("SELECT * FROM queue ORDER BY file_id").fetchall():
                if process_alive(r["worker_pid"]):
                    continue
                self.conn.execute("UPDATE queue SET worker_pid = ?, attempts = attempts + 1 WHERE file_id = ?",
                                  (pid, r["file_id"]))
                self.conn.execute("UPDATE files SET worker_pid = ? WHERE id = ?", (pid, r["file_id"]))
                return _queued_file(self.conn.execute("SELECT * FROM queue WHERE file_id = ?", (r["file_id"],)).fetchone())
        return None

    @_serialised
    def dequeue(self, file_id: int) -> None:
        self.conn.execute("DELETE FROM queue WHERE file_id = ?", (file_id,))

    @_serialised
    def cancel(self, file_id: int, reason: str) -> QueuedFile | None:
        """Take the file off the queue and mark it cancelled if it is still processing; whatever a
        worker saved of it goes. Returns its queue entry (which worker held it), None if it had none."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            r = self.conn.execute("SELECT * FROM queue WHERE file_id = ?", (file_id,)).fetchone()
            self.conn.execute("DELETE FROM queue WHERE file_id = ?", (file_id,))
            self.conn.execute("UPDATE files SET status = ?, error = ?, stage = NULL, progress = 0, updated_at = ? "
                              "WHERE id = ? AND status = ?",
                              (STATUS_CANCELLED, reason, time.time(), file_id, STATUS_PROCESSING))
            self.conn.execute("DELETE FROM items WHERE file_id = ? AND (SELECT status FROM files WHERE id = ?) = ?",
                              (file_id, file_id, STATUS_CANCELLED))
            self._bump()
        return None if r is None else _queued_file(r)

    @_serialised
    def set_stage(self, file_id: int, stage: str, fraction: float) -> None:
        self.conn.execute("UPDATE files SET stage = ?, progress = ?, updated_at = ? WHERE id = ?",
                          (stage, fraction, time.time(), file_id))

    @_serialised
    def finish(self, file_id: int, status: str, error: str | None, timings: dict[str, float]) -> None:
        # only work under way finishes: a file cancelled meanwhile stays cancelled
        self.conn.execute("UPDATE files SET status = ?, error = ?, timings_json = ?, stage = NULL, progress = ?, "
                          "updated_at = ? WHERE id = ? AND status = ?",
                          (status, error, dumps(timings), 1.0 if status == STATUS_READY else 0.0, time.time(),
                           file_id, STATUS_PROCESSING))

    @_serialised
    def files(self, file_id: int | None = None) -> list[FileRecord]:
        sql, args = "SELECT * FROM files", ()
        if file_id is not None:
            sql, args = sql + " WHERE id = ?", (file_id,)
        return [FileRecord(r["id"], r["name"], r["status"], r["error"], r["size_bytes"] or 0,
                           json.loads(r["timings_json"] or "{}"),
                           bool(r["upload_path"]) and Path(r["upload_path"]).exists(),
                           r["stage"], r["progress"] or 0.0, r["added_at"])
                for r in self.conn.execute(sql + " ORDER BY id", args).fetchall()]

    # ---- items, findings and what is retrieved from them ----------------------------------
    @_serialised
    def items(self, file_id: int | None = None, item_id: int | None = None) -> list[ItemRecord]:
        sql, args = "SELECT * FROM items", ()
        if file_id is not None:
            sql, args = sql + " WHERE file_id = ?", (file_id,)
        elif item_id is not None:
            sql, args = sql + " WHERE id = ?", (item_id,)
        return [ItemRecord(r["id"], r["file_id"], Modality(r["modality"]), r["source"], json.loads(r["meta_json"]),
                           r["data_path"]) for r in self.conn.execute(sql + " ORDER BY id", args).fetchall()]

    @_serialised
    def findings(self, item_id: int | None = None, file_ids: list[int] | None = None) -> list[Finding]:
        sql, args = "SELECT f.finding_json FROM findings f JOIN items i ON i.id = f.item_id", []
        if item_id is not None:
            sql += " WHERE f.item_id = ?"
            args.append(item_id)
        elif file_ids is not None:
            sql += f" WHERE i.file_id IN ({','.join('?' * len(file_ids))})"
            args += list(file_ids)
        return [Finding.from_dict(json.loads(r[0])) for r in self.conn.execute(sql + " ORDER BY f.id", args)]

    @_serialised
    def save_results(self, file_id: int, results: list[ItemResult]) -> list[int]:
        """All items of a file with their findings, tokens and passages, in one transaction (or none)."""
        with self.conn:
            self.conn.execute("BEGIN")
            ids = [self._insert_item(file_id, r) for r in results]
            self._bump()
        return ids

    @_serialised
    def replace_item(self, item_id: int, file_id: int, result: ItemResult) -> int:
        """An item analysed again (e.g. by a new line inspector), saved in place of the old one under a
        new id, so readers that keep the workspace in memory drop the old findings and pick up the new."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
            new_id = self._insert_item(file_id, result)
            self._bump()
        return new_id

    def _insert_item(self, file_id: int, r: ItemResult) -> int:
        cur = self.conn.execute(
            "INSERT INTO items (file_id, modality, source, meta_json, data_path, indexed) VALUES (?, ?, ?, ?, ?, 1)",
            (file_id, r.item.modality.value, r.item.source, dumps(_meta_with_geometry(r.item)), r.data_path))
        item_id = int(cur.lastrowid)
        finding_ids = [int(self.conn.execute(
            "INSERT INTO findings (item_id, kind, finding_json) VALUES (?, ?, ?)",
            (item_id, f.kind, finding_json(f))).lastrowid) for f in r.findings]
        if r.token_vectors is not None:
            self.conn.executemany(
                "INSERT INTO tokens (item_id, vector, locator_json) VALUES (?, ?, ?)",
                [(item_id, v.astype(np.float32).tobytes(), json.dumps(loc.to_dict()))
                 for v, loc in zip(r.token_vectors, r.token_locators)])
        self._insert_passages(item_id, finding_ids, r.passages)
        return item_id

    @_serialised
    def unindexed_items(self) -> list[ItemRecord]:
        """Items saved before passages were kept in the database (workspaces of older versions)."""
        rows = self.conn.execute("SELECT id FROM items WHERE indexed = 0 ORDER BY id").fetchall()
        return [rec for r in rows for rec in self.items(item_id=r["id"])]

    @_serialised
    def finding_ids(self, item_id: int) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT id FROM findings WHERE item_id = ? ORDER BY id", (item_id,))]

    @_serialised
    def save_passages(self, item_id: int, passages: list[tuple[str, Locator, int | None, np.ndarray]]) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("DELETE FROM passages WHERE item_id = ?", (item_id,))
            self._insert_passages(item_id, self.finding_ids(item_id), passages)
            self.conn.execute("UPDATE items SET indexed = 1 WHERE id = ?", (item_id,))
            self._bump()

    def _insert_passages(self, item_id: int, finding_ids: list[int],
                         passages: list[tuple[str, Locator, int | None, np.ndarray]]) -> None:
        self.conn.executemany(
            "INSERT INTO passages (item_id, finding_id, text, locator_json, vector) VALUES (?, ?, ?, ?, ?)",
            [(item_id, None if k is None else finding_ids[k], text, json.dumps(loc.to_dict()),
              None if vector is None else np.asarray(vector, np.float32).tobytes())
             for text, loc, k, vector in passages])

    # ---- what readers keep in memory, caught up by id ------------------------------------
    @_serialised
    def generation(self) -> int:
        row = self.conn.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()
        return row[0] if row else 0

    def _bump(self) -> None:
        self.conn.execute("INSERT INTO state (key, value) VALUES ('generation', 1) "
                          "ON CONFLICT(key) DO UPDATE SET value = value + 1")

    @_serialised
    def item_files(self) -> dict[int, int]:
        """item id -> file id, for every item of the workspace."""
        return {r[0]: r[1] for r in self.conn.execute("SELECT id, file_id FROM items")}

    @_serialised
    def findings_after(self, last_id: int) -> list[tuple[int, int, Finding]]:
        return [(r[0], r[1], Finding.from_dict(json.loads(r[2]))) for r in self.conn.execute(
            "SELECT id, item_id, finding_json FROM findings WHERE id > ? ORDER BY id", (last_id,))]

    @_serialised
    def passages_after(self, last_id: int) -> list[StoredPassage]:
        rows = self.conn.execute(
            "SELECT p.id, p.item_id, p.text, p.locator_json, p.vector, f.finding_json FROM passages p "
            "LEFT JOIN findings f ON f.id = p.finding_id WHERE p.id > ? ORDER BY p.id", (last_id,))
        return [StoredPassage(r[0], r[1], r[2], Locator.from_dict(json.loads(r[3])),
                              Finding.from_dict(json.loads(r[5])) if r[5] else None,
                              np.frombuffer(r[4], np.float32) if r[4] is not None else None) for r in rows]

    @_serialised
    def tokens_after(self, last_id: int) -> list[StoredToken]:
        rows = self.conn.execute(
            "SELECT t.id, t.item_id, i.modality, t.vector, t.locator_json FROM tokens t "
            "JOIN items i ON i.id = t.item_id WHERE t.id > ? ORDER BY t.id", (last_id,))
        return [StoredToken(r[0], r[1], Modality(r[2]), np.frombuffer(r[3], np.float32),
                            Locator.from_dict(json.loads(r[4]))) for r in rows]

    # ---- line watching ---------------------------------------------------------------------
    @_serialised
    def start_run(self, source: str, inspector: str) -> int:
        now = time.time()
        return int(self.conn.execute(
            "INSERT INTO watch_runs (source, inspector, pid, started_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (source, inspector, os.getpid(), now, now)).lastrowid)

    @_serialised
    def update_run(self, run_id: int, *, position: str | None, read: int, inspected: int, skipped: int,
                   unreadable: int) -> None:
        self.conn.execute("UPDATE watch_runs SET position = COALESCE(?, position), frames_read = ?, "
                          "frames_inspected = ?, frames_skipped = ?, frames_unreadable = ?, updated_at = ? "
                          "WHERE id = ?", (position, read, inspected, skipped, unreadable, time.time(), run_id))

    @_serialised
    def end_run(self, run_id: int, reason: str) -> None:
        self.conn.execute("UPDATE watch_runs SET ended_at = ?, reason = ?, updated_at = ? WHERE id = ?",
                          (time.time(), reason, time.time(), run_id))

    @_serialised
    def add_alert(self, run_id: int, frame: str, time_s: float | None, score: float, threshold: float,
                  regions: list[dict[str, Any]], frame_path: str, heatmap_path: str) -> int:
        """One alert, committed at once: a watcher killed a moment later has not lost it."""
        with self.conn:
            self.conn.execute("BEGIN")
            alert_id = int(self.conn.execute(
                "INSERT INTO alerts (run_id, frame, time_s, seen_at, score, threshold, regions_json, frame_path, "
                "heatmap_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, frame, time_s, time.time(), score, threshold, dumps(regions), frame_path,
                 heatmap_path)).lastrowid)
            self.conn.execute("UPDATE watch_runs SET alerts = alerts + 1 WHERE id = ?", (run_id,))
        return alert_id

    @_serialised
    def runs(self, source: str | None = None) -> list[WatchRun]:
        sql, args = "SELECT * FROM watch_runs", ()
        if source is not None:
            sql, args = sql + " WHERE source = ?", (source,)
        return [WatchRun(**dict(r)) for r in self.conn.execute(sql + " ORDER BY id DESC", args).fetchall()]

    @_serialised
    def alerts(self, run_id: int | None = None, limit: int = 200) -> list[Alert]:
        sql, args = "SELECT * FROM alerts", ()
        if run_id is not None:
            sql, args = sql + " WHERE run_id = ?", (run_id,)
        rows = self.conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [Alert(**{k: r[k] for k in r.keys() if k != "regions_json"}, regions=json.loads(r["regions_json"]))
                for r in rows]

    # ---- answers ---------------------------------------------------------------------------
    @_serialised
    def remember(self, question: str, answer: Answer) -> None:
        self.conn.execute("INSERT INTO answers (question, answer_json, created_at) VALUES (?, ?, ?)",
                          (question, answer_json(answer), time.time()))

    @_serialised
    def history(self) -> list[Exchange]:
        out = []
        for r in self.conn.execute("SELECT question, answer_json, created_at FROM answers ORDER BY id").fetchall():
            d = json.loads(r["answer_json"])
            answer = Answer(d["answer"], [Evidence.from_dict(e) for e in d["evidence"]], d.get("routing", {}),
                            d.get("timings", {}), d.get("model", ""))
            out.append(Exchange(r["question"], answer, r["created_at"]))
        return out


def _meta_with_geometry(item: Item) -> dict[str, Any]:
    meta = dict(item.meta)
    if item.spacing_mm is not None:
        meta["spacing_mm"] = [float(v) for v in item.spacing_mm]
    return meta
