"""What managers say on an earnings call, held against the filing with the analyst's own metrics.

    claims = claims_in("GAAP operating margin was 20.4%, and revenue grew 5% year over year.")
    checks = cross_check(report_findings + call_findings)   # one finance.claim_check per claim

A claim is a figure said in a sentence: the metric it is about (the same standard metrics and
formulas analysts' questions are answered with: `metrics`, `analyst.FORMULAS`), a level, a change
or a ratio, its sign ("an operating loss of", "negative", "down", "used … of cash"), the words that
name a particular line ("Data Center and AI revenue", "non-GAAP", "from continuing operations")
and whether it is guidance. The check finds the filing's line for that metric and period (the
period the sentence names, else the filing's current one) or computes it from the cited cells
(margins, growth, free cash flow, EBITDA), and says agrees / disagrees with both numbers and every
cell, "not in report" with the nearest lines, or "forward-looking". A claim that names a line the
filing does not have is never held against another line: "Gaming revenue" is not total revenue.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from r1mm.analysis import analyst
from r1mm.analysis.analyst import Ask, Period
from r1mm.analysis.finance import SCALES, scale_of
from r1mm.analysis.metrics import BY_NAME, Metric, metric_of, metric_spans, normalise_label
from r1mm.types import Finding

_AMOUNT_RE = re.compile(r"(?P<dollar>[$€£])?\s?(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<scale>%|percent|thousand|million|"
                        r"billion)?(?:\s*(?P<currency>dollars?|euros?|pounds?)\b)?", re.IGNORECASE)
_CURRENCY = {"$": "USD", "€": "EUR", "£": "GBP"}
# The recogniser sometimes writes a number with a space before its comma or point ("526 ,000 euros",
# "2 .11 million"): read as two numbers, that is 0 euros and 11 million.
_SPLIT_NUMBER = re.compile(r"(?<=\d) (?=[.,]\d)")
_DOWN = re.compile(r"\b(down|declin\w*|decreas\w*|fell|lower|drop\w*|shrank|negative|minus)\b", re.IGNORECASE)
_CHANGE = re.compile(r"\b(up|down|grew|grow\w*|rose|fell|increas\w*|decreas\w*|declin\w*|year[- ]over[- ]year|"
                     r"sequential\w*|a year ago|from a year|compared)\b(?!\s+to\b)", re.IGNORECASE)
_NEGATIVE = re.compile(r"\b(negative|minus|(?:a )?loss(?: per share)? of)\s*$", re.IGNORECASE)
_USED = re.compile(r"\b(used|burned|consumed)\b", re.IGNORECASE)
_FORWARD = re.compile(r"\b(expect\w*|forecast\w*|guidance|guiding|outlook|anticipat\w*|project(?:ed|ing|ions?)|"
                      r"plan to|will (?:be|reach|grow)|next (?:quarter|year))\b", re.IGNORECASE)
_SEQUENTIAL = re.compile(r"\b(sequential\w*|quarter[- ]over[- ]quarter|q/q|from the (?:prior|previous|last) quarter)\b",
                         re.IGNORECASE)
_NON_GAAP = re.compile(r"\b(non-?gaap|adjusted|organic|fx[- ]neutral|constant currency|pro forma)\b", re.IGNORECASE)

# Said as a loss, the metric's amount is negative ("an operating loss of $1.47 billion").
_LOSS_NAMES = {r"\boperating loss(es)?\b": "operating income", r"\bnet loss(es)?\b": "net income"}
_EPS_NAMES = r"\b(earnings|income|loss) per (diluted |basic )?share\b|\bper diluted share\b"
# Formulas a manager states as a figure of their own: percent ones are ratios, the others amounts.
SPOKEN_FORMULAS = ("gross margin", "operating margin", "net profit margin", "ebitda margin", "effective tax rate",
                   "free cash flow", "ebitda")

# How metrics are said on a call, for matching names the recognizer got slightly wrong ("let income",
# "net in come", "gross prophet"): a run of words that spells nearly the same letters counts.
SPOKEN_METRICS: dict[str, list[str]] = {
    "operating income": ["operating income", "operating profit"],
    "operating expenses": ["operating expenses"],
    "cost of revenue": ["cost of revenue", "cost of sales"],
    "gross profit": ["gross profit"],
    "diluted EPS": ["earnings per share"],
    "net income": ["net income", "net profit", "net earnings"],
    "revenue": ["revenue", "top line"],
}
FUZZY_METRIC = 0.85  # letter similarity (difflib ratio); "let income" is 0.89, "the income" 0.78

# Words beside a metric's name that name no particular line: periods, emphasis, the GAAP basis.
_GENERIC = set("first second third fourth quarter quarters quarterly half year years annual fiscal full month months "
               "three six nine twelve record total consolidated reported gaap company our its also cash spending "
               "spend expense expenses cost costs amount level figure strong solid about approximately roughly "
               "nearly over just some end".split())
_STOPS = set("was were is are be been of in on at for with to from by as the a an we our and or that this these "
             "had has have it its their which while up down grew rose fell came totaled totalled reached amounted "
             "ended through into via per across during about paid pay returned return generated generate delivered "
             "reported posted recorded achieved spent invested repurchased bought used saw made produced earned "
             "booked closed finished".split())
_VERBS = re.compile(r"^(was|were|is|are|came|totall?ed|reached|amounted|grew|rose|fell|increased|decreased|declined|"
                    r"up|down|of|stood|ended)$")


def _sounds(letters: str) -> str:
    """Letters as they sound, roughly: "prophet" and "profit" come closer."""
    letters = letters.replace("ph", "f").replace("ck", "k").replace("qu", "kw")
    return re.sub(r"(.)\1+", r"\1", letters)


def misheard_metrics(sentence: str, taken: list[tuple[int, int]] = ()) -> list[tuple[int, int, str, str]]:
    """(start, end, metric, words heard) for metric names heard slightly wrong, outside ``taken`` spans."""
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
    return sorted((start, end, metric, sentence[start:end]) for start, end, metric in chosen)


def _named_metrics(sentence: str, misheard: bool) -> list[dict]:
    """The metrics a sentence names: {start, end, metric (amount), ratio (a percent formula, if the
    name is one), negative (said as a loss), heard_as (a misheard name)}, in order."""
    low = sentence.lower().replace("’", "'")
    spans: list[dict] = []
    for name in SPOKEN_FORMULAS:
        for m in re.finditer(analyst.FORMULAS[name][0], low):
            percent = analyst.FORMULAS[name][2]
            spans.append({"start": m.start(), "end": m.end(), "metric": None if percent else name,
                          "ratio": name if percent else None})
    for pattern, name in _LOSS_NAMES.items():
        for m in re.finditer(pattern, low):
            spans.append({"start": m.start(), "end": m.end(), "metric": name, "negative": True})
    for m in re.finditer(r"\b(repurchased|bought back)\b", low):  # "we repurchased $1.7 billion of stock"
        spans.append({"start": m.start(), "end": m.end(), "metric": "share repurchases"})
    for m in re.finditer(_EPS_NAMES, low):
        spans.append({"start": m.start(), "end": m.end(), "metric": "basic EPS" if "basic" in m.group(0) else "diluted EPS"})
    for start, end, metric in metric_spans(low):
        spans.append({"start": start, "end": end, "metric": metric.name})
    # the longer name wins where two overlap; the same span keeps both readings ("gross margin":
    # the gross profit amount, or the margin as a percent of revenue)
    chosen: list[dict] = []
    for s in sorted(spans, key=lambda s: (-(s["end"] - s["start"]), s["start"])):
        same = next((c for c in chosen if c["start"] == s["start"] and c["end"] == s["end"]), None)
        if same is not None:
            same["metric"] = same.get("metric") or s.get("metric")
            same["ratio"] = same.get("ratio") or s.get("ratio")
        elif not any(c["start"] < s["end"] and s["start"] < c["end"] for c in chosen):
            chosen.append(dict(s))
    if misheard:
        # a misheard name around a shorter exact one is the name said: "cross profit" is gross profit,
        # not the "profit" of net income
        for start, end, metric, heard in misheard_metrics(sentence):
            inside = [c for c in chosen if start <= c["start"] and c["end"] <= end and c["end"] - c["start"] < end - start]
            if inside and all(c.get("metric") != metric for c in inside):
                chosen = [c for c in chosen if c not in inside]
                chosen.append({"start": start, "end": end, "metric": metric, "heard_as": heard})
        for start, end, metric, heard in misheard_metrics(sentence, [(c["start"], c["end"]) for c in chosen]):
            chosen.append({"start": start, "end": end, "metric": metric, "heard_as": heard})
    return sorted(chosen, key=lambda s: s["start"])


def _qualifier(sentence: str, span: dict) -> tuple[str, list[str]]:
    """Words beside a metric's name that say which line it is, as said and as the words a line's
    label must hold: "Data Center and AI" (revenue), "non-GAAP" (operating margin), "from continuing
    operations" (net income)."""
    before = re.findall(r"[A-Za-z][A-Za-z&'-]*|[^\sA-Za-z]", sentence[:span["start"]])
    words: list[str] = []
    for k in range(len(before) - 1, -1, -1):
        w = before[k]
        if not re.match(r"[A-Za-z]", w):
            break
        low = w.lower()
        # "Network and Edge revenue", "Marketing and sales": the words before "and" name the line too
        joining = low in ("and", "&") and k > 0 and before[k - 1].lower() not in _STOPS \
            and re.match(r"[A-Za-z]", before[k - 1]) is not None
        if (low in _STOPS or low in SCALES) and not joining:
            break
        words.insert(0, low)
    after: list[str] = []
    for w in re.findall(r"[A-Za-z][A-Za-z&'-]*|[^\sA-Za-z]", sentence[span["end"]:]):
        if not re.match(r"[A-Za-z]", w) or _VERBS.match(w.lower()):
            break
        after.append(w.lower())
    found = []
    for w in words + after:
        for part in w.split("-"):
            if part and part not in _STOPS and part not in _GENERIC and part not in ("and", "&"):
                found.append(part)
    return " ".join(words + after), found


