"""Processing one file: ingest → analyse → encode → index, with progress, saved in one transaction.

A file that cannot be read is recorded as failed with its reason; an analysis bug is recorded
the same way, naming the file. Either way the other files of the workspace are untouched.
"""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from r1mm import store
from r1mm.analysis import analyze
from r1mm.encoders import encode
from r1mm.errors import IngestError
from r1mm.ingest import Limits, load
from r1mm.ingest.progress import reporting
from r1mm.latent.index import embed_passages
from r1mm.modalities import modality_spec
from r1mm.store import ItemRecord, ItemResult, Repository
from r1mm.types import Finding, Item, Locator, Tokens

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]  # (stage, fraction done 0..1)


@dataclass
class Options:
    """How a workspace processes its files."""
    root: Path | None  # where item data is kept; None: in memory only
    limits: Limits
    keep_phi: bool = False
    projectors: dict | None = None  # tower name -> projector, replacing the cached ones (a fine-tune's)
    models: dict = field(default_factory=dict)  # models of the workspace analyses may need ("inspector")


def process(repo: Repository, file_id: int, path: Path, name: str, options: Options,
            progress: Progress | None = None) -> list[tuple[int, Item]]:
    """Parse, analyse, encode and index a registered file; returns (item id, item) of what was saved.

    Failures are recorded on the file's row, not raised.
    """
    def report(stage: str, fraction: float) -> None:
        repo.set_stage(file_id, stage, fraction)
        if progress is not None:
            progress(stage, fraction)

    timings: dict[str, float] = {}
    try:
        report("parsing", 0.1)
        t0 = time.perf_counter()
        with reporting(lambda done, total, what: report(f"parsing: {what}", 0.1 + 0.4 * done / max(total, 1))):
            items = load(path, source=name, limits=options.limits, keep_phi=options.keep_phi)
        timings["parse_s"] = round(time.perf_counter() - t0, 3)
        report("analysing", 0.5)
        t0 = time.perf_counter()
        analysed = [(item, analyze(item, options.models)) for item in items]
        timings["analyse_s"] = round(time.perf_counter() - t0, 3)
        report("encoding", 0.7)
        t0 = time.perf_counter()
        with reporting(lambda done, total, what: report(f"encoding: {what}", 0.7 + 0.2 * done / max(total, 1))):
            passages = [passages_for(item, findings) for item, findings in analysed]
            tokens = [_with_words(_encode(item, options.projectors), findings, spans)
                      for (item, findings), spans in zip(analysed, passages)]
        timings["encode_s"] = round(time.perf_counter() - t0, 3)
        report("indexing", 0.9)
        saved = _save(repo, file_id, analysed, tokens, passages, path, options.root)
    except IngestError as exc:
        log.info("file %d failed: %s", file_id, exc.reason)
        repo.finish(file_id, store.STATUS_FAILED, str(exc), timings)
        return []
    except Exception as exc:  # an analysis bug must not take the workspace down
        log.info("file %d: unexpected error", file_id, exc_info=True)  # the traceback, with --verbose
        repo.finish(file_id, store.STATUS_FAILED,
                    f"{name}: internal error while analysing ({type(exc).__name__}: {exc})", timings)
        return []
    _drop_upload(repo, file_id)
    repo.finish(file_id, store.STATUS_READY, None, timings)
    if progress is not None:
        progress("ready", 1.0)  # the row's stage stays NULL: stages are for work under way
    return saved


NOT_RETRIEVED = frozenset({"finance.fact"})


def passages_for(item: Item | None, findings: list[Finding]) -> list[tuple[str, Locator, int | None, np.ndarray]]:
    """What retrieval searches for an item: its findings, then its document paragraphs and table rows,
    each embedded once, here."""
    # a filing's line items are retrieved as their table rows (below); embedding each cell again is
    # most of a long filing's reading time
    spans = [(f.text, f.locator, k) for k, f in enumerate(findings) if f.kind not in NOT_RETRIEVED]
    own = modality_spec(item.modality).passages if item is not None and item.data is not None else None
    if own is not None:
        spans += [(text, locator, None) for text, locator in own(item)]
    vectors = embed_passages([text for text, _, _ in spans]) if spans else None
    return [(text, loc, k, None if vectors is None else vectors[n]) for n, (text, loc, k) in enumerate(spans)]


