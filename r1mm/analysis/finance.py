"""Financial figures from report tables: metric, period, value, unit and scale, page and cell.

Derived metrics (change between periods, margins) are computed from the extracted figures,
never guessed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from r1mm.types import Document, Finding, Item, Locator

_NUMBER = re.compile(r"^\(?\s*([-−–]?)\s*([$€£¥]?)\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*\)?\s*(%?)$")
_SCALE = re.compile(r"(?:(USD|EUR|GBP|JPY|CHF|\$|€|£)\s*)?(?:in\s+)?(thousands|millions|billions)"
                    r"(?:\s+of\s+(dollars|euros|pounds|USD|EUR|GBP|JPY|CHF))?", re.IGNORECASE)
_CURRENCY_WORDS = {"$": "USD", "€": "EUR", "£": "GBP", "dollars": "USD", "euros": "EUR", "pounds": "GBP",
                   "usd": "USD", "eur": "EUR", "gbp": "GBP", "jpy": "JPY", "chf": "CHF"}
MARGIN_OF = ("gross profit", "operating income", "net income", "ebitda")


def parse_number(text: str) -> tuple[float, bool] | None:
    """'1,234.5' -> (1234.5, False); '(12.0)' -> (-12.0, False); '8.5%' -> (8.5, True); '(2.5) %' -> (-2.5, True)."""
    text = text.strip()
    m = _NUMBER.match(text)
    if not m:
        return None
    sign, _, whole, frac, percent = m.groups()
    value = float(whole.replace(",", "") + (frac or ""))
    if sign or re.match(r"^\(.*\)\s*%?$", text):  # "(12.5)", "(12.5) %", "(139.0)%"
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


def is_financial_report(document: Document) -> bool:
    """Whether a document is about money: it states a currency or scale ("in millions of USD", "$")
    or names a financial metric or statement (revenue, net income, EPS, balance sheet…). Only such
    documents are analysed here."""
    text = document.text[:200_000]
    tables = " ".join(cell for page in document.pages for table in page.tables for row in table.rows[:60]
                      for cell in row[:1] if cell)
    return bool(report_unit(text)) or any(pattern.search(text) or pattern.search(tables)
                                          for pattern in (_METRIC_RE, _FINANCE_WORDS))


_FINANCE_WORDS = re.compile(r"\b(ebitda|cash flows?|total assets|liabilities|balance sheet|income statement|"
                            r"fiscal|quarterly|earnings|dividends?|profit|shareholders?)\b", re.IGNORECASE)


def analyze(item: Item) -> list[Finding]:
    document: Document = item.data
    findings: list[Finding] = statement_facts(item.source, document)
    for page in document.pages:
        unit = report_unit(page.text) or report_unit(document.text[:3000])
        for table in page.tables:  # each cell also as a figure under its header (claim and chart checks read these)
            # the table's own scale, with the page's currency where the table's heading names none
            own = table.unit if len(table.unit.split()) == 2 else (unit or table.unit)
            findings += _table_figures(item.source, page.number, table, own)
    findings += derived_metrics(findings)
    for page in document.pages:
        for sentence in (s for paragraph in page.paragraphs for s in risk_sentences(paragraph)):
            findings.append(Finding("finance.risk", sentence, None, f"Risk stated in the report: “{sentence}”",
                                    Locator(item.source, page=page.number)))
    return findings


_PERIOD_HEADER = re.compile(r"\b((19|20)\d{2}|Q[1-4]|H[12]|FY\s?\d{2,4}|quarter|year|months?|period|current|prior|"
                            r"previous|ended|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)", re.IGNORECASE)


def _table_figures(source: str, page: int | None, table, unit: str) -> list[Finding]:
    """Figures of a table whose header names periods; a table headed otherwise (officers' ages,
    years elected) holds no figures of the report."""
    rows = table.rows
    if len(rows) < 2:
        return []
    header = rows[0]
    if not any(_PERIOD_HEADER.search(cell or "") for cell in header[1:]):
        return []
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
            cell_unit = "%" if is_percent else per_share_unit(metric, unit) or unit
            bbox = table.cell_bboxes[r][c] if table.cell_bboxes and r < len(table.cell_bboxes) \
                and c < len(table.cell_bboxes[r]) else None
            loc = Locator(source, page=page, table=table.index, cell=(r, c), cell_bbox=bbox, sheet=table.sheet)
            shown = f"{value:,.2f}".rstrip("0").rstrip(".")
            out.append(Finding("finance.figure", value, cell_unit,
                               f"{metric} ({period}): {shown} {cell_unit}".strip() + ".", loc))
    return out


@dataclass(frozen=True)
class FiscalCalendar:
    """How a company names its fiscal periods: the month its fiscal year ends in, and the years to
    add to the calendar year that month falls in (Home Depot's fiscal 2024 ends February 2, 2025:
    -1; Apple's fiscal 2024 ends September 28, 2024: 0)."""
    year_end_month: int = 12
    year_offset: int = 0

    def fiscal_year(self, end: list[int]) -> int:
        """The fiscal year a period ending on ``end`` ([y, m, d]; d 0 when unknown) belongs to."""
        year, month = end[0], _effective_month(end)
        if end[1] == 1 and month == 12:
            year -= 1  # 'January 2, 2021' closes December 2020
        return year + (1 if month > self.year_end_month else 0) + self.year_offset


def fiscal_calendar(document: Document) -> FiscalCalendar:
    """The filing's fiscal calendar: from its dei: tags where it has them (iXBRL), else the month of
    its twelve-month columns (or of a 10-Q's comparative balance sheet) and, for the naming, the
    text's own "fiscal 2024 … ended February 2, 2025"."""
    if document.fiscal:
        month, day = document.fiscal["year_end"]
        calendar = FiscalCalendar(_effective_month([0, month, day]))
        named = calendar.fiscal_year(document.fiscal["period_end"])
        return FiscalCalendar(calendar.year_end_month, document.fiscal["focus_year"] - named)
    month = _year_end_month(document)
    return FiscalCalendar(month, _naming_offset(document.text[:400_000], FiscalCalendar(month)))


_NAMED_YEAR = re.compile(r"\bfiscal (?:year )?((?:19|20)\d\d)\b[^.;]{0,40}?\b(?:ended|ending)\s+(jan|feb|mar|apr|may|jun|"
                         r"jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2}),\s+((?:19|20)\d\d)\b", re.IGNORECASE)


def _naming_offset(text: str, calendar: FiscalCalendar) -> int:
    """Years between the company's own name for a fiscal year and the calendar year it ends in,
    where the text names one beside its end date ("fiscal 2024 ended February 2, 2025") at least
    twice the same way; 0 otherwise."""
    from collections import Counter

    from r1mm.ingest.statements import month_number

    offsets = Counter()
    for m in _NAMED_YEAR.finditer(text):
        end = [int(m.group(4)), month_number(m.group(2)), int(m.group(3))]
        offsets[int(m.group(1)) - calendar.fiscal_year(end)] += 1
    if not offsets:
        return 0
    offset, count = offsets.most_common(1)[0]
    return offset if count >= 2 and offset in (-1, 0, 1) else 0


def _year_end_month(document: Document) -> int:
    """The month a filing's fiscal year ends: that of its income statements' twelve-month columns,
    else that of a balance sheet's comparative column (a 10-Q compares with the last year-end), else
    December. Notes' tables are not asked: a roll-forward's "twelve months ended June 30" says nothing
    of the fiscal year."""
    from collections import Counter

    annual, comparative = Counter(), Counter()
    for page in document.pages:
        for table in page.tables:
            for k, column in enumerate(table.columns or []):
                if column.get("end") and column["months"] == 12 and table.statement == "income statement":
                    annual[_effective_month(column["end"])] += 1
                elif column.get("end") and table.statement == "balance sheet" and k == len(table.columns) - 1:
                    comparative[_effective_month(column["end"])] += 1
    counts = annual or comparative
    return counts.most_common(1)[0][0] if counts else 12


def _effective_month(end: list[int]) -> int:
    """The month a period ends in, for 52/53-week years: 'October 1' closes September."""
    _, month, day = end
    return (month - 1 or 12) if 0 < day <= 7 else month


_MONTHS_IN_WORDS = {3: "three", 6: "six", 9: "nine", 12: "twelve"}


def fiscal_period(column: dict, calendar: FiscalCalendar) -> dict:
    """A column's period with its fiscal year and quarter: {"end", "months", "fiscal_year",
    "fiscal_quarter", "label", "printed"}; the label names the period in words, not digits
    ("the nine months ended 2025-06-28 (FY2025)"), so the first number of an answer is its value."""
    end = column.get("end")
    months = column.get("months")
    if end and end[1]:
        fiscal_year = calendar.fiscal_year(end)
        into = (_effective_month(end) - calendar.year_end_month) % 12  # months of the fiscal year gone
        quarter = (into // 3) if into else 4
    else:  # a year with no month: the fiscal year it names
        fiscal_year, quarter = column["year"], 4
    if column.get("quarter") and not (end and end[1]):  # headed "Q3 2026", with no date
        quarter = column["quarter"]
    label = period_name(months, fiscal_year, quarter, _date(end) if end else None)
    if end and end[1] and months is not None:
        label += f" (ended {_date(end)})"
    return {"end": _date(end) if end else None, "months": months, "fiscal_year": fiscal_year,
            "fiscal_quarter": quarter, "label": label, "printed": column.get("label", "")}


def period_name(months: int | None, fiscal_year: int, fiscal_quarter: int, end: str | None,
                short: bool = False) -> str:
    """A period as analysts name it: "FY2024", "Q2 FY2023", "as of 2024-09-28"; other spans "the
    nine months of FY2025" (``short``: "9M FY2025")."""
    if months is None:
        return f"as of {end}" if end else f"as of the end of FY{fiscal_year}"
    if months == 12:
        return f"FY{fiscal_year}"
    if months == 3:
        return f"Q{fiscal_quarter} FY{fiscal_year}"
    return f"{months}M FY{fiscal_year}" if short else \
        f"the {_MONTHS_IN_WORDS.get(months, str(months))} months of FY{fiscal_year}"


def _date(end: list[int] | None) -> str:
    if not end:
        return ""
    year, month, day = end
    return f"{year:04d}-{month:02d}" + (f"-{day:02d}" if day else "")


# a cash-flow statement's balances: "… at end of the period" and the lines reconciling it "to the balance sheets"
_PERIOD_END_LINE = re.compile(r"\b(at|as of) (the )?end of (the )?(period|year|quarter)\b", re.IGNORECASE)
_TO_BALANCE_SHEET = re.compile(r"\bto (the )?(consolidated |condensed )*balance sheets?\b", re.IGNORECASE)
_CURRENCY_UNIT = re.compile(r"usd|eur|gbp|jpy|cad|chf|cny|aud")  # a tagged unit's id that is money ("usd", "iso4217_eur")


def _as_balance(period: dict) -> dict:
    """A flow column's period read as the balance at its end."""
    if not period["end"] or len(period["end"]) < 10:
        return period  # no day printed: the balance's date cannot be told
    return {**period, "months": None,
            "label": period_name(None, period["fiscal_year"], period["fiscal_quarter"], period["end"])}


def statement_facts(source: str, document: Document) -> list[Finding]:
    """Each value of a period-headed table as a line item: its printed label and section, the
    statement, the standard metric it is (or None), its typed period, amount and unit, the cell."""
    from r1mm.analysis.metrics import BY_CONCEPT, is_share_count, metric_of

    calendar = fiscal_calendar(document)
    out = []
    for page in document.pages:
        for table in page.tables:
            if table.columns is None:
                continue
            periods = [fiscal_period(c, calendar) for c in table.columns]
            sections = table.row_sections or [""] * len(table.rows)
            for r, row in enumerate(table.rows[1:], start=1):
                label = re.sub(r"\s*\$$", "", row[0]).strip()
                section = sections[r] if r < len(sections) else ""
                balance = table.statement == "cash flow" and bool(_PERIOD_END_LINE.search(label)
                                                                  or _TO_BALANCE_SHEET.search(section))
                metric = metric_of(label, "balance sheet" if balance else table.statement, section)
                for c, cell in enumerate(row[1:], start=1):
                    parsed = parse_number(cell) if cell.strip() not in ("—", "–", "-", "--") else (0.0, False)
                    if parsed is None or c - 1 >= len(periods):
                        continue
                    value, is_percent = parsed
                    facts = (table.cell_facts[r][c] if table.cell_facts and r < len(table.cell_facts)
                             and c < len(table.cell_facts[r]) else None) or {}
                    tagged_unit = facts.get("unit", "")
                    if is_percent or re.search(r"%|\bpercent(age)?\b", label, re.IGNORECASE) or \
                            (facts.get("scale") == "-2" and not _CURRENCY_UNIT.search(tagged_unit)):
                        unit = "%"  # "As a percentage of revenues": a ratio, whatever the cells print
                    elif "pershare" in tagged_unit:
                        unit = "USD per share"
                    elif tagged_unit == "shares" or (not tagged_unit and is_share_count(label, section)):
                        # a tagged amount in dollars is no count, whatever its label ("Dividends - common shares")
                        unit = f"shares ({table.unit.split()[-1]})" if table.unit else "shares"
                    else:
                        unit = per_share_unit(label + " " + section, table.unit) or table.unit or ""
                    cell_metric = metric
                    if unit == "%":
                        cell_metric = None  # "Net sales … 100.0 %": a share of the line, never its amount
                    elif facts.get("dimensional"):
                        cell_metric = None  # a segment's or a component's amount, not the company's
                    elif facts.get("concept"):
                        cell_metric = BY_CONCEPT.get(facts["concept"].split(":")[-1], metric)
                    period = _as_balance(periods[c - 1]) if balance else periods[c - 1]
                    bbox = table.cell_bboxes[r][c] if table.cell_bboxes and r < len(table.cell_bboxes) \
                        and c < len(table.cell_bboxes[r]) else None
                    loc = Locator(source, page=page.number, table=table.index, cell=(r, c), cell_bbox=bbox)
                    where = table.statement or "table"
                    shown = f"{value:,.2f}".rstrip("0").rstrip(".")
                    out.append(Finding("finance.fact", {
                        "amount": value, "label": label, "section": section, "statement": table.statement,
                        "metric": cell_metric.name if cell_metric else None, "period": period, "printed": cell,
                        "concept": facts.get("concept"), "dimensional": bool(facts.get("dimensional"))},
                        unit, f"{label} ({period['label']}, {where}): {shown} {unit}".strip() + ".", loc))
    return out


def per_share_unit(metric: str, table_unit: str) -> str | None:
    """Per-share rows (EPS) are in the currency itself, not the table's scale: 'USD per share'."""
    if re.search(r"per share|\beps\b", metric, re.IGNORECASE):
        currency = table_unit.split()[0] if table_unit else "USD"
        return f"{currency} per share"
    return None


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


# ---- metric names in chart titles, scales, risks -------------------------------------------

# canonical metric -> pattern; longer names first so "operating income" wins over "income". Spoken
# claims are read with the analyst's metrics instead (`calls`).
METRICS: dict[str, str] = {
    "operating income": r"operating (?:income|profit)",
    "operating expenses": r"operating expenses|opex",
    "cost of revenue": r"cost of (?:revenue|sales)",
    "gross profit": r"gross profit",
    "diluted EPS": r"earnings per share|\beps\b",
    "net income": r"net (?:income|profit|earnings)",
    "revenue": r"revenues?|\bsales\b|top line",
}
_METRIC_RE = re.compile("|".join(f"(?P<m{k}>{p})" for k, p in enumerate(METRICS.values())), re.IGNORECASE)
SCALES = {"thousand": 1e3, "thousands": 1e3, "million": 1e6, "millions": 1e6, "billion": 1e9, "billions": 1e9}


def canonical_metric(name: str) -> str | None:
    m = _METRIC_RE.search(name)
    if not m:
        return None
    return list(METRICS)[int(m.lastgroup[1:])]


def scale_of(unit: str) -> float:
    word = unit.split()[-1].lower() if unit else ""
    return SCALES.get(word, 1.0)


_RISK = re.compile(r"\b(risks?|uncertaint\w*|headwinds?|constraints?|adversely|volatil\w*|depend on)\b",
                   re.IGNORECASE)


def risk_sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if _RISK.search(s)]