def claims_in(text: str, misheard: bool = True) -> list[dict]:
    """Figures stated in a text: {'metric', 'kind' (level | change | ratio), 'value', 'unit',
    'decimals', 'said', 'qualifier' (words naming a particular line), 'forward' (guidance),
    'sentence' (the clause it is said in)}. A number belongs to the metric named right after it ("$605 million of operating
    cash flow"), else to the nearest one named before it in the sentence. A metric name the
    recognizer got slightly wrong still counts (unless ``misheard`` is False), and the claim keeps
    what was heard (``heard_as``)."""
    claims = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        sentence = _SPLIT_NUMBER.sub("", sentence)
        named = _named_metrics(sentence, misheard)
        if not named:
            continue
        for a in _AMOUNT_RE.finditer(sentence):
            scale = (a.group("scale") or "").lower()
            if not scale and not a.group("dollar") and not a.group("currency"):
                continue  # a bare number: a year, a quarter, a count
            value = float(a.group("num").replace(",", ""))
            rest = sentence[a.end():]
            per_share = re.match(r"\s*per (diluted |basic )?share\b", rest, re.IGNORECASE)
            after = next((s for s in named if s["start"] >= a.end() and re.fullmatch(
                r"\s*(?:per (?:diluted |basic )?share\s*)?(?:of|in|through|from|on)\s+(?:[a-z]+\s+)?",
                sentence[a.end():s["start"]], re.IGNORECASE)), None)
            before = [s for s in named if s["end"] <= a.start()]
            span = after or (before[-1] if before else named[0])
            lead = sentence[span["end"] if span["end"] <= a.start() else 0:a.start()]
            said = sentence[min(span["start"], a.start()):max(span["end"], a.end())].strip()
            negative = bool(span.get("negative")) or bool(_NEGATIVE.search(sentence[:a.start()]))
            line_words, qualifier = _qualifier(sentence, span)
            # what follows the amount, to the next one or the clause's end: "up 1% sequentially"
            later = [m.start() for m in _AMOUNT_RE.finditer(sentence, a.end()) if m.group("num")]
            close = _CLAUSE_END.search(sentence, a.end())
            tail = sentence[a.end():min(later + [close.start() if close else len(sentence)])]
            claim = {"qualifier": qualifier, "non_gaap": bool(_NON_GAAP.search(line_words)),
                     "named_as": sentence[span["start"]:span["end"]],
                     "forward": bool(_FORWARD.search(sentence[_clause_start(sentence, span["start"]):a.end()])),
                     "sentence": _clause(sentence, min(span["start"], a.start()), a.end()),
                     "decimals": _decimals(a.group("num")), "said": said,
                     "sequential": bool(_SEQUENTIAL.search(said + tail))}
            if scale in ("%", "percent"):
                change = bool(_CHANGE.search(lead)) or not span.get("ratio")
                if negative or (change and _DOWN.search(lead)):  # a margin "lower at 20%" is not negative
                    value = -value
                if change:
                    claim.update(metric=span.get("metric") or span["ratio"], kind="change", value=value, unit="%")
                else:
                    claim.update(metric=span["ratio"], kind="ratio", value=value, unit="%")
            else:
                metric = span.get("metric")
                if per_share:
                    metric = "basic EPS" if "basic" in per_share.group(0).lower() else "diluted EPS"
                if metric is None:
                    continue  # an amount said of a ratio ("gross margin of $4 billion" is read as gross profit)
                if metric == "operating cash flow" and _USED.search(sentence[:a.start()]):
                    negative = True  # "we used $1.8 billion of cash from operations"
                currency = _CURRENCY.get(a.group("dollar") or "") or \
                    {"d": "USD", "e": "EUR", "p": "GBP"}.get((a.group("currency") or "d")[0].lower(), "USD")
                if metric in ("diluted EPS", "basic EPS"):
                    unit = f"{currency} per share"
                else:
                    unit = f"{currency} {scale}s" if scale else currency
                claim.update(metric=metric, kind="level", value=-value if negative else value, unit=unit)
            if span.get("heard_as"):
                claim["heard_as"] = span["heard_as"]
            claims.append(claim)
    return claims


