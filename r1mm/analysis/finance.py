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
    findings: list[Finding] = []
    for page in document.pages:
        unit = report_unit(page.text) or report_unit(document.text[:3000])
        for table in page.tables:
            findings += _table_figures(item.source, page.number, table, unit)
    findings += derived_metrics(findings)
    for page in document.pages:
        for sentence in (s for paragraph in page.paragraphs for s in risk_sentences(paragraph)):
            findings.append(Finding("finance.risk", sentence, None, f"Risk stated in the report: “{sentence}”",
                                    Locator(item.source, page=page.number)))
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
            cell_unit = "%" if is_percent else per_share_unit(metric, unit) or unit
            bbox = table.cell_bboxes[r][c] if table.cell_bboxes and r < len(table.cell_bboxes) \
                and c < len(table.cell_bboxes[r]) else None
            loc = Locator(source, page=page, table=table.index, cell=(r, c), cell_bbox=bbox, sheet=table.sheet)
            shown = f"{value:,.2f}".rstrip("0").rstrip(".")
            out.append(Finding("finance.figure", value, cell_unit,
                               f"{metric} ({period}): {shown} {cell_unit}".strip() + ".", loc))
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


# ---- spoken claims and risks ------------------------------------------------------------

# canonical metric -> pattern; longer names first so "operating income" wins over "income"
METRICS: dict[str, str] = {
    "operating income": r"operating (?:income|profit)",
    "operating expenses": r"operating expenses|opex",
    "cost of revenue": r"cost of (?:revenue|sales)",
    "gross profit": r"gross profit",
    "eps": r"earnings per share|\beps\b",
    "net income": r"net (?:income|profit|earnings)",
    "revenue": r"revenues?|\bsales\b|top line",
}
_METRIC_RE = re.compile("|".join(f"(?P<m{k}>{p})" for k, p in enumerate(METRICS.values())), re.IGNORECASE)
_AMOUNT_RE = re.compile(r"(?P<dollar>[$€£])?\s?(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<scale>%|percent|thousand|million|"
                        r"billion)?(?:\s*(?P<currency>dollars?|euros?|pounds?)\b)?", re.IGNORECASE)
# The recogniser sometimes writes a number with a space before its comma or point ("526 ,000 euros",
# "2 .11 million"): read as two numbers, that is 0 euros and 11 million.
_SPLIT_NUMBER = re.compile(r"(?<=\d) (?=[.,]\d)")
_DOWN = re.compile(r"\b(down|declin\w*|decreas\w*|fell|lower|drop\w*|shrank)\b", re.IGNORECASE)
_RISK = re.compile(r"\b(risks?|uncertaint\w*|headwinds?|constraints?|adversely|volatil\w*|depend on)\b",
                   re.IGNORECASE)
SCALES = {"thousand": 1e3, "thousands": 1e3, "million": 1e6, "millions": 1e6, "billion": 1e9, "billions": 1e9}


def canonical_metric(name: str) -> str | None:
    m = _METRIC_RE.search(name)
    if not m:
        return None
    return list(METRICS)[int(m.lastgroup[1:])]


# How metrics are said on a call, for matching names the recognizer got slightly wrong ("let income",
# "net in come", "gross prophet"): a run of words that spells nearly the same letters counts.
SPOKEN_METRICS: dict[str, list[str]] = {
    "operating income": ["operating income", "operating profit"],
    "operating expenses": ["operating expenses"],
    "cost of revenue": ["cost of revenue", "cost of sales"],
    "gross profit": ["gross profit"],
    "eps": ["earnings per share"],
    "net income": ["net income", "net profit", "net earnings"],
    "revenue": ["revenue", "top line"],
}
FUZZY_METRIC = 0.85  # letter similarity (difflib ratio); "let income" is 0.89, "the income" 0.78


