"""The data that flows through R1-MM: items in, findings and answers out.

Every number a user sees is tied to a `Locator`, so every answer can point at its
evidence: a page and table cell, an audio time span, a CT slice and region in mm,
or a region of a point cloud.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

import numpy as np


class Modality(str, Enum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    CT = "ct"
    POINTCLOUD = "pointcloud"


@dataclass(frozen=True)
class Locator:
    """Where in a source a token, finding or piece of evidence comes from.

    Only the fields that apply to the source's modality are set.
    """

    source: str
    # documents
    page: int | None = None  # 1-based page number (PDF); None where the format has no pages
    table: int | None = None  # 1-based table index on the page (or sheet index for XLSX)
    cell: tuple[int, int] | None = None  # (row, column), 0-based, within the table
    cell_bbox: tuple[float, float, float, float] | None = None  # (x0, top, x1, bottom) in PDF points
    sheet: str | None = None  # spreadsheet sheet name
    # audio
    start_s: float | None = None
    end_s: float | None = None
    # CT
    slice: int | None = None  # 0-based index into the sorted volume (z axis)
    bbox_mm: tuple[float, ...] | None = None  # (x0, y0, x1, y1) in mm within the slice, from the volume corner
    # point clouds
    region: tuple[float, ...] | None = None  # (xmin, ymin, zmin, xmax, ymax, zmax) in the cloud's units
    # images
    bbox_px: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1) in the image's pixels

    def describe(self) -> str:
        """A short human-readable place, e.g. 'report.pdf, page 2, table 1, row 3, col 2'."""
        parts = [self.source]
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet!r}")
        if self.page is not None:
            parts.append(f"page {self.page}")
        if self.table is not None:
            parts.append(f"table {self.table}")
        if self.cell is not None:
            parts.append(f"row {self.cell[0] + 1}, col {self.cell[1] + 1}")
        if self.start_s is not None:
            end = f"–{self.end_s:.1f}" if self.end_s is not None else ""
            parts.append(f"{self.start_s:.1f}{end} s")
        if self.slice is not None:
            parts.append(f"slice {self.slice + 1}")
        if self.bbox_mm is not None:
            x0, y0, x1, y1 = self.bbox_mm[:4]
            parts.append(f"region {x1 - x0:.1f}×{y1 - y0:.1f} mm")
        if self.region is not None:
            parts.append("region [" + ", ".join(f"{v:.3g}" for v in self.region) + "]")
        if self.bbox_px is not None:
            x0, y0, x1, y1 = self.bbox_px
            parts.append(f"pixels {x0},{y0}–{x1},{y1}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Locator:
        known = {f.name for f in fields(cls)}
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known}
        return cls(**kwargs)


@dataclass
class Table:
    """A table as extracted: rows of cell strings, with cell boxes where the format has them."""

    index: int  # 1-based within its page or document
    rows: list[list[str]]
    cell_bboxes: list[list[tuple[float, float, float, float] | None]] | None = None
    sheet: str | None = None
    # Read from a period-headed report table (`r1mm.ingest.statements`, iXBRL): rows[0] is the header
    title: str = ""  # the title above it ("CONSOLIDATED STATEMENTS OF CASH FLOWS")
    statement: str | None = None  # "income statement", "balance sheet", "cash flow", …; None: another table
    unit: str = ""  # currency and scale from its heading: "USD millions"
    # per value column (rows[r][1:]): {"label", "year", "end": [y, m, d] or None, "months": 3/6/9/12 or None}
    columns: list[dict] | None = None
    row_sections: list[str] | None = None  # per row: the section it stands under ("Current assets")
    heading: str = ""  # the heading lines the periods and scale were read from
    # per cell, where a tagged format says exactly what it is (iXBRL): {"concept", "scale", "sign"} or None
    cell_facts: list[list[dict | None]] | None = None


@dataclass
class Page:
    number: int | None  # 1-based; None for formats without pages (TXT, DOCX, CSV)
    text: str
    tables: list[Table] = field(default_factory=list)
    size: tuple[float, float] | None = None  # (width, height) in PDF points
    paragraphs: list[str] = field(default_factory=list)  # the prose, table rows and headings left out
    scanned: bool = False  # no text layer: text and tables were read by OCR from the page's image
    # the findings of the charts among the page's images (Finding dicts, boxes in PDF points), read
    # when the PDF was loaded: reading a chart needs the page rendered, and only loading has the file
    figures: list[dict] = field(default_factory=list)
    # boxes (PDF points from the top) of the page's images whose text was read by OCR into the page's
    # text and tables: a scanned body under a typed header, a pasted table
    scanned_regions: list[tuple[float, float, float, float]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, p: dict) -> Page:
        """A page as `dataclasses.asdict` wrote it (boxes come back as tuples)."""
        tables = [Table(t["index"], t["rows"], [[tuple(b) if b else None for b in row] for row in t["cell_bboxes"]]
                        if t.get("cell_bboxes") else None, t.get("sheet"), t.get("title", ""), t.get("statement"),
                        t.get("unit", ""), t.get("columns"), t.get("row_sections"), t.get("heading", ""),
                        t.get("cell_facts")) for t in p["tables"]]
        return cls(p["number"], p["text"], tables, tuple(p["size"]) if p.get("size") else None,
                   p.get("paragraphs", []), p.get("scanned", False), p.get("figures", []),
                   [tuple(box) for box in p.get("scanned_regions", [])])


@dataclass
class Document:
    """The structured text of a document: pages with their text and tables."""

    format: str  # pdf, html, docx, txt, md, csv, xlsx
    pages: list[Page]
    # a filing's own fiscal calendar where it states one (iXBRL's dei: tags): {"year_end": [month, day],
    # "focus_year", "focus_period" ("FY", "Q2"), "period_end": [y, m, d]}; None: read from the tables
    fiscal: dict | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.pages if p.text)


@dataclass
class Item:
    """One loaded input: a document, image, recording, CT series or point cloud.

    `data` is a `Document` (text), a PIL image (image), a float32 mono waveform at
    `meta["sample_rate"]` Hz (audio), an HU volume shaped (slices, rows, cols) (ct),
    or float64 points shaped (N, 3) (pointcloud).
    """

    modality: Modality
    source: str  # file name as uploaded (for a zip or folder: its name)
    data: Any
    meta: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # extra per-point or per-slice arrays
    # CT geometry (DICOM patient coordinates, LPS)
    spacing_mm: tuple[float, float, float] | None = None  # (between slices, row, column)
    orientation: tuple[float, ...] | None = None  # ImageOrientationPatient: row and column cosines
    origin_mm: tuple[float, float, float] | None = None  # ImagePositionPatient of the first sorted slice

    def summary(self) -> str:
        return f"{self.source} ({self.modality.value})"


@dataclass
class Tokens:
    """An item encoded into the shared latent space: one locator per token."""

    latent: Any  # torch.Tensor (n, d_latent)
    locators: list[Locator]


@dataclass
class Finding:
    """A measurement or extraction with the place it came from."""

    kind: str  # e.g. "ct.slice_thickness", "finance.figure", "pointcloud.dimensions"
    value: Any  # a number, or a short string where the finding is not numeric
    unit: str | None
    text: str  # one readable sentence, with units
    locator: Locator

    def to_dict(self) -> dict[str, Any]:
        value = self.value.item() if isinstance(self.value, np.generic) else self.value
        return {"kind": self.kind, "value": value, "unit": self.unit, "text": self.text,
                "locator": self.locator.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(kind=d["kind"], value=d["value"], unit=d.get("unit"), text=d["text"],
                   locator=Locator.from_dict(d["locator"]))


CITATION = re.compile(r"\[(E\d+)\]")  # how an answer cites its evidence: [E1], [E2], …


@dataclass
class Evidence:
    """What an answer rests on: a finding or a retrieved span, cited as [id]."""

    id: str  # "E1", "E2", … as cited in the answer text
    text: str
    locator: Locator
    score: float = 0.0
    finding: Finding | None = None
    # a media token's vector in the shared space: the decoder reads it as a soft token (not stored)
    latent: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "text": self.text, "score": round(float(self.score), 4),
             "locator": self.locator.to_dict(), "where": self.locator.describe()}
        if self.finding is not None:
            d["finding"] = self.finding.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evidence:
        finding = Finding.from_dict(d["finding"]) if d.get("finding") else None
        return cls(id=d["id"], text=d["text"], locator=Locator.from_dict(d["locator"]),
                   score=d.get("score", 0.0), finding=finding)


@dataclass
class Answer:
    text: str
    evidence: list[Evidence] = field(default_factory=list)
    routing: dict[str, Any] = field(default_factory=dict)  # per-layer expert use and entropy
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    model: str = ""  # what produced the answer, shown to the user

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.text, "evidence": [e.to_dict() for e in self.evidence],
                "routing": self.routing, "timings": self.timings, "model": self.model}
