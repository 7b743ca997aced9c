"""The workspace: files in, findings and answers out, all of it kept in one folder.

    ws = Workspace("my-analysis")          # or Workspace() for a throw-away, in-memory one
    ws.add("report.pdf"); ws.add("ct_series.zip")
    answer = ws.ask("How large is the largest nodule?")

The app, the CLI and the HTTP API are three faces of this class. A file that cannot be
read is recorded as failed with its reason; it never disturbs the other files.
"""
from __future__ import annotations

import json
import logging

import numpy as np
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1mm import store
from r1mm.analysis import analyze
from r1mm.analysis.finance import cross_check
from r1mm.decoder.extractive import NO_MODEL_NOTE, answer_from_findings
from r1mm.decoder.grounded import NO_CITATION, Draft, GroundedDecoder, check_grounding, evidence_holding_numbers
from r1mm.errors import IngestError, R1Error
from r1mm.ingest import Limits, load, sniff
from r1mm.ingest.sniff import CT_FORMATS
from r1mm.latent.index import HybridIndex, Passage, passages_of
from r1mm.encoders import encode
from r1mm.types import Answer, Evidence, Finding, Item, Locator, Modality, Tokens

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]  # (stage, fraction done 0..1)
# Cosine similarity above which a media token is offered as evidence for a question no finding answers.
MEDIA_MIN_SIMILARITY = 0.5

# What runs behind each part of an answer, shown to the user as is.
COMPONENTS: list[tuple[str, str]] = [
    ("Evidence", "findings that answer the question, else retrieved passages; cited as [E1], [E2], …"),
    ("Documents", "pdfplumber text and tables, page and cell boxes"),
    ("CT", "HU thresholds and 3-D connected components (scipy) on the de-identified volume"),
    ("Speech", "Whisper base (MIT, 145 MB, faster-whisper int8) with word timestamps; spoken figures heard "
               "again by Whisper tiny.en (MIT, 75 MB); voices told apart by pitch"),
    ("Claims", "figures stated on the call checked against the report's tables"),
    ("Point clouds", "RANSAC plane fit and per-point deviation (numpy)"),
    ("Retrieval", "BM25 keywords fused with all-MiniLM-L6-v2 sentence embeddings (Apache-2.0, 91 MB)"),
    ("Shared space", "image: EfficientNet-Lite0; audio: Whisper base encoder; CT: Merlin/Astra I3ResNet-152; "
                     "point clouds: FPFH + local shape; each projected into the text space (384-d)"),
]


@dataclass
class Match:
    """A token found by cross-modal search."""
    score: float  # cosine similarity in the shared space
    modality: Modality
    locator: Locator
    vector: np.ndarray | None = field(default=None, repr=False)  # the token in the shared space


@dataclass
class FileRecord:
    id: int
    name: str
    status: str  # processing, ready, failed, interrupted
    error: str | None
    size_bytes: int
    timings: dict[str, float]
    retryable: bool
    stage: str | None = None  # while processing: parsing, analysing, indexing
    progress: float = 0.0  # while processing: 0..1

    @property
    def ok(self) -> bool:
        return self.status == store.STATUS_READY


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


