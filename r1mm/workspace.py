"""The workspace: files in, findings and answers out, all of it kept in one folder.

    ws = Workspace("my-analysis")          # or Workspace() for a throw-away, in-memory one
    ws.add("report.pdf"); ws.add("ct_series.zip")
    answer = ws.ask("How large is the largest nodule?")

The app, the CLI and the HTTP API are three faces of this class. It is a thin facade over the
store (`store.Repository`: every query), the pipeline (`pipeline.process`: ingest → analyse →
encode → index) and answering (`answering.Answerer`: evidence, decoder, fallback). A file that
cannot be read is recorded as failed with its reason; it never disturbs the other files.
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from r1mm import pipeline, store
from r1mm.analysis.calls import cross_check
from r1mm.answering import MEDIA_MIN_SIMILARITY, Answerer, AnswerStream, Match
from r1mm.decoder.grounded import GroundedDecoder
from r1mm.errors import IngestError
from r1mm.ingest import Limits, sniff
from r1mm.modalities import modality_spec, spec_for_format
from r1mm.pipeline import Progress
from r1mm.store import Exchange, FileRecord, ItemRecord
from r1mm.types import Answer, Finding, Item, Modality

__all__ = ["Workspace", "FileRecord", "ItemRecord", "Exchange", "Match", "AnswerStream", "Progress", "COMPONENTS",
           "MEDIA_MIN_SIMILARITY"]

log = logging.getLogger(__name__)

LINE_INSPECTOR = "line.inspector"  # the folder in a workspace that holds its production line's inspector

# What runs behind each part of an answer, shown to the user as is.
COMPONENTS: list[tuple[str, str]] = [
    ("Evidence", "findings that answer the question, else retrieved passages; cited as [E1], [E2], …"),
    ("Documents", "PDF characters and drawings read by PDFium (pypdfium2); words, text, tables, page and cell "
                  "boxes by pdfplumber; EDGAR inline XBRL by its tags"),
    ("CT", "HU thresholds and 3-D connected components (scipy) on the de-identified volume"),
    ("Speech", "Whisper base (MIT, 145 MB, faster-whisper int8) with word timestamps; spoken figures heard "
               "again by Whisper tiny.en (MIT, 75 MB); voices told apart by GE2E speaker embeddings "
               "(resemblyzer, Apache-2.0, 17 MB), clustered"),
    ("Claims", "figures stated on the call checked against the report's tables"),
    ("Point clouds", "RANSAC plane fit and per-point deviation (numpy); LiDAR tiles (laspy): extent, density, "
                     "classes; E57 scans (pye57)"),
    ("Text in images", "PP-OCRv6 detection and recognition (rapidocr, Apache-2.0, ONNX models in the wheel), each "
                       "line with its pixel box"),
    ("Line inspection", "PatchCore: EfficientNet-Lite0 patch features of good parts in a coreset memory bank; a "
                        "part's anomaly is its distance to the nearest good patch, the threshold set from held-out "
                        "good parts"),
    ("Retrieval", "BM25 keywords fused with all-MiniLM-L6-v2 sentence embeddings (Apache-2.0, 91 MB); "
                  "passages embedded once, when their file is added; an open question gets the most relevant, "
                  "non-redundant sentences (maximal marginal relevance)"),
    ("Shared space", "image: EfficientNet-Lite0; audio: Whisper base encoder; CT: Merlin/Astra I3ResNet-152; "
                     "point clouds: FPFH + local shape; each projected into the text space (384-d)"),
]


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
        self.root = Path(root) if root is not None else None
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)
        self.repo = store.Repository(store.connect(self.root / "workspace.sqlite" if self.root else ":memory:"))
        self.options = pipeline.Options(self.root, limits or Limits.from_env(), keep_phi, projectors)
        self.answerer = Answerer(self.repo, decoder)
        self._loaded: dict[int, Item] = {}  # item id -> item with data, kept for this process
        if self.root is not None and (self.root / LINE_INSPECTOR).is_dir():
            from r1mm.inspection import Inspector

            try:
                self.options.models["inspector"] = Inspector.load(self.root / LINE_INSPECTOR)
            except ValueError as exc:  # the workspace still opens; its images are not inspected
                log.warning("%s", exc)

    @property
    def decoder(self) -> GroundedDecoder | None:
        return self.answerer.decoder

    @decoder.setter
    def decoder(self, decoder: GroundedDecoder | None) -> None:
        self.answerer.decoder = decoder

    @property
    def keep_phi(self) -> bool:
        return self.options.keep_phi

    @property
    def limits(self) -> Limits:
        return self.options.limits

    @property
    def projectors(self) -> dict | None:
        return self.options.projectors

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
        file_id = self.repo.insert_file(name, _size_of(path))
        return file_id, self._keep_upload(file_id, path, name) or path

    def process(self, file_id: int, path: Path, progress: Progress | None = None) -> FileRecord:
        """Parse, analyse and index a registered file (this may take a while: run it off the UI thread)."""
        self.repo.claim(file_id)
        saved = pipeline.process(self.repo, file_id, Path(path), self.repo.file_name(file_id), self.options, progress)
        for item_id, item in saved:
            self._loaded[item_id] = item
        return self.file(file_id)

    def retry(self, file_id: int, progress: Progress | None = None) -> FileRecord:
        """Process a failed or interrupted file again from its kept upload."""
        return self.process(file_id, self.prepare_retry(file_id), progress)

    def prepare_retry(self, file_id: int) -> Path:
        """Mark a failed or interrupted file as processing again; returns the kept upload to process."""
        name, upload = self.repo.file_name(file_id), self.repo.upload_path(file_id)
        if name is None or not upload or not Path(upload).exists():
            raise IngestError(name or f"file {file_id}", "cannot be retried: its upload was not kept; add the file again")
        self.repo.reset_for_retry(file_id)
        return Path(upload)

    def remove(self, file_id: int) -> None:
        for item in self.items(file_id=file_id):
            self._loaded.pop(item.id, None)
            if item.data_path:
                Path(item.data_path).unlink(missing_ok=True)
        upload = self.repo.upload_path(file_id)
        if upload:
            _remove_path(Path(upload))
        self.repo.delete_file(file_id)

    def files(self) -> list[FileRecord]:
        return self.repo.files()

    def file(self, file_id: int) -> FileRecord:
        found = self.repo.files(file_id)
        if not found:
            raise KeyError(f"no file {file_id} in this workspace")
        return found[0]

    # ---- items and findings ------------------------------------------------------------
    def items(self, file_id: int | None = None) -> list[ItemRecord]:
        return self.repo.items(file_id=file_id)

    def item(self, item_id: int) -> Item:
        """The item with its data (volume, document, waveform…), loaded once per process."""
        if item_id not in self._loaded:
            found = self.repo.items(item_id=item_id)
            if not found:
                raise KeyError(f"item {item_id} has no stored data")
            self._loaded[item_id] = pipeline.load_item(found[0])
        return self._loaded[item_id]

    def item_by_source(self, source: str) -> ItemRecord | None:
        """The item an evidence locator's `source` names (the newest, if added twice)."""
        matches = [i for i in self.items() if i.source == source]
        return matches[-1] if matches else None

    def findings(self, item_id: int | None = None, file_ids: list[int] | None = None) -> list[Finding]:
        """Findings of one item, of some files, or of the whole workspace."""
        return self.repo.findings(item_id=item_id, file_ids=file_ids)

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
        return self.answerer.stream(question, file_ids)

    def search(self, question: str, k: int = 5, file_ids: list[int] | None = None) -> list[Match]:
        """The media tokens (image cells, audio spans, CT cells, point-cloud regions) nearest to a
        question in the shared space, best first, with cosine similarity."""
        return self.answerer.search(question, k, file_ids)

    @property
    def line_inspector(self):
        """The production line's inspector (`r1mm.inspection.Inspector`) every image is checked with, or None."""
        return self.options.models.get("inspector")

    def set_line_inspector(self, inspector, reinspect: bool = True,
                           progress: Callable[[int, int], None] | None = None) -> int:
        """Check every image added from now on with this inspector (kept in the workspace folder), and
        with ``reinspect`` the images already here too; returns how many images were checked again."""
        if self.root is not None:
            inspector.save(self.root / LINE_INSPECTOR)
        self.options.models["inspector"] = inspector
        images = [rec for rec in self.items() if reinspect and any(
            a.needs == "inspector" for a in modality_spec(rec.modality).analyses)]
        for done, rec in enumerate(images, start=1):
            new_id, item = pipeline.reanalyse(self.repo, rec, self.options)
            self._loaded.pop(rec.id, None)
            self._loaded[new_id] = item
            if progress is not None:
                progress(done, len(images))
        return len(images)

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
        return self.repo.history()

    def close(self) -> None:
        self.repo.close()

    # ---- internals ---------------------------------------------------------------------
    def _keep_upload(self, file_id: int, path: Path, name: str) -> Path | None:
        """Copy the upload into the workspace so a failed or interrupted file can be retried.

        Uploads of a modality that carries patient identifiers (DICOM) are not kept.
        """
        if self.root is None or not path.is_file():  # a folder is read in place, not copied
            return None
        fmt = sniff(path)
        if not self.keep_phi and fmt is not None and spec_for_format(fmt).uploads_carry_identifiers:
            return None
        dest = self.root / "uploads" / f"{file_id}_{_safe_name(name)}"
        store.atomic_write(dest, lambda tmp: shutil.copyfile(path, tmp))
        self.repo.set_upload_path(file_id, str(dest))
        return dest


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