# a clause ends at a comma or semicolon that is not inside a number ("522,000")
_CLAUSE_END = re.compile(r"(?<!\d),|,(?!\d)|;")


def _clause_start(sentence: str, at: int) -> int:
    """Where the clause holding ``at`` starts, with the phrases before it that state no figure ("A
    year ago, …", "For the first half, …")."""
    ends = [0] + [m.end() for m in _CLAUSE_END.finditer(sentence, 0, at)]
    k = len(ends) - 1
    while k > 0 and not re.search(r"\d", sentence[ends[k - 1]:ends[k]]):
        k -= 1
    return ends[k]


def _clause(sentence: str, start: int, end: int) -> str:
    """The clause a claim is said in, from the one its metric is named in to the end of the one its
    amount is said in: its period and its tense are read there, not from the rest of a sentence that
    a recogniser may have run together with commas ("…, we see risks for next year")."""
    after = _CLAUSE_END.search(sentence, end)
    return sentence[_clause_start(sentence, start):after.start() if after else len(sentence)].strip()


def _decimals(number: str) -> int:
    """Precision of a spoken figure as decimals: '1.34' -> 2, '657' -> 0, '180,000' -> -4 (two significant
    figures: speakers round)."""
    if "." in number:
        return len(number.split(".")[1])
    digits = number.replace(",", "")
    return -min(len(digits) - len(digits.rstrip("0")), len(digits) - 1)


