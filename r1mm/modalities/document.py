"""Documents: PDF, DOCX, XLSX, TXT, MD and CSV. Read as pages with text, paragraphs and tables
(cell boxes for PDF); analysed as a financial report when it is one; retrieved by paragraph
and table row; shown as the PDF page with the cell outlined."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

from r1mm.modalities import Analysis, ModalitySpec, kinds, loader, rule
from r1mm.modalities.storage import DOCUMENT_JSON
from r1mm.types import Document, Finding, Item, Locator, Modality


def sniff(head: bytes, path: Path) -> str | None:
    if head.startswith(b"%PDF-"):
        return "pdf"
    if re.search(rb"<html[\s>]", head[:512].lower()):  # EDGAR's filings: HTML with inline XBRL
        return "html"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):  # DOCX and XLSX are ZIP containers
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist()[:5000])
        except (zipfile.BadZipFile, OSError):
            return None
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
    return None


def is_financial_report(item: Item) -> bool:
    from r1mm.analysis.finance import is_financial_report as about_money

    return about_money(item.data)


def _has_charts(item: Item) -> bool:
    return any(page.figures for page in item.data.pages)


def passages(item: Item) -> list[tuple[str, Locator]]:
    """Paragraphs and table rows, each with its page (and table row)."""
    document: Document = item.data
    out = []
    for page in document.pages:
        for paragraph in page.paragraphs:
            out.append((paragraph, Locator(item.source, page=page.number)))
        for table in page.tables:
            for r, row in enumerate(table.rows):
                text = " | ".join(c for c in row if c)
                if text:
                    out.append((text, Locator(item.source, page=page.number, table=table.index, cell=(r, 0),
                                              sheet=table.sheet)))
    return out


# ---- answer rules: a report's figures, risks, and the call's claims held against them ----------

def _claims(q: str, fs: list[Finding]) -> list[Finding]:
    """Claim checks (for the metric named, if any), each followed by the filing's cells it was held
    against (both of a margin, both periods of a growth rate)."""
    checks = [f for f in fs if f.kind == "finance.claim_check"]
    named = [f for f in checks if f.value["metric"] in q.lower()]
    chosen = named or checks
    out: list[Finding] = []
    for check in chosen:
        out.append(check)
        wheres = check.value.get("report_locators") or [check.value.get("report_locator")]
        for where in (w for w in wheres if w):
            cell = next((f for f in fs if f.kind in ("finance.fact", "finance.figure", "finance.change")
                         and f.locator.to_dict() == where), None)
            if cell is not None and cell not in out:
                out.append(cell)
    return out


def _metric(q: str, fs: list[Finding]) -> list[Finding]:
    """Financial figures whose metric name appears in the question; change rows first if asked. A
    question that names a period is answered only by a figure whose column names that period ("Net
    income (column 2)" does not answer "net income in Q4 2021")."""
    from r1mm.analysis.analyst import parse
    from r1mm.analysis.finance import metric_and_period

    q_low = q.lower()
    words = set(re.findall(r"[a-z&]+", q_low))
    figures = [f for f in fs if f.kind.startswith("finance.")]
    # the whole printed name in the question, and more than a word every line shares ("Total", "Other")
    named = [f for f in figures if _metric_name(f) and _metric_name(f) in q_low and
             set(re.findall(r"[a-z&]+", _metric_name(f))) <= words and _names_a_line(_metric_name(f))]
    if not named:
        return []
    longest = max(len(_metric_name(f)) for f in named)
    named = [f for f in named if len(_metric_name(f)) == longest]
    asked = re.sub(r"\s+", " ", q_low)
    dated = bool(parse(q).periods)
    if dated:  # a period named: only figures whose columns are named, never "column 2"
        named = [f for f in named if "column " not in f.text]
    wants_change = re.search(r"chang|grow|increas|decreas|year over year|yoy|compared", q_low)
    wants_margin = "margin" in q_low
    if wants_margin:  # a margin or a change asked is never answered with a level
        return [f for f in named if f.kind == "finance.margin"]
    if wants_change:
        return [f for f in named if f.kind == "finance.change"]
    figures = [f for f in named if f.kind == "finance.figure"]
    # "What was revenue in Q3 2025?": the column of the period named; "last year": the comparison column
    in_period = [f for f in figures if (period := metric_and_period(f)[1].lower()) and period in asked]
    if in_period or dated:
        return in_period[:1]
    if re.search(r"last year|prior (year|period|quarter)|a year (ago|earlier)|previous (year|quarter|period)", asked):
        earlier = [f for f in figures if f.locator.cell and f.locator.cell[1] > 1]
        return earlier[:1] or figures[:1]
    return figures[:1]


_GENERIC = {"total", "totals", "subtotal", "other", "net", "amount", "amounts", "change", "balance"}


def _names_a_line(name: str) -> bool:
    """A printed label that says what it is, not one every table has ("Total", "Other")."""
    return bool(set(re.findall(r"[a-z&]+", name)) - _GENERIC)


def _analyst(q: str, fs: list[Finding]) -> list[Finding]:
    """A report's line items answer an analyst's question: the value, growth, ratio or yes/no asked,
    computed from the cells that hold that metric and period, or what the filing lacks."""
    from r1mm.analysis.analyst import answer

    return answer(q, fs)


def _metric_name(f: Finding) -> str:
    m = re.match(r"(.+?)(?: \(| changed| margin)", f.text)
    return m.group(1).lower() if m else ""


SPEC = ModalitySpec(
    modality=Modality.TEXT,
    name="document",
    formats={"pdf": "PDF", "html": "HTML (EDGAR inline XBRL)", "docx": "DOCX", "xlsx": "XLSX", "txt": "TXT", "md": "MD", "csv": "CSV"},
    sniff=sniff,
    load=loader("r1mm.ingest.document:load_document"),
    analyses=(Analysis("financial report", "r1mm.analysis.finance", is_financial_report),
              Analysis("charts", "r1mm.analysis.document_charts", _has_charts)),
    storage=DOCUMENT_JSON,
    view="r1mm.ui.evidence:show_document",
    rules=(
        rule(10, r"\b(match|agree|consistent|contradict|line up|true that|accurate)|what .* said|(ceo|cfo|management)"
                 r" (said|claim)", _claims),
        rule(20, r"\brisks?\b", kinds("finance.risk", "speech.risk")),
        rule(31, r"", _analyst),  # a filing's statements: any metric, period, ratio or growth asked
        rule(1000, r"", _metric),  # a metric the question names, when no other rule answered
    ),
    text_suffixes={".htm": "html", ".html": "html", ".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md", ".csv": "csv", ".tsv": "csv"},
    binary_suffixes={".pdf": "pdf", ".docx": "docx", ".xlsx": "xlsx"},
    passages=passages,
)
