"""Which reader gets printed financial statements right: R1-MM's statements reader against a maintained
table library (issue 42: "read each table with a maintained library where it beats a hand-written
reader; measure on more pages").

The pages are the primary statements (income, comprehensive income, balance sheet, cash flows,
equity) of Chromium's PDF renderings of the ten iXBRL filings in ``../shared/filings/html``. The
truth is each filing's own tags, read by the shared bench's independent reader (``ixfacts``): every
consolidated fact printed in a statement, as (printed row label, the year its period ends, the
printed number; not numbers inside a label's own cell, nor opening balances, dated the day before the
period whose column prints them). A reader reads a cell right when it gives that label, in a column
headed by that year, that number (signs aside: a tag's sign is the concept's, the page prints
parentheses).

Readers, on the same pages, each table's grid turned into periods by the same code:

- **R1-MM**: the words' positions read by `r1mm.ingest.statements` (what `load_document` does);
- **camelot** (camelot-py 2.0.0, ``flavor="network"``, the flavor ``../shared/MODELS.md`` found right
  on a real cash-flow page; optional: ``pip install camelot-py==2.0.0``): its table grids, read for
  periods by `read_grid` (as DOCX and XLSX tables are).

Reported per reader: cells right, cells wrong (the label and year read, another number), missed,
and s/page on the statement pages. ``python -m r1mm bench filings --tables``.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from r1mm.analysis.finance import parse_number
from r1mm.analysis.metrics import normalise_label

Cell = tuple[str, int, float]  # (printed label, normalised; the year the column's period ends; |number|)


def _key(label: str) -> str:
    return re.sub(r"\s+", " ", normalise_label(label))


def truth_cells(html: Path) -> set[Cell]:
    """The filing's consolidated facts printed in its primary statements, as printed."""
    from r1mm.bench.filings import shared_module

    ixfacts = shared_module("ixfacts")
    cells = set()
    for fact in ixfacts.load(html).facts:
        # a number in the label's own cell (a par value, shares authorized) is no cell of the grid; an
        # opening balance is dated a day before the period whose column prints it
        if not fact.statement or not fact.label or fact.context.dims or fact.column <= 0 or \
                re.search(r"\bbeginning\b", fact.label, re.IGNORECASE):
            continue
        try:
            places = int(fact.decimals)
        except ValueError:  # "INF": an exact count, printed whole
            places = 0
        printed = abs(float(fact.value)) / (10 ** -places if places < 0 else 1)
        cells.add((_key(fact.label), int(fact.context.end[:4]), round(printed, 2)))
    return cells


def table_cells(table) -> set[Cell]:
    """A period-headed table's cells as (label, the year its column ends, |number|)."""
    out = set()
    if table is None or table.columns is None:
        return out
    for row in table.rows[1:]:
        label = _key(re.sub(r"\s*\$$", "", row[0]))
        if not label:
            continue
        for column, text in zip(table.columns, row[1:]):
            parsed = parse_number(text.replace("$", "").strip()) if text.strip() not in ("—", "–", "-") else (0.0, False)
            if parsed is not None and column.get("year"):
                out.add((label, int(column["year"]), round(abs(parsed[0]), 2)))
    return out


def statement_pages(pdf: Path) -> list[int]:
    """The 1-based pages that carry a primary statement's heading line."""
    import pdfplumber

    from r1mm.bench.filings import shared_module

    heading = shared_module("ixfacts").STATEMENT_RE
    with pdfplumber.open(pdf) as doc:
        return [n for n, page in enumerate(doc.pages, start=1)
                if any(heading.match(line.strip()) for line in (page.extract_text() or "").splitlines())]