def states_amount(sentence: str) -> bool:
    """The sentence states an amount of money or a percentage (not a bare number such as a year)."""
    return any(a.group("scale") or a.group("dollar") or a.group("currency") for a in _AMOUNT_RE.finditer(sentence))


# ---- the check ----------------------------------------------------------------------------------

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4}


def claim_period(sentence: str, facts: list[Finding], change: bool = False) -> Period:
    """The period a sentence speaks of, in the company's fiscal calendar: the one it names ("the
    second quarter of fiscal 2026", "a year ago", "the first half", "nine-month", "full year"),
    else the filing's current period. A change "from a year ago" is of the current period."""
    low = sentence.lower()
    current = analyst.latest_period(facts)
    named = analyst.parse(low).periods
    if named:
        period = named[0]
        if period.end is None and period.months is None:
            period.months = current.months
        return period
    year = current.fiscal_year
    if not change and re.search(r"\b(a year ago|a year earlier|last year|prior[- ]year|previous year|year[- ]ago)\b",
                                low):
        year = year - 1 if year else None
    quarter = re.search(r"\b(first|second|third|fourth)[- ]quarter\b", low)
    if re.search(r"\b(first half|six[- ]months?|half[- ]year)\b", low):
        return Period(6, year)
    if re.search(r"\bnine[- ]months?\b", low):
        return Period(9, year)
    if re.search(r"\b(full[- ]year|fiscal year|for the year|twelve[- ]months?)\b", low) and not quarter:
        return Period(12, year)
    if quarter:
        return Period(3, year, _ORDINALS[quarter.group(1)])
    return Period(current.months, year, current.quarter)