def misheard_metrics(sentence: str, taken: list[tuple[int, int]] = ()) -> list[tuple[int, str, str]]:
    """(position, metric, words heard) for metric names heard slightly wrong, outside ``taken`` spans."""
    from difflib import SequenceMatcher

    words = list(re.finditer(r"[A-Za-z]+", sentence))
    best: dict[tuple[int, int], tuple[float, str]] = {}
    for metric, forms in SPOKEN_METRICS.items():
        for form in forms:
            target, size = form.replace(" ", ""), form.count(" ") + 1
            for n in (size, size + 1):  # one more word: a name split in two ("net in come")
                for k in range(len(words) - n + 1):
                    start, end = words[k].start(), words[k + n - 1].end()
                    if any(s < end and start < e for s, e in taken):
                        continue
                    heard = _sounds("".join(w.group().lower() for w in words[k:k + n]))
                    ratio = SequenceMatcher(None, heard, _sounds(target)).ratio()
                    if ratio >= FUZZY_METRIC and ratio > best.get((start, end), (0.0, ""))[0]:
                        best[(start, end)] = (ratio, metric)
    chosen: list[tuple[int, int, str]] = []
    for (start, end), (_, metric) in sorted(best.items(), key=lambda kv: -kv[1][0]):
        if not any(s < end and start < e for s, e, _ in chosen):
            chosen.append((start, end, metric))
    return sorted((start, metric, sentence[start:end]) for start, end, metric in chosen)


def states_amount(sentence: str) -> bool:
    """The sentence states an amount of money or a percentage (not a bare number such as a year)."""
    return any(a.group("scale") or a.group("dollar") or a.group("currency") for a in _AMOUNT_RE.finditer(sentence))


def _sounds(letters: str) -> str:
    """Letters as they sound, roughly: "prophet" and "profit" come closer."""
    letters = letters.replace("ph", "f").replace("ck", "k").replace("qu", "kw")
    return re.sub(r"(.)\1+", r"\1", letters)


def claims_in(text: str, misheard: bool = True) -> list[dict]:
    """Figures stated in a sentence: {'metric', 'kind' (level|change), 'value', 'unit', 'said'}.

    A number belongs to the nearest metric named before it in the same sentence. A metric name
    the recognizer got slightly wrong still counts (unless ``misheard`` is False), and the claim
    keeps what was heard (``heard_as``).
    """
    claims = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        sentence = _SPLIT_NUMBER.sub("", sentence)
        exact = list(_METRIC_RE.finditer(sentence))
        fuzzy = misheard_metrics(sentence, [(m.start(), m.end()) for m in exact]) if misheard else []
        heard_as = {start: words for start, _, words in fuzzy}
        metrics = sorted([(m.start(), canonical_metric(m.group(0))) for m in exact]
                         + [(start, metric) for start, metric, _ in fuzzy])
        if not metrics:
            continue
        for a in _AMOUNT_RE.finditer(sentence):
            scale = (a.group("scale") or "").lower()
            value = float(a.group("num").replace(",", ""))
            if not scale and not a.group("dollar") and not a.group("currency"):
                continue  # a bare number: a year, a quarter, a count
            before = [m for m in metrics if m[0] < a.start()]
            metric_at, metric = before[-1] if before else metrics[0]
            said = sentence[max(0, (before[-1][0] if before else 0)): a.end()].strip()
            if scale in ("%", "percent"):
                between = sentence[(before[-1][0] if before else 0): a.end()]
                value = -value if _DOWN.search(between) else value
                claims.append({"metric": metric, "kind": "change", "value": value, "unit": "%",
                               "decimals": _decimals(a.group("num")), "said": said})
            else:
                currency = _CURRENCY_WORDS.get((a.group("dollar") or "").lower()) or \
                    {"d": "USD", "e": "EUR", "p": "GBP"}.get((a.group("currency") or "d")[0].lower(), "USD")
                unit = f"{currency} {scale}s" if scale else currency
                claims.append({"metric": metric, "kind": "level", "value": value, "unit": unit,
                               "decimals": _decimals(a.group("num")), "said": said})
            if metric_at in heard_as:
                claims[-1]["heard_as"] = heard_as[metric_at]
    return claims


