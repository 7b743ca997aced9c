"""Every modality in one place: how its files are recognised and loaded, which analyses apply to
it (and to which of its items), the rules that pick its findings to answer a question, how its
data is stored, its encoder tower, and how the app shows its evidence.

    spec = modality_spec(Modality.CT)
    spec.load(path, source, fmt, limits, keep_phi)     # -> list[Item]
    [a.domain for a in spec.analyses]                  # ["CT"]

The ingest, analysis, encoders, answering, store and app look a modality up here instead of
listing modalities. To add one, write ``r1mm/modalities/<name>.py`` defining ``SPEC`` and add its
name to ``MODULES``. Implementations are named here and imported when first used, so this table
stays at the bottom of the layers (it imports only ``types``).
"""
from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from r1mm.types import Finding, Item, Modality

# The registry, one line per modality. Content signatures are tried in this order: documents
# first (a ZIP that holds a DOCX or XLSX is a document; any other ZIP is taken as a DICOM
# archive), then CT (a DICOM preamble is free-form and may look like a TIFF header).
MODULES = ("document", "ct", "image", "audio", "pointcloud")

Pick = Callable[[str, list[Finding]], list[Finding]]


@dataclass(frozen=True)
class Analysis:
    """An analysis of a modality's items and the domain it is for."""
    domain: str  # shown to the user: "financial report", "machined part"
    module: str  # holds ``analyze(item) -> list[Finding]`` (``analyze(item, model)`` when it ``needs`` one)
    applies: Callable[[Item], bool] = lambda item: True  # whether an item is in the domain
    # a model the workspace may hold (e.g. "inspector": its production line's); runs only when it does
    needs: str | None = None

    def run(self, item: Item, models: dict | None = None) -> list[Finding]:
        module = importlib.import_module(self.module)
        return module.analyze(item) if self.needs is None else module.analyze(item, (models or {})[self.needs])


@dataclass(frozen=True)
class AnswerRule:
    """Findings that answer a kind of question. Rules of every modality are tried by ``order``;
    the first whose pattern matches the lowercased question and that picks findings answers."""
    order: int
    pattern: re.Pattern
    pick: Pick


@dataclass(frozen=True)
class Storage:
    """How an item's data is written next to a path stem and read back."""
    suffix: str
    write: Callable[[Item, Path], None]  # (item, path to write)
    read: Callable[[Item, Path], None]  # fills item.data (and geometry) from the path


@dataclass(frozen=True)
class ModalitySpec:
    modality: Modality
    name: str  # "document", "CT series", …
    formats: dict[str, str]  # format name (as sniffed) -> how the user knows it ("PDF")
    sniff: Callable[[bytes, Path], str | None]  # a format from the file's first 512 bytes, or None
    load: Callable[..., list[Item]]  # (path, source, fmt, limits, keep_phi) -> items
    analyses: tuple[Analysis, ...]
    storage: Storage
    view: str  # "module:function(ws, item, locator)" that shows a piece of evidence in the app
    tower: str | None = None  # encoder tower in r1mm.encoders; None: passages are embedded as text
    rules: tuple[AnswerRule, ...] = ()
    text_suffixes: dict[str, str] = field(default_factory=dict)  # suffix -> format, for text files
    binary_suffixes: dict[str, str] = field(default_factory=dict)  # suffix -> format its content must have
    # (item) -> [(text, locator)] worth retrieving besides the findings
    passages: Callable[[Item], list] | None = None
    # finding kinds whose value is the file's own words (a transcript's utterances): an open
    # question is summarised from these and from the document paragraphs
    words_kinds: tuple[str, ...] = ()
    uploads_carry_identifiers: bool = False  # the upload is not kept in the workspace (patient data)

    def analyses_for(self, item: Item, models: dict | None = None) -> list[Analysis]:
        return [a for a in self.analyses if a.applies(item) and (a.needs is None or a.needs in (models or {}))]


@functools.lru_cache(maxsize=1)
def specs() -> tuple[ModalitySpec, ...]:
    """Every registered modality, in ``MODULES`` order."""
    return tuple(importlib.import_module(f"{__name__}.{name}").SPEC for name in MODULES)


def modality_spec(modality: Modality) -> ModalitySpec:
    return next(s for s in specs() if s.modality is modality)


def spec_for_format(fmt: str) -> ModalitySpec:
    return next(s for s in specs() if fmt in s.formats)


@functools.lru_cache(maxsize=1)
def answer_rules() -> tuple[AnswerRule, ...]:
    return tuple(sorted((r for s in specs() for r in s.rules), key=lambda r: r.order))


def supported_formats() -> str:
    """'PDF, DOCX, …; PNG, JPEG, …; …' for messages."""
    return "; ".join(", ".join(dict.fromkeys(s.formats.values())) for s in specs())


# ---- helpers the modules declare their rules with ---------------------------------------------

def kinds(*wanted: str) -> Pick:
    """Every finding of these kinds."""
    return lambda q, fs: [f for f in fs if f.kind in wanted]


def largest(*wanted: str) -> Pick:
    """The finding of these kinds with the largest value."""
    def pick(q: str, fs: list[Finding]) -> list[Finding]:
        found = [f for f in fs if f.kind in wanted and isinstance(f.value, (int, float))]
        return sorted(found, key=lambda f: f.value, reverse=True)[:1]
    return pick


def rule(order: int, pattern: str, pick: Pick) -> AnswerRule:
    return AnswerRule(order, re.compile(pattern), pick)


def loader(target: str, items_per_file: str = "one") -> Callable[..., list[Item]]:
    """The loader ``module:function``, imported on first use (each pulls in a heavy library such as
    pdfplumber, librosa, pydicom or open3d). ``items_per_file="many"``: it returns a list (one item
    per CT series) and is told whether to keep patient identifiers."""
    module, name = target.split(":")

    def load(path: Path, source: str, fmt: str, limits, keep_phi: bool = False) -> list[Item]:
        function = getattr(importlib.import_module(module), name)
        if items_per_file == "many":
            return function(path, source, fmt, limits, keep_phi=keep_phi)
        return [function(path, source, fmt, limits)]
    return load