def _stem(word: str) -> str:
    return word.lower()[:5]


def _line_words(fact: Finding) -> set[str]:
    text = normalise_label(fact.value["label"]) + " " + normalise_label(fact.value.get("section") or "")
    return {_stem(w) for w in re.findall(r"[a-z]+", text)}


def _kind_fits(claim: dict, fact: Finding) -> bool:
    """A percent is held against a percent, an amount per share against one, money against money."""
    unit = fact.unit or ""
    if claim["unit"] == "%":
        return unit == "%"
    if claim["unit"].endswith("per share"):
        return unit.endswith("per share")
    return unit != "%" and not unit.startswith("shares") and not unit.endswith("per share")


def _names_metric(fact: Finding, metric: Metric | None, metric_words: set[str], qualifier: list[str]) -> bool:
    """The line is the metric, stands under a section that is ("Data Center and AI" under "Net
    revenue:"), is the metric once the qualifying words are taken out of its label ("Net cash
    provided by continuing operating activities"), or its label says the metric's words."""
    if metric is not None:
        if fact.value["metric"] == metric.name or (fact.value.get("concept") or "").split(":")[-1] in metric.concepts:
            return True  # the metric's line, or a segment's amount tagged with the metric's concept
        section = fact.value.get("section")
        if section and metric_of(section, fact.value["statement"]) is metric:
            return True
        # the qualifying words taken out (some of them: "operations" may be the metric's own "operating")
        label = normalise_label(fact.value["label"]).split()
        stems = {_stem(w) for w in qualifier}
        inside = [k for k, w in enumerate(label) if _stem(w) in stems]
        for mask in range(1, 2 ** min(len(inside), 4)):
            dropped = {inside[b] for b in range(len(inside)) if mask >> b & 1}
            rest = " ".join(w for k, w in enumerate(label) if k not in dropped)
            if metric_of(rest, fact.value["statement"]) is metric:
                return True
        return False
    return bool(metric_words) and metric_words <= _line_words(fact)


def _named_line(claim: dict, facts: list[Finding], period: Period, metric: Metric | None) -> Finding | None:
    """The line a qualified claim names ("Mobileye revenue", "non-GAAP operating margin"): every
    qualifying word in its label or section, the metric named by it, in the claim's period."""
    wanted = {_stem(w) for w in claim["qualifier"]}
    # a non-GAAP ratio or amount is no standard metric: its printed label must say what was said
    metric_words = set() if metric is not None else \
        {_stem(w) for w in re.findall(r"[a-z]+", claim["named_as"].lower()) if w not in _STOPS}
    balance = metric is not None and metric.statement == "balance sheet"
    found = []
    for f in facts:
        words = _line_words(f)
        if not (_kind_fits(claim, f) and wanted <= words and
                _names_metric(f, metric, metric_words, claim["qualifier"])):
            continue
        if not analyst.period_matches(f, period, balance):
            continue
        extra = len(words - wanted - metric_words)
        found.append((f.value.get("dimensional", False), extra, f.locator.page or 0, f.locator.table or 0,
                      f.locator.cell or (0, 0), f))
    return min(found, key=lambda t: t[:5])[5] if found else None


_SAME_NAME_EXTRA = {"gaap", "loss", "total"}  # "GAAP operating margin (loss)" is printed "operating margin"


def _printed_as_said(claim: dict, facts: list[Finding], period: Period) -> Finding | None:
    """A line whose label is the name the claim said, and nothing more than "GAAP" or "(loss)"."""
    said = {_stem(w) for w in re.findall(r"[a-z]+", claim["named_as"].lower())}
    extra = {_stem(w) for w in _SAME_NAME_EXTRA}
    for f in facts:
        words = {_stem(w) for w in re.findall(r"[a-z]+", normalise_label(f.value["label"]))}
        if said <= words and words - said <= extra and _kind_fits(claim, f) and \
                analyst.period_matches(f, period, False):
            return f
    return None