def _decimals(number: str) -> int:
    """Precision of a spoken figure as decimals: '1.34' -> 2, '657' -> 0, '180,000' -> -4 (two significant
    figures: speakers round)."""
    if "." in number:
        return len(number.split(".")[1])
    digits = number.replace(",", "")
    return -min(len(digits) - len(digits.rstrip("0")), len(digits) - 1)


def risk_sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if _RISK.search(s)]


def scale_of(unit: str) -> float:
    word = unit.split()[-1].lower() if unit else ""
    return SCALES.get(word, 1.0)


def _judge(claim: dict, hearing: dict, figure: Finding) -> tuple[str, float]:
    """(verdict, difference in the report's unit) of one hearing of a claim against its figure."""
    if claim["kind"] == "level":
        to_report = scale_of(hearing["unit"]) / scale_of(figure.unit)
        said = hearing["value"] * to_report
        # one unit of the spoken figure's last significant digit, between 0.5% and 5% of the figure
        tolerance = min(max(10 ** -hearing["decimals"] * to_report, 0.005 * abs(figure.value)),
                        0.05 * abs(figure.value))
    else:
        said, tolerance = hearing["value"], max(10 ** -hearing["decimals"], 1.0)
    diff = said - figure.value
    misheard = claim["kind"] == "level" and figure.value and not 0.05 < said / figure.value < 20
    return ("agrees" if abs(diff) <= tolerance else "check the recording" if misheard else "disagrees"), diff


def cross_check(findings: list[Finding]) -> list[Finding]:
    """Each spoken claim against the report: agrees, disagrees (both numbers, the difference),
    not in the report, or check the recording (off by over 20×: more likely misheard than misstated).
    A claim heard differently by the second recognizer takes the hearing that matches the report
    (or the plausible one), so one model's misheard digit is not reported as a contradiction.
    Spoken figures are rounded, so a claim agrees within its own precision (0.5–5% of the reported
    value; 1 point for percentages)."""
    levels: dict[str, Finding] = {}
    changes: dict[str, Finding] = {}
    for f in findings:
        if f.kind == "finance.figure" and f.unit != "%" and f.locator.cell and f.locator.cell[1] == 1:
            metric = canonical_metric(metric_and_period(f)[0])
            if metric and metric not in levels:
                levels[metric] = f  # the first period column: the period being reported
        elif f.kind == "finance.change":
            metric = canonical_metric(f.text.split(" changed")[0])
            if metric and metric not in changes:
                changes[metric] = f
    out = []
    for f in findings:
        if f.kind != "finance.claim":
            continue
        claim = f.value
        figure = (levels if claim["kind"] == "level" else changes).get(claim["metric"])
        when = f.locator.describe()
        if figure is None:
            verdict, detail, diff = "not in report", "the report has no such figure", None
        else:
            verdict, diff = _judge(claim, claim, figure)
            again = claim.get("heard_again")
            second = _judge(claim, again, figure) if again else None
            heard = f"; the metric was heard as “{claim['heard_as']}”" if claim.get("heard_as") else ""
            if claim.get("first_heard"):
                heard += f"; the metric was named only on the second hearing (first heard “{claim['first_heard']}”)"
            if second and second[0] != verdict:
                # the recognizers heard different figures: believe the hearing that matches the report,
                # else the plausible one (within 20× of the report)
                if second[0] == "agrees" or verdict == "check the recording":
                    heard += f"; first heard as “{claim['said']}”, heard again as “{again['said']}”"
                    verdict, diff = second
                elif verdict == "agrees":
                    heard += f"; heard again as “{again['said']}”"
            unit = "points" if claim["kind"] == "change" else figure.unit
            detail = (f"the report shows {figure.text.rstrip('.')} ({figure.locator.describe()}); "
                      f"difference {diff:+,.1f} {unit}{heard}")
        value = {"verdict": verdict, "metric": claim["metric"], "said": claim["said"],
                 "difference": None if diff is None else round(diff, 3),
                 "report_locator": figure.locator.to_dict() if figure else None}
        out.append(Finding("finance.claim_check", value, None,
                           f"Claim “{claim['said']}” ({when}) {verdict}: {detail}.", f.locator))
    return out