def read_ours(pdf: Path, pages: list[int]) -> tuple[set[Cell], float]:
    """R1-MM's statements reader on those pages, as `load_document` reads a page: (cells, seconds)."""
    import pdfplumber

    from r1mm.ingest.pdf_layer import PdfiumLayer
    from r1mm.ingest.statements import StatementPages

    cells: set[Cell] = set()
    t0 = time.perf_counter()
    with pdfplumber.open(pdf) as doc, PdfiumLayer(pdf) as layer:
        reader, last = StatementPages(), None
        for number in pages:
            if last is not None and number != last + 1:
                reader = StatementPages()  # a table runs on only onto the next page
            page = doc.pages[number - 1]
            layer.fill(page)
            for table in reader.read(page.extract_words(), page.extract_text() or ""):
                cells |= table_cells(table)
            last = number
    return cells, time.perf_counter() - t0


def read_camelot(pdf: Path, pages: list[int]) -> tuple[set[Cell], float] | None:
    """camelot's network flavor on those pages, its grids read for periods by `read_grid`."""
    try:
        import camelot
    except ImportError:
        return None
    from r1mm.ingest.statements import read_grid

    cells: set[Cell] = set()
    t0 = time.perf_counter()
    for number in pages:
        for k, table in enumerate(camelot.read_pdf(str(pdf), pages=str(number), flavor="network"), start=1):
            rows = [[re.sub(r"\s+", " ", str(text)).strip() for text in row] for row in table.df.values.tolist()]
            cells |= table_cells(read_grid(rows, k))
    return cells, time.perf_counter() - t0


def score(truth: set[Cell], got: set[Cell]) -> dict:
    """Right: the truth's cell read; wrong: its label and year read with another number; missed: neither."""
    read_at = {(label, year) for label, year, _ in got}
    right = len(truth & got)
    wrong = sum(1 for label, year, value in truth - got if (label, year) in read_at)
    return {"right": right, "wrong": wrong, "missed": len(truth) - right - wrong, "n": len(truth)}


def run_tables() -> dict:
    from tqdm import tqdm

    from r1mm.bench.filings import filings_dir, rendered_pdf

    readers = {"r1mm": read_ours, "camelot network": read_camelot}
    totals = {name: {"right": 0, "wrong": 0, "missed": 0, "n": 0, "seconds": 0.0, "pages": 0} for name in readers}
    files = []
    for html in tqdm(sorted((filings_dir() / "html").glob("*.html")), desc="statement tables", unit="file"):
        truth = truth_cells(html)
        pdf = rendered_pdf(html)
        pages = statement_pages(pdf)
        row = {"file": html.name, "statement_pages": pages, "truth_cells": len(truth)}
        for name, read in readers.items():
            got = read(pdf, pages)
            if got is None:
                row[name] = "not installed (pip install camelot-py==2.0.0)"
                continue
            cells, seconds = got
            row[name] = {**score(truth, cells), "s_per_page": round(seconds / max(len(pages), 1), 3)}
            for key in ("right", "wrong", "missed", "n"):
                totals[name][key] += row[name][key]
            totals[name]["seconds"] += seconds
            totals[name]["pages"] += len(pages)
        files.append(row)
    summary = {}
    for name, t in totals.items():
        if not t["pages"]:
            summary[name] = "not run"
            continue
        summary[name] = {"right": t["right"], "wrong": t["wrong"], "missed": t["missed"], "n": t["n"],
                         "right_share": round(t["right"] / t["n"], 3) if t["n"] else None,
                         "s_per_page": round(t["seconds"] / t["pages"], 3), "pages": t["pages"]}
    return {"command": "python -m r1mm bench filings --tables", "truth": "each filing's tags (shared ixfacts)",
            "pdf_statement_tables": summary, "files": files, "ixbrl_facts": run_ixbrl()}


# ---- iXBRL: the tagged facts -------------------------------------------------------------------

Fact = tuple[str, str, float]  # (concept without its prefix, the period's end date, value in units)