def _ask_of(claim: dict, facts: list[Finding]) -> tuple[Ask, Metric | None]:
    """The analyst's question a claim answers, typed: its metric or formula, period, and whether it
    is a change."""
    period = claim_period(claim["sentence"], facts, change=claim["kind"] == "change")
    metric = BY_NAME.get(claim["metric"])
    ask = Ask(words={_stem(w) for w in claim["qualifier"]})
    if claim["kind"] == "change" and claim.get("sequential") and period.months == 3 and period.quarter:
        ask.change = True  # "up 1% sequentially": against the quarter before, not the year before
        before = Period(3, period.fiscal_year, period.quarter - 1) if period.quarter > 1 else \
            Period(3, period.fiscal_year - 1 if period.fiscal_year else None, 4)
        ask.periods = [before, period]
    elif claim["kind"] == "change":
        ask.change = True
        ask.periods = [period]
        analyst.add_prior_year(ask)
    else:
        ask.periods = [period]
    if metric is not None:
        ask.metrics = [metric]
    elif claim["metric"] in analyst.FORMULAS:
        _, formula, percent = analyst.FORMULAS[claim["metric"]]
        ask.formula, ask.formula_name, ask.percent = formula, claim["metric"], percent
    return ask, metric


@dataclass
class FilingValue:
    """The filing's value of what a claim is about, or why it has none."""
    value: float | None
    unit: str = ""
    cells: list[Finding] = field(default_factory=list)  # the cells it rests on
    how: str = ""  # the line it is ("the line “Net revenues”"), or why there is no value
    formula: str | None = None  # how it was computed from several cells, if it was


def filing_value(claim: dict, facts: list[Finding]) -> FilingValue:
    """The filing's value of what the claim is about, with the cells it rests on; no value when the
    filing has no such line, and the reason names the nearest lines."""
    if not facts:  # a call with no report beside it
        return FilingValue(None, how="the report has no line items")
    ask, metric = _ask_of(claim, facts)
    non_gaap = claim.get("non_gaap", False)
    if claim["qualifier"] or non_gaap:
        if claim["kind"] == "change":
            return FilingValue(None, how="a change of a particular line is not checked")
        # a named line: a segment's, a non-GAAP figure, "from continuing operations" — never another line
        line = _named_line(claim, facts, ask.periods[0], None if non_gaap else metric)
        if line is None:
            nearest = _nearest(claim, facts)
            named = " ".join(claim["qualifier"]) + " " + claim["metric"]
            return FilingValue(None, how=f"the filing has no line for {named.strip()}" + (
                f"; nearest: {nearest}" if nearest else ""))
        amount = analyst.line_amount(line, metric) if metric else float(line.value["amount"])
        return FilingValue(amount, line.unit or "", [line], f"the line “{line.value['label']}”")
    if metric is None and claim["kind"] != "change":
        # a figure the company prints under the name said ("Free cash flow", "GAAP operating margin"):
        # its own number, which may rest on other lines than the standard formula's
        line = _printed_as_said(claim, facts, ask.periods[0])
        if line is not None:
            return FilingValue(float(line.value["amount"]), line.unit or "", [line],
                               f"the line “{line.value['label']}”")
    found = analyst.resolve(ask, [f for f in facts if _kind_fits(claim, f) or claim["kind"] != "level"])
    head = found[0] if found else None
    if head is None or head.kind != "finance.answer":
        return FilingValue(None, how=head.text.rstrip(".") if head is not None else "no line answers it")
    formula = head.value["formula"] or None
    return FilingValue(float(head.value["value"]), head.unit or "", found[1:], formula or "the line", formula)


def _nearest(claim: dict, facts: list[Finding]) -> str:
    words = set(claim["qualifier"]) | set(re.findall(r"[a-z]+", (claim["metric"] or "").lower()))
    return ", ".join(analyst.nearest_labels(words, facts))