class Workspace:
    """Files, items, findings and answers, persisted under `root` (SQLite in WAL mode).

    Args:
        root: folder to keep the workspace in; None keeps everything in memory.
        keep_phi: keep DICOM patient identifiers (off: they are removed on ingest).
        limits: input limits; defaults to `Limits.from_env()`.
        decoder: writes the answers; None composes them from the findings alone.
        projectors: tower name -> projector into the shared space, e.g. a fine-tune's
            (`R1Model.workspace()`); towers not named use the cached ones.
    """

    def __init__(self, root: Path | str | None = None, *, keep_phi: bool = False,
                 limits: Limits | None = None, decoder: GroundedDecoder | None = None,
                 projectors: dict | None = None):
        self.keep_phi = keep_phi
        self.decoder = decoder  # None: answers are composed from findings alone
        self.projectors = projectors
        self.limits = limits or Limits.from_env()
        self.root = Path(root) if root is not None else None
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)
            self._db = store.connect(self.root / "workspace.sqlite")
        else:
            self._db = store.connect(":memory:")
        self._loaded: dict[int, Item] = {}  # item id -> item with data, kept for this process

    # ---- files -------------------------------------------------------------------------
    def add(self, path: Path | str, name: str | None = None, progress: Progress | None = None) -> FileRecord:
        """Ingest and analyse one file, folder or zip; failures are recorded, not raised."""
        file_id, source = self.register(path, name)
        return self.process(file_id, source, progress)

    def register(self, path: Path | str, name: str | None = None) -> tuple[int, Path]:
        """Record a file as processing (so every view lists it at once); returns (file id, path to process).

        The path is the workspace's kept copy where one is kept, else `path` itself.
        """
        path = Path(path)
        name = name or path.name
        now = time.time()
        cur = self._db.execute(
            "INSERT INTO files (name, size_bytes, status, stage, progress, worker_pid, added_at, updated_at) "
            "VALUES (?, ?, ?, 'queued', 0, ?, ?, ?)",
            (name, _size_of(path), store.STATUS_PROCESSING, os.getpid(), now, now))
        file_id = int(cur.lastrowid)
        return file_id, self._keep_upload(file_id, path, name) or path

    def process(self, file_id: int, path: Path, progress: Progress | None = None) -> FileRecord:
        """Parse, analyse and index a registered file (this may take a while: run it off the UI thread)."""
        row = self._db.execute("SELECT name FROM files WHERE id = ?", (file_id,)).fetchone()
        self._db.execute("UPDATE files SET worker_pid = ? WHERE id = ?", (os.getpid(), file_id))
        return self._process(file_id, Path(path), row["name"], progress)

    def retry(self, file_id: int, progress: Progress | None = None) -> FileRecord:
        """Process a failed or interrupted file again from its kept upload."""
        return self.process(file_id, self.prepare_retry(file_id), progress)

    def prepare_retry(self, file_id: int) -> Path:
        """Mark a failed or interrupted file as processing again; returns the kept upload to process."""
        row = self._db.execute("SELECT name, upload_path FROM files WHERE id = ?", (file_id,)).fetchone()
        if row is None or not row["upload_path"] or not Path(row["upload_path"]).exists():
            raise IngestError(row["name"] if row else f"file {file_id}",
                              "cannot be retried: its upload was not kept; add the file again")
        self._db.execute("DELETE FROM items WHERE file_id = ?", (file_id,))
        self._db.execute("UPDATE files SET status = ?, error = NULL, stage = 'queued', progress = 0, "
                         "worker_pid = ?, updated_at = ? WHERE id = ?",
                         (store.STATUS_PROCESSING, os.getpid(), time.time(), file_id))
        return Path(row["upload_path"])

    def remove(self, file_id: int) -> None:
        for item in self.items(file_id=file_id):
            self._loaded.pop(item.id, None)
            if item.data_path:
                Path(item.data_path).unlink(missing_ok=True)
        row = self._db.execute("SELECT upload_path FROM files WHERE id = ?", (file_id,)).fetchone()
        if row and row["upload_path"]:
            _remove_path(Path(row["upload_path"]))
        self._db.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def files(self) -> list[FileRecord]:
        rows = self._db.execute("SELECT * FROM files ORDER BY id").fetchall()
        return [FileRecord(r["id"], r["name"], r["status"], r["error"], r["size_bytes"] or 0,
                           json.loads(r["timings_json"] or "{}"),
                           bool(r["upload_path"]) and Path(r["upload_path"]).exists(),
                           r["stage"], r["progress"] or 0.0) for r in rows]

    def file(self, file_id: int) -> FileRecord:
        return next(f for f in self.files() if f.id == file_id)

    # ---- items and findings ------------------------------------------------------------
    def items(self, file_id: int | None = None) -> list[ItemRecord]:
        sql, args = "SELECT * FROM items", ()
        if file_id is not None:
            sql, args = sql + " WHERE file_id = ?", (file_id,)
        rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [ItemRecord(r["id"], r["file_id"], Modality(r["modality"]), r["source"],
                           json.loads(r["meta_json"]), r["data_path"]) for r in rows]

    def item(self, item_id: int) -> Item:
        """The item with its data (volume, document, waveform…), loaded once per process."""
        if item_id not in self._loaded:
            rec = next((i for i in self.items() if i.id == item_id), None)
            if rec is None or not rec.data_path:
                raise KeyError(f"item {item_id} has no stored data")
            item = Item(rec.modality, rec.source, None, dict(rec.meta))
            self._loaded[item_id] = store.load_item_data(item, Path(rec.data_path))
        return self._loaded[item_id]

    def item_by_source(self, source: str) -> ItemRecord | None:
        """The item an evidence locator's `source` names (the newest, if added twice)."""
        matches = [i for i in self.items() if i.source == source]
        return matches[-1] if matches else None

    def findings(self, item_id: int | None = None, file_ids: list[int] | None = None) -> list[Finding]:
        """Findings of one item, of some files, or of the whole workspace."""
        sql, args = "SELECT f.finding_json FROM findings f JOIN items i ON i.id = f.item_id", []
        if item_id is not None:
            sql += " WHERE f.item_id = ?"
            args.append(item_id)
        elif file_ids is not None:
            sql += f" WHERE i.file_id IN ({','.join('?' * len(file_ids))})"
            args += list(file_ids)
        return [Finding.from_dict(json.loads(r[0]))
                for r in self._db.execute(sql + " ORDER BY f.id", args).fetchall()]

    # ---- questions ---------------------------------------------------------------------
    def ask(self, question: str, file_ids: list[int] | None = None) -> Answer:
        """Answer a question from the workspace's evidence (or only these files'), and remember it."""
        stream = self.ask_stream(question, file_ids)
        for _ in stream:
            pass
        return stream.answer

    def ask_stream(self, question: str, file_ids: list[int] | None = None) -> AnswerStream:
        """An answer to show as it is written: iterate for text pieces, then read ``.answer``.

        The evidence is chosen first (findings that answer the question, else retrieval); with a
        decoder, it writes the answer from that evidence and the answer is kept only if the
        grounding check passes. Without one, the findings-only answer comes sentence by sentence.
        """
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        t0 = time.perf_counter()
        findings = self.findings(file_ids=file_ids)
        findings += cross_check(findings)  # spoken claims against report figures, across files
        passages = [Passage(f.text, f.locator, f) for f in findings]
        for rec in self.items():
            if file_ids is not None and rec.file_id not in file_ids:
                continue
            if rec.modality is Modality.TEXT and (rec.data_path or rec.id in self._loaded):
                passages += passages_of(self.item(rec.id))
        retrieval_s = 0.0

        def retrieve():
            nonlocal retrieval_s
            start = time.perf_counter()
            hits = [(p.text, p.locator, s, p.finding) for p, s in HybridIndex(passages).search(question, k=5)]
            # Media regions close to the question in the shared space come first when they are close
            # enough; documents are ranked by the hybrid keyword + embedding index.
            media = [(f"A {m.modality.value} region that matches the question (similarity {m.score:.2f})",
                      m.locator, m.score, None, m.vector)
                     for m in self.search(question, k=2, file_ids=file_ids) if m.score >= MEDIA_MIN_SIMILARITY]
            retrieval_s = time.perf_counter() - start
            return media + hits

        t1 = time.perf_counter()
        base = answer_from_findings(question, findings, retrieve)
        t2 = time.perf_counter()
        base.timings = {"gather_s": round(t1 - t0, 4), "retrieve_s": round(retrieval_s, 4),
                        "evidence_s": round(t2 - t1 - retrieval_s, 4), "total_s": round(t2 - t0, 4)}
        return AnswerStream(self, question, base)

    def search(self, question: str, k: int = 5, file_ids: list[int] | None = None) -> list[Match]:
        """The media tokens (image cells, audio spans, CT cells, point-cloud regions) nearest to a
        question in the shared space, best first, with cosine similarity."""
        from r1mm.encoders.text import embed

        sql = ("SELECT t.vector, t.locator_json, i.modality, i.file_id FROM tokens t "
               "JOIN items i ON i.id = t.item_id")
        rows = self._db.execute(sql).fetchall()
        rows = [r for r in rows if file_ids is None or r[3] in file_ids]
        if not rows:
            return []
        vectors = np.stack([np.frombuffer(r[0], np.float32) for r in rows])
        scores = vectors @ embed([question])[0]
        best = np.argsort(-scores)[:k]
        return [Match(float(scores[i]), Modality(rows[i][2]), Locator.from_dict(json.loads(rows[i][1])), vectors[i])
                for i in best]

    def _remember(self, question: str, answer: Answer) -> None:
        self._db.execute("INSERT INTO answers (question, answer_json, created_at) VALUES (?, ?, ?)",
                         (question, store.answer_json(answer), time.time()))

    def compare_to_reference(self, item_id: int, reference_id: int) -> list[Finding]:
        """A scanned part against a reference scan or mesh (ICP-aligned): its deviations as findings."""
        from r1mm.analysis.geometry import compare_to_reference

        scan, reference = self.item(item_id), self.item(reference_id)
        if {scan.modality, reference.modality} != {Modality.POINTCLOUD}:
            raise ValueError("both items must be point clouds")
        return compare_to_reference(scan.data, reference.data, scan.source, scan.meta.get("units", "units"))

    def claim_checks(self) -> list[Finding]:
        """Every spoken claim of the workspace's calls held against its reports' figures."""
        return cross_check(self.findings())

    def history(self) -> list[Exchange]:
        rows = self._db.execute("SELECT question, answer_json, created_at FROM answers ORDER BY id").fetchall()
        out = []
        for r in rows:
            d = json.loads(r["answer_json"])
            answer = Answer(d["answer"], [Evidence.from_dict(e) for e in d["evidence"]], d.get("routing", {}),
                            d.get("timings", {}), d.get("model", ""))
            out.append(Exchange(r["question"], answer, r["created_at"]))
        return out

    def close(self) -> None:
        self._db.close()

    # ---- internals ---------------------------------------------------------------------
    def _keep_upload(self, file_id: int, path: Path, name: str) -> Path | None:
        """Copy the upload into the workspace so a failed or interrupted file can be retried.

        DICOM uploads are not kept: they carry patient identifiers.
        """
        if self.root is None or not path.exists():
            return None
        if not self.keep_phi and (path.is_dir() or sniff(path) in CT_FORMATS):
            return None
        dest = self.root / "uploads" / f"{file_id}_{_safe_name(name)}"
        store.atomic_write(dest, lambda tmp: shutil.copyfile(path, tmp))
        self._db.execute("UPDATE files SET upload_path = ? WHERE id = ?", (str(dest), file_id))
        return dest

    def _process(self, file_id: int, path: Path, name: str, progress: Progress | None) -> FileRecord:
        def report(stage: str, fraction: float) -> None:
            self._db.execute("UPDATE files SET stage = ?, progress = ?, updated_at = ? WHERE id = ?",
                             (stage, fraction, time.time(), file_id))
            if progress is not None:
                progress(stage, fraction)

        timings: dict[str, float] = {}
        try:
            report("parsing", 0.1)
            t0 = time.perf_counter()
            items = load(path, source=name, limits=self.limits, keep_phi=self.keep_phi)
            timings["parse_s"] = round(time.perf_counter() - t0, 3)
            report("analysing", 0.5)
            t0 = time.perf_counter()
            analysed = [(item, analyze(item)) for item in items]
            timings["analyse_s"] = round(time.perf_counter() - t0, 3)
            report("encoding", 0.7)
            t0 = time.perf_counter()
            tokens = [self._encode(item) for item, _ in analysed]
            timings["encode_s"] = round(time.perf_counter() - t0, 3)
            report("indexing", 0.9)
            self._save(file_id, analysed, path, tokens)
        except IngestError as exc:
            log.info("file %d failed: %s", file_id, exc.reason)
            self._finish(file_id, store.STATUS_FAILED, str(exc), timings)
            return self.file(file_id)
        except Exception as exc:  # an analysis bug must not take the workspace down
            log.exception("file %d: unexpected error", file_id)
            self._finish(file_id, store.STATUS_FAILED,
                         f"{name}: internal error while analysing ({type(exc).__name__}: {exc})", timings)
            return self.file(file_id)
        self._finish(file_id, store.STATUS_READY, None, timings, drop_upload=True)
        if progress is not None:
            progress("ready", 1.0)  # the row's stage stays NULL: stages are for work under way
        return self.file(file_id)

    def _encode(self, item: Item) -> Tokens | None:
        """Tokens in the shared space; a failing encoder costs only cross-modal search, never the file."""
        try:
            return encode(item, self.projectors)
        except Exception:
            log.warning("%s: could not encode into the shared space", item.source, exc_info=True)
            return None

    def _save(self, file_id: int, analysed: list[tuple[Item, list[Finding]]], path: Path,
              tokens: list[Tokens | None]) -> None:
        data_paths = []
        for k, (item, _) in enumerate(analysed):
            if self.root is None:
                data_paths.append(None)
                continue
            stem = self.root / "items" / f"{file_id}_{k}"
            data_paths.append(str(store.save_item_data(item, stem)))
            if item.meta.get("format") == "pdf":  # kept to show pages as evidence; reports carry no PHI
                pdf = stem.with_suffix(".pdf")
                store.atomic_write(pdf, lambda tmp: shutil.copyfile(path, tmp))
                item.meta["pdf_path"] = str(pdf)
        with self._db:  # one transaction: all items and findings of the file, or none
            self._db.execute("BEGIN")
            for (item, findings), data_path, item_tokens in zip(analysed, data_paths, tokens):
                cur = self._db.execute(
                    "INSERT INTO items (file_id, modality, source, meta_json, data_path) VALUES (?, ?, ?, ?, ?)",
                    (file_id, item.modality.value, item.source, store.dumps(_meta_with_geometry(item)),
                     data_path))
                item_id = int(cur.lastrowid)
                self._db.executemany("INSERT INTO findings (item_id, kind, finding_json) VALUES (?, ?, ?)",
                                     [(item_id, f.kind, store.finding_json(f)) for f in findings])
                if item_tokens is not None:
                    vectors = item_tokens.latent.numpy().astype(np.float32)
                    self._db.executemany(
                        "INSERT INTO tokens (item_id, vector, locator_json) VALUES (?, ?, ?)",
                        [(item_id, v.tobytes(), json.dumps(loc.to_dict())) for v, loc in zip(vectors, item_tokens.locators)])
                if data_path is not None or self.root is None:
                    self._loaded[item_id] = item

    def _finish(self, file_id: int, status: str, error: str | None, timings: dict[str, float],
                drop_upload: bool = False) -> None:
        if drop_upload:
            row = self._db.execute("SELECT upload_path FROM files WHERE id = ?", (file_id,)).fetchone()
            if row and row["upload_path"]:
                Path(row["upload_path"]).unlink(missing_ok=True)
                self._db.execute("UPDATE files SET upload_path = NULL WHERE id = ?", (file_id,))
        self._db.execute("UPDATE files SET status = ?, error = ?, timings_json = ?, stage = NULL, progress = ?, "
                         "updated_at = ? WHERE id = ?",
                         (status, error, store.dumps(timings), 1.0 if status == store.STATUS_READY else 0.0,
                          time.time(), file_id))


