"""Financial figures from report tables: metric, period, value, unit and scale, page and cell.

Derived metrics (change between periods, margins) are computed from the extracted figures,
never guessed.
"""
from __future__ import annotations

import re

from r1mm.types import Document, Finding, Item, Locator

_NUMBER = re.compile(r"^\(?\s*([-−–]?)\s*([$€£¥]?)\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*\)?\s*(%?)$")
_SCALE = re.compile(r"(?:(USD|EUR|GBP|JPY|CHF|\$|€|£)\s*)?(?:in\s+)?(thousands|millions|billions)"
                    r"(?:\s+of\s+(dollars|euros|pounds|USD|EUR|GBP|JPY|CHF))?", re.IGNORECASE)
_CURRENCY_WORDS = {"$": "USD", "€": "EUR", "£": "GBP", "dollars": "USD", "euros": "EUR", "pounds": "GBP",
                   "usd": "USD", "eur": "EUR", "gbp": "GBP", "jpy": "JPY", "chf": "CHF"}
MARGIN_OF = ("gross profit", "operating income", "net income", "ebitda")


def parse_number(text: str) -> tuple[float, bool] | None:
    """'1,234.5' -> (1234.5, False); '(12.0)' -> (-12.0, False); '8.5%' -> (8.5, True)."""
    text = text.strip()
    m = _NUMBER.match(text)
    if not m:
        return None
    sign, _, whole, frac, percent = m.groups()
    value = float(whole.replace(",", "") + (frac or ""))
    if sign or (text.startswith("(") and text.endswith(")")):
        value = -value
    return value, bool(percent)


def report_unit(text: str) -> str:
    """The report's currency and scale, e.g. 'USD millions', from phrases like '(in millions of dollars)'."""
    m = _SCALE.search(text)
    if not m:
        return "USD" if "$" in text else ""
    symbol, scale, word = m.groups()
    currency = _CURRENCY_WORDS.get((symbol or "").lower(), symbol) or _CURRENCY_WORDS.get((word or "").lower()) \
        or ("USD" if "$" in text else "")
    return f"{currency} {scale.lower()}".strip()


def analyze(item: Item) -> list[Finding]:
    document: Document = item.data
    findings: list[Finding] = []
    for page in document.pages:
        unit = report_unit(page.text) or report_unit(document.text[:3000])
        for table in page.tables:
            findings += _table_figures(item.source, page.number, table, unit)
    findings += derived_metrics(findings)
    return findings


def _table_figures(source: str, page: int | None, table, unit: str) -> list[Finding]:
    rows = table.rows
    if len(rows) < 2:
        return []
    header = rows[0]
    out = []
    for r, row in enumerate(rows[1:], start=1):
        metric = row[0].strip() if row else ""
        if not metric:
            continue
        for c, cell in enumerate(row[1:], start=1):
            parsed = parse_number(cell)
            if parsed is None:
                continue
            value, is_percent = parsed
            period = header[c].strip() if c < len(header) and header[c].strip() else f"column {c + 1}"
            cell_unit = "%" if is_percent else unit
            bbox = table.cell_bboxes[r][c] if table.cell_bboxes and r < len(table.cell_bboxes) \
                and c < len(table.cell_bboxes[r]) else None
            loc = Locator(source, page=page, table=table.index, cell=(r, c), cell_bbox=bbox, sheet=table.sheet)
            shown = f"{value:,.2f}".rstrip("0").rstrip(".")
            out.append(Finding("finance.figure", value, cell_unit,
                               f"{metric} ({period}): {shown} {cell_unit}".strip() + ".", loc))
    return out


def metric_and_period(f: Finding) -> tuple[str, str]:
    """('Revenue', 'Q3 2026') from a figure's text 'Revenue (Q3 2026): 1,234 USD millions.'"""
    m = re.match(r"(.+?) \((.+?)\): ", f.text)
    return (m.group(1), m.group(2)) if m else (f.text, "")


def derived_metrics(figures: list[Finding]) -> list[Finding]:
    """Change from the second period column to the first, and margins over revenue."""
    by_metric: dict[tuple[str, int | None, int | None], list[Finding]] = {}
    for f in figures:
        if f.kind == "finance.figure" and f.unit != "%":
            metric, _ = metric_and_period(f)
            by_metric.setdefault((metric, f.locator.page, f.locator.table), []).append(f)
    out = []
    for (metric, _, _), cells in by_metric.items():
        cells.sort(key=lambda f: f.locator.cell[1])
        if len(cells) >= 2 and cells[1].value != 0:
            cur, prev = cells[0], cells[1]
            change = cur.value - prev.value
            pct = 100.0 * change / abs(prev.value)
            _, p_cur = metric_and_period(cur)
            _, p_prev = metric_and_period(prev)
            out.append(Finding("finance.change", round(pct, 2), "%",
                               f"{metric} changed {pct:+.1f}% ({change:+,.1f} {cur.unit}) from {p_prev} "
                               f"({prev.value:,.1f}) to {p_cur} ({cur.value:,.1f}).", cur.locator))
    revenue = next((cells for (m, _, _), cells in by_metric.items()
                    if m.lower() in ("revenue", "revenues", "total revenue", "net sales", "sales")), None)
    if revenue:
        for (metric, _, _), cells in by_metric.items():
            if metric.lower() in MARGIN_OF and revenue[0].value:
                margin = 100.0 * cells[0].value / revenue[0].value
                _, period = metric_and_period(cells[0])
                out.append(Finding("finance.margin", round(margin, 2), "%",
                                   f"{metric} margin ({period}) is {margin:.1f}% of revenue.", cells[0].locator))
    return out