def _tagged_truth(html: Path) -> tuple[set[Fact], set[Fact]]:
    """The filing's consolidated numeric facts by the shared bench's reader: all, and those printed in a
    table's grid (beside a row label)."""
    from r1mm.bench.filings import shared_module

    every, in_tables = set(), set()
    for fact in shared_module("ixfacts").load(html).facts:
        if fact.context.dims:
            continue
        key = (fact.concept.split(":")[-1], fact.context.end, round(float(fact.value), 2))
        every.add(key)
        if fact.label and fact.column > 0:
            in_tables.add(key)
    return every, in_tables


def read_ixbrl_ours(html: Path) -> tuple[set[Fact], float]:
    """R1-MM's iXBRL reader: each table cell's tagged fact (concept, its column's end, the value shown,
    scaled and signed), as placed in its printed row."""
    from r1mm.ingest.ixbrl import read_ixbrl
    from r1mm.ingest.limits import Limits

    t0 = time.perf_counter()
    document = read_ixbrl(html, html.name, Limits())
    seconds = time.perf_counter() - t0
    out = set()
    for page in document.pages:
        for table in page.tables:
            for row, facts in zip(table.rows[1:], (table.cell_facts or [])[1:]):
                for text, fact, column in zip(row[1:], facts[1:], table.columns or []):
                    parsed = parse_number(text) if fact else None
                    if parsed is None or fact["dimensional"] or not column.get("end"):
                        continue
                    value = parsed[0] * 10 ** int(fact.get("scale") or 0)
                    end = "-".join(f"{part:02d}" for part in column["end"])
                    out.add((fact["concept"].split(":")[-1], end, round(value, 2)))
    return out, seconds


def read_ixbrl_library(html: Path) -> tuple[set[Fact], float] | None:
    """ixbrlparse 0.12 (optional: ``pip install ixbrlparse==0.12.0``): every numeric fact, with no
    place in a table (it keeps no row)."""
    try:
        from ixbrlparse import IXBRL
    except ImportError:
        return None
    import warnings

    t0 = time.perf_counter()
    with warnings.catch_warnings(), html.open("rb") as handle:
        warnings.simplefilter("ignore")  # formats it does not parse: dates and words, not numbers
        parsed = IXBRL(handle, raise_on_error=False)
    seconds = time.perf_counter() - t0
    out = set()
    for fact in parsed.numeric:
        context = fact.context
        if context.segments or fact.value is None:
            continue
        end = context.instant or context.enddate
        out.add((fact.name, end.isoformat(), round(float(fact.value), 2)))
    return out, seconds


def run_ixbrl() -> dict:
    """Each reader's consolidated facts against the shared bench's reader: the share of all facts and of
    those printed in tables it gives with the same concept, period end and value; seconds a filing."""
    from r1mm.bench.filings import filings_dir

    readers = {"r1mm": read_ixbrl_ours, "ixbrlparse": read_ixbrl_library}
    totals = {name: {"all": 0, "in_tables": 0, "seconds": 0.0, "files": 0} for name in readers}
    n_all = n_tables = 0
    for html in sorted((filings_dir() / "html").glob("*.html")):
        every, in_tables = _tagged_truth(html)
        n_all, n_tables = n_all + len(every), n_tables + len(in_tables)
        for name, read in readers.items():
            got = read(html)
            if got is None:
                continue
            facts, seconds = got
            totals[name]["all"] += len(every & facts)
            totals[name]["in_tables"] += len(in_tables & facts)
            totals[name]["seconds"] += seconds
            totals[name]["files"] += 1
    return {"truth": f"{n_all} consolidated numeric facts ({n_tables} printed in tables) by the shared ixfacts",
            **{name: ({"all": f"{t['all']} / {n_all}", "in_tables": f"{t['in_tables']} / {n_tables}",
                       "s_per_filing": round(t["seconds"] / t["files"], 2),
                       "placed_in_printed_rows": name == "r1mm"} if t["files"] else
                      "not installed (pip install ixbrlparse==0.12.0)") for name, t in totals.items()}}