def _meta_with_geometry(item: Item) -> dict[str, Any]:
    meta = dict(item.meta)
    if item.spacing_mm is not None:
        meta["spacing_mm"] = [float(v) for v in item.spacing_mm]
    return meta


def _size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def _safe_name(name: str) -> str:
    """A file name that stays inside the uploads folder, whatever the browser sent."""
    base = Path(name.replace("\\", "/")).name
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in base).lstrip(".")
    return cleaned[:120] or "upload"


def _remove_path(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class AnswerStream:
    """Text pieces of an answer as they are written; ``answer`` is set (and saved) once they end."""

    def __init__(self, workspace: Workspace, question: str, base: Answer):
        self._ws, self.question, self._base = workspace, question, base
        self.answer: Answer | None = None
        self.replaced: str | None = None  # why a decoder draft was not used, if it was not
        self.cited_for_decoder: str | None = None  # the evidence id added to a draft that cited none

    def __iter__(self) -> Iterator[str]:
        base, decoder = self._base, self._ws.decoder
        if decoder is None or not base.evidence:
            yield from re.findall(r"[^.!?]+[.!?]?\s*(?:\[E\d+\]\s*)?", base.text) or [base.text]
            self._finish(base)
            return
        draft, failure = Draft(), None
        try:
            yield from decoder.stream(self.question, base.evidence, draft)
        except R1Error as exc:  # a decoder server down or failing: the findings still answer
            log.warning("decoder failed: %s", exc)
            failure = f"the decoder failed: {exc}"
        timings = dict(base.timings, decode_s=round(draft.seconds, 3),
                       total_s=round(base.timings["total_s"] + draft.seconds, 3),
                       tokens_per_s=round(draft.tokens / draft.seconds, 2) if draft.seconds else 0.0)
        reason = failure or check_grounding(draft.text, self.question, base.evidence)
        if reason == NO_CITATION:
            # A sentence whose numbers all stand in one evidence line is cited to that line, then
            # checked like any other (sides and units included); a 270M model often omits the id.
            source = evidence_holding_numbers(draft.text, self.question, base.evidence)
            if source is not None:
                cited = f"{draft.text.rstrip()} [{source.id}]"
                reason = check_grounding(cited, self.question, base.evidence)
                if reason is None:
                    yield cited[len(draft.text):]
                    draft.text, self.cited_for_decoder = cited, source.id
        if reason is None:
            self._finish(Answer(draft.text, base.evidence, draft.routing, timings, decoder.name))
        else:
            self.replaced = reason
            log.info("decoder draft not used: %s", reason)
            note = f"the language model's draft was not used: {reason}"
            self._finish(Answer(base.text.replace(NO_MODEL_NOTE, note), base.evidence, draft.routing, timings,
                                f"findings only ({decoder.name} draft rejected)"))

    def _finish(self, answer: Answer) -> None:
        self.answer = answer
        self._ws._remember(self.question, answer)