def reanalyse(repo: Repository, rec: ItemRecord, options: Options) -> tuple[int, Item]:
    """Analyse a saved item again with the workspace's models as they are now (a new line inspector);
    its data file stays, its findings and passages are replaced. Returns (new item id, item)."""
    item = load_item(rec)
    findings = analyze(item, options.models)
    passages = passages_for(item, findings)
    tokens = _with_words(_encode(item, options.projectors), findings, passages)
    result = _result(item, findings, rec.data_path, tokens, passages)
    return repo.replace_item(rec.id, rec.file_id, result), item


def load_item(rec: ItemRecord) -> Item:
    """An item with its data, read back from what `process` saved."""
    if not rec.data_path:
        raise KeyError(f"item {rec.id} has no stored data")
    return store.load_item_data(Item(rec.modality, rec.source, None, dict(rec.meta)), Path(rec.data_path))


def _encode(item: Item, projectors: dict | None) -> Tokens | None:
    """Tokens in the shared space; a failing encoder costs only cross-modal search, never the file."""
    try:
        return encode(item, projectors)
    except Exception:
        log.warning("%s: could not encode into the shared space", item.source,
                    exc_info=log.isEnabledFor(logging.INFO))  # the traceback, with --verbose
        return None


# findings that say what an image shows in words (its text, its chart): kept as tokens too
WORDS_OF_MEDIA = ("image.text_all", "chart.summary")


def _with_words(tokens: Tokens | None, findings: list[Finding], passages: list) -> Tokens | None:
    """An image's tokens and, beside them, its words in the shared space (the text tower's own):
    what OCR read on it and its chart's summary, each at its box, so a search for "revenue chart"
    finds the chart as well as images that look alike. The vectors are those its passages were
    given (`passages_for`), not embedded again."""
    said = [(findings[k].locator, vector) for _, _, k, vector in passages
            if k is not None and vector is not None and findings[k].kind in WORDS_OF_MEDIA and findings[k].value]
    if tokens is None or not said:
        return tokens
    import torch

    vectors = torch.from_numpy(np.stack([np.asarray(v, np.float32) for _, v in said]))
    return Tokens(torch.cat([torch.as_tensor(tokens.latent), vectors]), tokens.locators + [loc for loc, _ in said])


def _save(repo: Repository, file_id: int, analysed: list[tuple[Item, list[Finding]]], tokens: list[Tokens | None],
          passages: list[list], path: Path, root: Path | None) -> list[tuple[int, Item]]:
    results = []
    for k, ((item, findings), item_tokens, item_passages) in enumerate(zip(analysed, tokens, passages)):
        data_path = None
        if root is not None:
            stem = root / "items" / f"{file_id}_{k}"
            data_path = str(store.save_item_data(item, stem))
            if item.meta.get("format") == "pdf":  # kept to show pages as evidence; reports carry no PHI
                pdf = stem.with_suffix(".pdf")
                store.atomic_write(pdf, lambda tmp: shutil.copyfile(path, tmp))
                item.meta["pdf_path"] = str(pdf)
        results.append(_result(item, findings, data_path, item_tokens, item_passages))
    ids = repo.save_results(file_id, results)
    return [(item_id, r.item) for item_id, r in zip(ids, results)]


def _result(item: Item, findings: list[Finding], data_path: str | None, tokens: Tokens | None,
            passages: list) -> ItemResult:
    vectors = None if tokens is None else tokens.latent.numpy().astype(np.float32)
    return ItemResult(item, findings, data_path, vectors, [] if tokens is None else tokens.locators, passages)


def _drop_upload(repo: Repository, file_id: int) -> None:
    """A file read without error needs its kept upload no more."""
    upload = repo.upload_path(file_id)
    if upload:
        Path(upload).unlink(missing_ok=True)
        repo.set_upload_path(file_id, None)