def _judge(claim: dict, hearing: dict, value: float, unit: str) -> tuple[str, float]:
    """(verdict, difference in the filing's unit) of one hearing of a claim against the filing's
    value: it agrees when it is the value rounded to the precision it was said in (half a unit of
    its last digit; at most 5% of the value for amounts)."""
    if claim["unit"] == "%":
        said, tolerance = hearing["value"], 0.5 * 10 ** -hearing["decimals"] + 0.05
    elif claim["unit"].endswith("per share"):
        said, tolerance = hearing["value"], 0.5 * 10 ** -hearing["decimals"] + 1e-9
    else:
        to_filing = scale_of(hearing["unit"]) / scale_of(unit)
        said = hearing["value"] * to_filing
        tolerance = min(0.5 * 10 ** -hearing["decimals"] * to_filing + 1e-9, 0.05 * abs(value) or 1e-9)
    diff = said - value
    misheard = claim["kind"] == "level" and value and not 0.05 < abs(said / value) < 20
    return ("agrees" if abs(diff) <= tolerance else "check the recording" if misheard else "disagrees"), diff


def cross_check(findings: list[Finding]) -> list[Finding]:
    """Each spoken claim against the filing's line items: agrees, disagrees (both numbers, the
    difference, every cell), not in report (and the nearest lines), forward-looking (guidance is no
    figure a filing reports), or check the recording (off by over 20×: more likely misheard than
    misstated). A claim heard differently by the second recognizer takes the hearing that matches
    the filing (or the plausible one), so one model's misheard digit is not reported as a
    contradiction."""
    facts = [f for f in findings if f.kind == "finance.fact" and not f.value.get("dimensional")] + \
        [f for f in findings if f.kind == "finance.fact" and f.value.get("dimensional")]
    out = []
    for f in findings:
        if f.kind != "finance.claim":
            continue
        claim = f.value
        when = f.locator.describe()
        found = FilingValue(None)
        if claim.get("forward"):
            verdict, detail, diff = "forward-looking", "guidance, not a figure the filing reports", None
        else:
            found = filing_value(claim, facts)
            if found.value is None:
                verdict, detail, diff = "not in report", found.how, None
            else:
                verdict, diff, detail = _weigh(claim, found)
        cells = found.cells
        value_out = {"verdict": verdict, "metric": claim["metric"], "said": claim["said"],
                     "difference": None if diff is None else round(diff, 3),
                     "report_value": None if found.value is None else round(found.value, 4),
                     "report_unit": found.unit or None,
                     "report_locator": cells[0].locator.to_dict() if cells else None,
                     "report_locators": [c.locator.to_dict() for c in cells]}
        out.append(Finding("finance.claim_check", value_out, None,
                           f"Claim “{claim['said']}” ({when}) {verdict}: {detail}.", f.locator))
    return out


def _weigh(claim: dict, found: FilingValue) -> tuple[str, float, str]:
    value, unit = found.value, found.unit
    verdict, diff = _judge(claim, claim, value, unit)
    again = claim.get("heard_again")
    second = _judge(claim, again, value, unit) if again else None
    heard = f"; the metric was heard as “{claim['heard_as']}”" if claim.get("heard_as") else ""
    if claim.get("first_heard"):
        heard += f"; the metric was named only on the second hearing (first heard “{claim['first_heard']}”)"
    if second and second[0] != verdict:
        # the recognizers heard different figures: believe the hearing that matches the filing,
        # else the plausible one (within 20× of the filing)
        if second[0] == "agrees" or verdict == "check the recording":
            heard += f"; first heard as “{claim['said']}”, heard again as “{again['said']}”"
            verdict, diff = second
        elif verdict == "agrees":
            heard += f"; heard again as “{again['said']}”"
    shown_unit = "points" if unit == "%" else unit
    where = "; ".join(f"{c.value['label']} ({c.value['period']['label']}): {c.value['printed'] or c.value['amount']} "
                      f"{c.unit or ''} ({c.locator.describe()})" for c in found.cells)
    computed = f" = {found.formula}" if found.formula else ""
    detail = (f"the filing shows {_shown(value)} {unit}{computed}, from {where}; difference {diff:+,.2f} "
              f"{shown_unit}{heard}")
    return verdict, diff, detail


def _shown(value: float) -> str:
    if value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.1f}"
