"""Analysts' questions about a filing, answered from its line items (``finance.fact`` findings).

    ask = parse("What is the FY2018 capital expenditure amount (in USD millions) for 3M?")
    ask.metrics, ask.periods           # [capital expenditure], [Period(months=12, fiscal_year=2018)]
    findings = answer(question, facts)  # the answer (finance.answer or finance.missing), then its input cells

A number is stated only when a line item holds exactly the metric and the period asked, or is
computed from such line items by a formula the answer shows (the question's own definition wins:
"defined as net income divided by average total assets"). Otherwise the answer says what the
filing does not have and names the nearest lines.
"""
from __future__ import annotations

import math
import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date

from r1mm.analysis.metrics import (
    BALANCE,
    BY_NAME,
    CASH,
    INCOME,
    Metric,
    metric_of,
    metric_spans,
    metrics_asked,
    normalise_label,
)
from r1mm.ingest.statements import month_number, statement_kind
from r1mm.types import Finding, Locator

_DATE = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? (\d{1,2}),? ((?:19|20)\d{2})\b")
_ORDINAL = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}
_QUARTER = re.compile(r"\bq([1-4])\s*(?:of\s+)?(fy|fiscal(?: year)?)?\s*'?((?:19|20)?\d{2})\b|\b(first|second|third|fourth|"
                      r"1st|2nd|3rd|4th) (?:fiscal )?quarter (?:of )?(fiscal(?: year)? |fy ?)?((?:19|20)\d{2})\b")
_FISCAL_YEAR = re.compile(r"\bfy\s*'?((?:19|20)?\d{2})\b|\bfiscal(?: year)? ((?:19|20)\d{2})\b")
_YEAR = re.compile(r"(?<![\d,.$])((?:19|20)\d{2})(?!\d|,\d)")
_DURATIONS = ((re.compile(r"\b(three|3)[- ]months?|\bquarter (ended|ending)\b"), 3),
              (re.compile(r"\b(six|6)[- ]months?|\bfirst half\b|\bhalf[- ]year\b"), 6),
              (re.compile(r"\b(nine|9)[- ]months?"), 9),
              (re.compile(r"\b(twelve|12)[- ]months?|\byear ended\b|\bfiscal year\b"), 12))
_DATED_QUARTER = re.compile(rf"(?:{_QUARTER.pattern})[\s(,]*(?:ended|ending)\s*$")  # "Q2 FY2026 (ended "
# "at the end of fiscal 2024", "at year-end 2023": a balance on that date, not the year's flow
_AT_END = re.compile(r"\b(?:at|as of) (?:the )?(?:end|close) of (?:its |the )?$|\byear[- ]end(?: of)? $")
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_MONTH_QUARTER = re.compile(rf"\b{_MONTH} ((?:19|20)\d{{2}}) quarter\b|\bquarter (?:ended|ending) (?:in )?{_MONTH} "
                            r"((?:19|20)\d{2})\b")
_DECIMALS = re.compile(r"\b(?:round\w*|to) (?:it )?(?:to )?(?:the nearest )?(one|two|three|four|zero|no|\d) decimal|"
                       r"\b(\d|one|two|three) decimals?(?: places?)?\b|\bnearest (whole|integer|cent|tenth|hundredth)")
_WORDS_N = {"zero": 0, "no": 0, "one": 1, "two": 2, "three": 3, "four": 4, "whole": 0, "integer": 0, "tenth": 1,
            "hundredth": 2, "cent": 2}
_YES_NO = re.compile(r"^\s*(?:[^?]*?[.:,]\s+)?(is|are|was|were|does|do|did|has|have|had)\b|\byes or no\b", re.IGNORECASE)
_UP = re.compile(r"\b(grow|grew|growth|increase\w*|rise|rose|improve\w*|higher|go up|went up|expand\w*)\b")
_DOWN = re.compile(r"\b(decline\w*|decrease\w*|fall|fell|drop\w*|shrink|shrank|lower|go down|went down|"
                   r"deteriorat\w*|worsen\w*)\b")
_CHANGE = re.compile(r"\b(growth|grow|grew|change[ds]?|increase[ds]?|decrease[ds]?|decline[ds]?|rise|rose|fall|fell|"
                     r"year[- ]over[- ]year|yoy|y/y|compared (with|to)|versus|vs\.?|improve\w*)\b")

# Derived metrics by name, each a formula over metrics in the same small language a question's own
# definition is read in: "+ - * /", "average X" (this and the prior balance-sheet date), numbers.
FORMULAS: dict[str, tuple[str, str, bool]] = {  # name -> (pattern in the question, formula, percent)
    "gross margin": (r"\bgross (profit )?margin\b", "gross profit / revenue", True),
    "operating margin": (r"\boperating (profit )?margin\b|\bebit margin\b", "operating income / revenue", True),
    "net profit margin": (r"\bnet (profit |income )?margin\b|\bprofit margin\b", "net income / revenue", True),
    "current ratio": (r"\bcurrent ratio\b", "current assets / current liabilities", False),
    "quick ratio": (r"\bquick ratio\b|\bacid[- ]test\b", "(current assets - inventories) / current liabilities", False),
    "interest coverage": (r"\binterest coverage\b|\btimes interest earned\b", "operating income / interest expense",
                          False),
    "return on assets": (r"\breturn on (total )?assets\b|\broa\b", "net income / average total assets", True),
    "return on equity": (r"\breturn on (shareholders'? |stockholders'? )?equity\b|\broe\b",
                         "net income / average total equity", True),
    "asset turnover": (r"(?<!fixed )\basset turnover\b", "revenue / average total assets", False),
    "fixed asset turnover": (r"\bfixed[- ]asset turnover\b", "revenue / average property, plant and equipment", False),
    "inventory turnover": (r"\binventory turnover\b", "cost of revenue / average inventories", False),
    "days inventory outstanding": (r"\bdio\b|\bdays inventory\b", "365 * average inventories / cost of revenue", False),
    "days sales outstanding": (r"\bdso\b|\bdays sales outstanding\b", "365 * average accounts receivable / revenue",
                               False),
    "days payable outstanding": (r"\bdpo\b|\bdays payables? outstanding\b",
                                 "365 * average accounts payable / cost of revenue", False),
    "capital expenditure to revenue": (r"\bcapex[- /]to[- ]revenue\b|\bcapex / revenue\b|\bcapital expenditures? as a "
                                       r"(share|percent\w*) of (revenue|sales)\b",
                                       "capital expenditure / revenue", True),
    "dividend payout ratio": (r"\b(dividend )?payout ratio\b", "dividends paid / net income", True),
    "effective tax rate": (r"\beffective (income )?tax rate\b", "income tax / pretax income", True),
    "free cash flow": (r"\bfree cash flows?\b|\bfcf\b", "operating cash flow - capital expenditure", False),
    "ebitda": (r"\bebitda\b(?! margin)", "operating income + depreciation and amortization", False),
    "ebitda margin": (r"\bebitda margin\b", "(operating income + depreciation and amortization) / revenue", True),
}


@dataclass
class Period:
    months: int | None  # 3, 6, 9, 12; None: a balance-sheet date
    fiscal_year: int | None = None
    quarter: int | None = None
    end: date | None = None
    said: str = ""  # how the question said it

    def describe(self) -> str:
        if self.end is not None:
            return self.said or self.end.isoformat()
        if self.months == 3 and self.quarter:
            return f"Q{self.quarter} FY{self.fiscal_year}"
        if self.months in (6, 9):
            return f"the first {self.months} months of FY{self.fiscal_year}"
        return f"FY{self.fiscal_year}" if self.months else f"the end of FY{self.fiscal_year}"


@dataclass
class Ask:
    """What a question asks, read from its words."""
    metrics: list[Metric] = field(default_factory=list)
    formula: str | None = None  # a formula over metrics ("gross profit / revenue")
    formula_name: str | None = None
    percent: bool = False
    periods: list[Period] = field(default_factory=list)
    change: bool = False  # growth between two periods
    yes_no: bool = False
    direction: str | None = None  # "up" / "down": what a yes/no question asks about
    decimals: int | None = None
    scale: str | None = None  # "millions", "billions", "thousands" when the question asks for one
    words: set[str] = field(default_factory=set)  # the question's content words, for matching printed labels
    metric_words: dict[str, set[str]] = field(default_factory=dict)  # per metric, the words that named it ("net sales")
    definitions: dict[str, str] = field(default_factory=dict)  # formulas the question defines, by their names
    target: str | None = None  # the defined (or named) formula asked for
    compare: tuple[str, str, str] | None = None  # (left, ">" / "<", right): "did A exceed B"
    balance_dates: list[date] = field(default_factory=list)  # "using its balance sheets at D1 and D2"
    statement: str | None = None  # the statement the question says to read ("in the cash flow statement")
    ratio: bool = False  # asks a percentage, a share or a ratio: an amount is no answer
    with_minority: bool = False  # "including noncontrolling interests": the consolidated line
    over_years: str | None = None  # "cagr", "average" or "sum": one line over several fiscal years
    last_years: int | None = None  # "over the last three years": how many, counted back from the filing's latest
    mean_of_one: bool = False  # "average" asked with no years to average over ("Meta's average revenue")
    per_share: bool = False  # "per share", "EPS": a per-share amount asked
    share_count: bool = False  # "number of shares", "weighted-average diluted shares": a count of shares asked
    beyond: str | None = None  # what the question asks that no statement line gives ("the median")
    trailing: bool = False  # "trailing twelve months", "TTM", "LTM": a flow over the four quarters to the period
    difference: bool = False  # "by how much did A exceed B", "the difference between X in 2024 and 2023"
    against_prior: bool = False  # "by how much did revenue grow (in 2024)": a difference with the year before
    # words that narrow the metric: "iPhone" revenue, revenue "in the Greater China segment"
    narrower: set[str] = field(default_factory=set)
    narrower_said: str = ""  # those words as the question says them ("data center")
    said: str = ""  # the question in lower case, trailing-twelve-month words blanked: where narrowing words are read
    total: bool = False  # "total …" said: a line printed "Total …" is named more fully


    @property
    def is_financial(self) -> bool:
        return bool(self.metrics or self.formula or self.target or self.compare)


def parse(question: str) -> Ask:
    q = question.lower().replace("’", "'")
    ask = Ask(words=_content_words(q))
    ask.yes_no = bool(_YES_NO.search(question))
    definition = _definition(q)
    if definition:
        ask.formula, ask.formula_name = definition, "the question's definition"
        ask.percent = bool(re.search(r"percent|%", q))
    else:
        for name, (pattern, formula, percent) in FORMULAS.items():
            if re.search(pattern, q) and not (name == "gross margin" and _as_amount(q)):
                ask.formula, ask.formula_name, ask.percent = formula, name, percent
                break
    spans = metric_spans(q)
    ask.metrics = [m for _, _, m in spans]
    for start, end, metric in spans:
        ask.metric_words.setdefault(metric.name, set()).update(_stem(w) for w in re.findall(r"[a-z&]+", q[start:end]))
    if ask.formula_name == "gross margin" or (ask.formula is None and re.search(r"\bgross margin\b", q)):
        ask.metrics = [m for m in ask.metrics if m.name != "revenue" or ask.formula is None] or ask.metrics
    named = _NAMES_A_STATEMENT.search(q)
    if named:
        ask.statement = statement_kind(named.group(0))
    ask.definitions, rest = definitions(q)
    if not ask.definitions and not ask.formula:
        share = _share_of(q)
        if share:
            ask.definitions = {share[0]: share[1]}
    ask.ratio = bool(_ASKS_RATIO.search(q))
    ask.with_minority = bool(_WITH_MINORITY.search(q))
    using = re.search(rf"\busing [a-z0-9.&' -]*?balance sheets? (?:at|as of|dated) (.+?)(?:,\s+(?={_ASKING})|[?]|$)", q)
    if using:
        ask.balance_dates = [p.end for p in _periods(using.group(1)) if p.end]
        q_periods = q[:using.start()] + q[using.end():]
    else:
        q_periods = q
    ask.periods = _periods(q_periods)
    ask.difference = bool(_DIFFERENCE.search(q)) and not ask.formula and not ask.definitions
    if ask.yes_no or ask.difference:
        ask.compare = comparison(rest)
    if ask.difference and not ask.compare:  # "the difference between revenue and cost of sales in fiscal 2024"
        between = _BETWEEN.search(rest)
        if between and metrics_asked(between.group(2)) and not _periods(between.group(2)):
            ask.compare = (between.group(1), ">", between.group(2))
    if ask.definitions and not ask.compare:
        named = [name for name in ask.definitions if re.search(rf"\b{re.escape(name)}\b", rest)]
        ask.target = named[-1] if named else list(ask.definitions)[-1]
    ask.change = bool(_CHANGE.search(q)) and ask.formula is None and not ask.difference
    ask.against_prior = ask.difference and not ask.compare and len(ask.periods) < 2 and bool(_CHANGE.search(q))
    _read_over_years(ask, q_periods)
    ask.mean_of_one = not ask.over_years and not ask.formula and not ask.definitions and _asks_mean(q)
    # "TTM revenue" is no part of revenue: the trailing words blanked (same length, so the spans hold)
    unqualified = ask.said = _TRAILING.sub(lambda m: " " * len(m.group(0)), q)
    ask.total = bool(re.search(r"\btotal\b", _INSTRUCTION.sub(" ", q)))
    ask.narrower_said = _narrowing_words(unqualified, next((s for s in spans if ask.metrics and s[2] is ask.metrics[0]),
                                                           None))
    ask.narrower = _narrowing_set(ask.narrower_said)
    ask.beyond = next((what for pattern, what in _BEYOND if pattern.search(q)), ask.beyond)
    ask.trailing = bool(_TRAILING.search(q))
    if ask.trailing:  # "the trailing twelve months ended June 30": the months are the trailing ones, not a year's
        ask.periods = [p for p in ask.periods if p.months != 12 or p.end is None] or \
            [Period(None, end=p.end, said=p.said) for p in ask.periods]
    ask.per_share = bool(re.search(r"\bper[- ](?:common |ordinary |diluted |basic )?share\b|\beps\b|\bearnings per\b", q))
    ask.share_count = bool(re.search(r"\b(number|count) of (\w+ ){0,2}shares\b|\bshares? (outstanding|count)\b|"
                                     r"\bshares\b[^?.]{0,20}\bused\b|\bhow many (\w+ ){0,2}shares\b|"
                                     r"\bweighted[- ]average (\w+ ){0,3}shares\b", q))
    if ask.share_count:  # "shares used to compute diluted EPS": the count, not the per-share amount
        ask.metrics = [m for m in ask.metrics if not m.per_share]
    add_prior_year(ask)
    if ask.yes_no:
        ask.direction = "down" if _DOWN.search(q) else "up" if _UP.search(q) else None
    m = _DECIMALS.search(q)
    if m:
        word = next(g for g in m.groups() if g)
        ask.decimals = int(word) if word.isdigit() else _WORDS_N.get(word, 2)
    s = re.search(r"\bin (?:usd |us\$ |\$ ?)?(thousands|millions|billions)\b|\b(?:usd|\$) ?(thousands|millions|"
                  r"billions)\b", q)
    ask.scale = (s.group(1) or s.group(2)) if s else None
    return ask


# words before a metric's name that do not narrow it ("total net sales", "GAAP net income", "Apple's")
_NOT_NARROWING = {"total", "net", "gross", "consolidated", "reported", "gaap", "annual", "quarterly", "full", "company",
                  "overall", "its", "their", "s", "fiscal", "fy", "year", "quarter", "cash", "the", "a", "an"}
_NOT_A_MODIFIER = {"was", "were", "is", "did", "what", "how", "much", "report", "reported", "compute", "calculate",
                   "use", "used", "spend", "spent", "pay", "paid", "generate", "generated", "record", "recorded",
                   "post", "posted", "earn", "earned", "have", "had", "book", "booked", "show", "showed", "see",
                   "saw", "make", "made", "its", "their"}
_AUXILIARY = {"did", "does", "do", "has", "have", "had", "will", "would"}
_NARROWED_AFTER = re.compile(r"^\s*(?:\((?:loss|income|deficit)\)\s*)?(?:in|for|from|of|at) (?:the |its |their |"
                             r"[a-z0-9.&' -]{1,30}?'s )?([a-z][a-z &'-]{1,40}?) (?:reportable )?(?:segment|"
                             r"region|geography|geographic area|business|division|category|unit|market|"
                             r"product line)s?\b")


def _narrowing_words(q: str, span: tuple[int, int, Metric] | None) -> str:
    """The words that narrow the first metric a question names to a part of it: those just before
    its name ("Apple's iPhone revenue": iphone) and a segment, region or category named after it
    ("revenue in the Greater China segment": greater, china). Owners, periods and words that do not
    narrow ("total", "GAAP") are not among them."""
    if span is None:
        return ""
    start, end, _ = span
    words: list[str] = []
    before = re.split(r"[:;,.?!()]", q[max(0, start - 40):start])[-1]  # "Apple: net income": not "apple" income
    for word in reversed(re.findall(r"[a-z0-9&'-]+", before)):
        if word.endswith(("'s", "'")) or word in _STOP or re.search(r"\d", word) or \
                word in _NOT_A_MODIFIER:
            if word in _AUXILIARY:  # "how much cash did Apple pay for interest": Apple is who paid
                words.clear()
            break
        words.insert(0, word)
    after = _NARROWED_AFTER.match(q[end:])
    if after:
        words += re.findall(r"[a-z&]+", after.group(1))
    per = re.match(r"^\s+per (?!(?:diluted |basic )?share\b)([a-z-]+)", q[end:])
    if per:  # "revenue per store": a ratio to something no statement prints
        words.append(f"per-{per.group(1)}")
    return " ".join(w for w in words if w not in _NOT_NARROWING and w not in _STOP)


_ADDED = {"add", "acquire", "acquired"}  # what a year added to a balance, asked ("add", "acquired in 2023")
_TERMS = {"current", "non", "noncurrent", "long", "short"}  # the parts of a balance by when it falls due


def _narrowing_set(said: str) -> set[str]:
    """Narrowing words as a line's words are compared: "pre-tax" is pre and tax (a label's words); the
    mark of a ratio to something no statement prints ("per-store") stays whole."""
    return {_stem(w) for token in said.split()
            for w in ([token] if token.startswith("per-") else re.findall(r"[a-z&]+", token))} - _STOP


# asked of a filing's statements, these have no cell to read or compute from one filing
_BEYOND = (
    (re.compile(r"\bmedian\b"), "a median"),
    (re.compile(r"\bconstant[- ]currency\b|\borganic\b|\bexcluding (fx|foreign exchange|currency)\b"),
     "a constant-currency or organic figure (statements report as reported)"),
    (re.compile(r"\b(in|for) each of\b|\beach year\b|\byear by year\b"), "several figures at once (ask for each year)"),
)
_TRAILING = re.compile(r"\b(trailing|last|past) (twelve|12)[- ]months?\b|\b(ttm|ltm)\b")
_BETWEEN = re.compile(r"\bdifference between (.+?) and (.+?)(?=\s+(?:in|for|during|at|as of|over|on)\s|[?.,]|$)")
_DIFFERENCE = re.compile(r"^by how much\b|\bdifference (?:between|in)\b|"
                         r"\bhow much (higher|more|lower|less|larger|smaller)\b")
_SUM = re.compile(r"\b(combined|cumulative(ly)?|in total|altogether|in aggregate|sum of)\b")
_CAGR = re.compile(r"\bcagr\b|\bcompound(?:ed)? annual (?:growth|rate)\b")
_MEAN = re.compile(r"\baverage\b|\bmean\b")
_WEIGHTED = re.compile(r"\bweighted[- ]average\b")  # a line ("weighted-average shares"), not a mean of years


def _asks_mean(q: str) -> bool:
    return bool(_MEAN.search(_WEIGHTED.sub(" ", q)))
_LAST_YEARS = re.compile(r"\b(?:last|past|latest|most recent) (two|three|four|five|2|3|4|5) (?:fiscal )?years\b")
_YEAR_RANGE = re.compile(r"(?:19|20)\d{2}\s*(?:-|–|—|to|through|thru|until)\s*(?:fy\s*|fiscal (?:year )?)?'?\d{2}|"
                         r"\bbetween\b.*\b(?:19|20)\d{2}\b.*\band\b")
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5}


def _read_over_years(ask: Ask, q: str) -> None:
    """A compound annual growth rate between two fiscal years, or a mean over several ("average
    annual operating income over 2022 through 2024", "over the last three years"): one line's
    values, year by year. A range names its ends; a mean takes every year between them."""
    years = [p for p in ask.periods if p.months == 12 and p.quarter is None]
    last = _LAST_YEARS.search(q)
    if ask.formula or ask.definitions or ask.compare:
        if _CAGR.search(q) or (len(years) >= 2 or last) and (_asks_mean(q) or _SUM.search(q)):
            # "cumulative free cash flow from 2022 to 2024": a formula's value over years is not yet computed
            ask.beyond = "a formula's value summed, averaged or compounded over several years (ask for each year)"
        return
    if _CAGR.search(q):
        ask.over_years, ask.change = "cagr", False
    elif _asks_mean(q) and (len(years) >= 2 or last):
        ask.over_years = "average"
    elif _SUM.search(q) and (len(years) >= 2 or last):
        ask.over_years = "sum"
    else:
        return
    if last and len(years) < 2:
        ask.last_years = int(last.group(1)) if last.group(1).isdigit() else _NUMBER_WORDS[last.group(1)]
        return
    named = sorted({p.fiscal_year for p in years if p.fiscal_year})
    if ask.over_years in ("average", "sum") and len(named) >= 2 and _YEAR_RANGE.search(q):
        ask.periods = [Period(12, y, said=f"FY{y}") for y in range(named[0], named[-1] + 1)]


_ASKS_RATIO = re.compile(r"\bpercent(age)?\b|%|\bratio\b|\b(what|which|the|as an?) (share|proportion|fraction|portion) "
                         r"of\b")  # not "ExxonMobil share of equity", a line
_WITH_MINORITY = re.compile(r"\b(including|includ\w+|with) (the )?(non-?controlling|minority) interests?\b")
_SHARE_OF = (  # (pattern, group of the part, group of the whole)
    (re.compile(r"^(?:what|how much) (?:was|were|is|are) (.+?) as an? (?:percent(?:age)?|share|proportion|fraction) "
                r"of (.+?)(?=,|\?|$| (?:in|for|during|over|at|as of) )"), 1, 2),
    (re.compile(r"\b(?:what|which) (?:share|percent(?:age)?|proportion|fraction|portion) of (.+?) (?:went to|was spent "
                r"on|was|were|did [a-z0-9.&' -]+? spend on|came from) (.+?)(?=,|\?|$| (?:in|for|during|over|at|as of) )"),
     2, 1),
)


def _share_of(q: str) -> tuple[str, str] | None:
    """"X as a percentage of Y", "what share of Y went to X": (its name, the formula "X divided by Y
    as a percentage"), each side without its owner or period ("Apple's FY2024 net sales": net sales)."""
    for pattern, part, whole in _SHARE_OF:
        m = pattern.search(q)
        if m:
            x, y = (_bare_operand(m.group(k)) for k in (part, whole))
            if x and y:
                return f"{x} as a percentage of {y}", f"{x} divided by {y} as a percentage"
    return None


def _bare_operand(text: str) -> str:
    text = _OWNER.sub("", text.strip())
    text = _FISCAL_YEAR.sub(" ", _QUARTER.sub(" ", text))
    text = _YEAR.sub(" ", text)
    return re.sub(r"\s+", " ", re.sub(r"^the\s+", "", text.strip())).strip(" ,")


def add_prior_year(ask: Ask) -> None:
    """A change asked of one period ("year over year in Q3 FY2023"): against the same period a year before."""
    if (ask.change or ask.against_prior) and len(ask.periods) == 1:
        p = ask.periods[0]
        prior = Period(p.months, p.fiscal_year - 1 if p.fiscal_year else None, p.quarter,
                       _year_before(p.end) if p.end else None, "")
        ask.periods = [prior, p]


_ASKING = r"(?:did|does|do|was|were|is|are|what|how|has|have|compute|calculate|give|state)\b"
# "Define X as …", "Home Depot: define X as …"
_NAMES_A_FORMULA = re.compile(r"^(?:[a-z0-9.&' -]{1,40}:\s+)?(?:define|defining|let|take|taking|treat|treating)\s+",
                              re.IGNORECASE)


def definitions(q: str) -> tuple[dict[str, str], str]:
    """The formulas a question defines, by the name it gives them, in order ("Define fixed asset
    turnover as revenue divided by …", "Let DSO be …", "Take free cash flow as … , and FCF margin as
    free cash flow over total revenues", "…: return on average assets = net income divided by …"),
    and the rest of the question (what it asks of them)."""
    found: dict[str, str] = {}
    rest: list[str] = []
    for sentence in re.split(r"(?<=[.?!])\s+", q.strip()):
        body, asking = sentence, ""
        if _NAMES_A_FORMULA.match(sentence):
            body = _NAMES_A_FORMULA.sub("", sentence)
            split = re.search(rf",\s+(?={_ASKING})", body)
            if split:
                body, asking = body[:split.start()], body[split.end():]
            for part in re.split(r",\s+and\s+", body):
                m = re.match(r"^(.+?)\s+(?:as|be|to be|=)\s+(.+)$", part.strip(" .?"))
                if m:
                    found[_name(m.group(1))] = m.group(2).strip()
            rest.append(asking)
            continue
        m = re.search(r"(?:^|[:;,]\s*)([a-z][a-z '&/-]{2,60}?)\s*=\s*(.+)$", sentence)
        if m:
            formula, asking = m.group(2), ""
            split = re.search(rf",\s+(?={_ASKING})", formula)
            if split:
                formula, asking = formula[:split.start()], formula[split.end():]
            found[_name(m.group(1))] = formula.strip(" .?")
            rest.append(sentence[:m.start(1)] + " " + asking)
            continue
        rest.append(sentence)
    return found, " ".join(rest)


def _name(text: str) -> str:
    return re.sub(r"^(?:the|a|an)\s+", "", text.strip().lower())


def clean_formula(text: str) -> tuple[str, bool]:
    """A defined formula ready to evaluate, and whether it asks for a percentage: qualifiers
    ("both from the cash flow statement", "in percent") and aliases in parentheses
    ("(capital expenditures)") dropped, the words before an operator's comma joined."""
    percent = bool(re.search(r"\bin percent\b|\bas a percent\w*\b|%|\bpercentage\b", text))
    text = re.sub(r",?\s*\b(?:both (?:from|at|in|on)\b.*|from the [a-z ]+ statements?\b.*|(?:expressed |stated )?(?:in|as a)"
                  r" percent\w*.*|rounded\b.*|in usd\b.*)$", "", text)
    # "capital investments (capital expenditures)": the alias stays with its operand, in braces, so
    # that it can name the metric; parentheses that group an expression stay parentheses
    text = re.sub(r"\s*\(((?![^)]*(?:\bminus\b|\bplus\b|\bdivided\b|\bover\b|\btimes\b|\s[-+*/]\s))[^)]*)\)",
                  r" {\1}", text)
    text = re.sub(r",\s*(?=(?:divided by|times|multiplied by|minus|plus|less|over)\b)", " ", text)
    return text.strip(" ,."), percent


def _as_amount(q: str) -> bool:
    """'Gross margin in USD millions' asks for the amount Apple prints as 'Gross margin'."""
    return bool(re.search(r"\bin (usd |\$ ?)?(millions|thousands|billions)\b|\bamount\b|\bdollars?\b", q)) and \
        not re.search(r"percent|%|ratio", q)


def _definition(q: str) -> str | None:
    """A formula the question defines: "…, defined as X minus Y", "(X divided by Y)"."""
    m = re.search(r"\b(?:defined as|calculated as|computed as|measured as|(?:here )?means|i\.e\.|=)\s+([^?;]+)", q)
    text = m.group(1) if m else None
    if text is None:
        paren = re.search(r"\(([^()]*\b(?:minus|less|plus|divided by|over)\b[^()]*)\)", q)
        text = paren.group(1) if paren else None
    if not text:
        return None
    text = re.split(r",? (?:as a percent\w*|in percent\w*|expressed|round\w*|in usd|give)\b|\. ", text)[0]
    return text.strip(" .,")


def _periods(q: str) -> list[Period]:
    """The periods a question names, in the order named."""
    found: list[tuple[int, Period]] = []
    taken: list[tuple[int, int]] = []

    def free(m: re.Match) -> bool:
        return not any(s < m.end() and m.start() < e for s, e in taken)

    duration = next((n for pattern, n in _DURATIONS if pattern.search(q)), None)
    for m in _DATE.finditer(q):
        end = date(int(m.group(3)), month_number(m.group(1)), int(m.group(2)))
        window = max(0, m.start() - 60)
        dated = _DATED_QUARTER.search(q[window:m.start()])
        if dated:  # "the second quarter of fiscal 2026 (ended July 27, 2025)": that quarter, by its date
            quarter = int(dated.group(1)) if dated.group(1) else _ORDINAL[dated.group(4)]
            year = _full_year(dated.group(3) or dated.group(6))
            start = window + dated.start()
            found.append((start, Period(3, year, quarter, end=end, said=m.group(0))))
            taken.extend([(start, m.start()), m.span()])
            continue
        before = q[max(0, m.start() - 40):m.start()]
        months = duration if duration and re.search(r"ended|ending|months|quarter|year", before) else None
        if months is None and not re.search(r"\b(as of|at|on)\s*$", before) and duration:
            months = duration
        found.append((m.start(), Period(months, end=end, said=m.group(0))))
        taken.append(m.span())
    for m in _MONTH_QUARTER.finditer(q):  # "the June 2025 quarter", "the quarter ended July 2025"
        year, month = int(m.group(2) or m.group(4)), month_number(m.group(1) or m.group(3))
        end = date(year, month, monthrange(year, month)[1])
        found.append((m.start(), Period(3, end=end, said=m.group(0))))
        taken.append(m.span())
    for m in _QUARTER.finditer(q):
        if not free(m):
            continue
        quarter = int(m.group(1)) if m.group(1) else _ORDINAL[m.group(4)]
        year = _full_year(m.group(3) or m.group(6))
        found.append((m.start(), Period(3, year, quarter, said=m.group(0))))
        taken.append(m.span())
    for m in _FISCAL_YEAR.finditer(q):
        # "fiscal 2025 (ended June 28, 2025)": the date that follows says the same, exactly
        if not free(m):
            continue
        if not _DATE.match(q, m.end() + len(re.match(r"[\s(]*(?:year[- ]to[- ]date\s+)?(?:ended|ending|through)?\s*",
                                                      q[m.end():]).group(0))):
            months = None if _AT_END.search(q[:m.start()]) else duration or 12
            found.append((m.start(), Period(months, _full_year(m.group(1) or m.group(2)), said=m.group(0))))
        taken.append(m.span())
    for m in _YEAR.finditer(q):
        if free(m):
            months = None if _AT_END.search(q[:m.start()]) else duration or 12
            found.append((m.start(), Period(months, int(m.group(1)), said=m.group(0))))
            taken.append(m.span())
    periods = [p for _, p in sorted(found, key=lambda f: f[0])]
    if re.search(r"\bfirst (six|nine) months\b|\bfirst half\b", q):
        for p in periods:
            if p.end is None:
                p.months = duration
    return periods


def _full_year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def _year_before(day: date) -> date:
    return date(day.year - 1, day.month, min(day.day, 28))


_STOP = set("what was were is are the a an of in for to by did does do how much many its it as at and on from per "
            "during year years fiscal fy quarter ended ending months month three six nine twelve total amount usd "
            "millions million billions thousands dollars value according filing report statement statements "
            "consolidated sheet give response relying details shown round decimal places "
            "two one places company's company january february march april may june july august september october "
            "november december".split())


_NAMES_A_STATEMENT = re.compile(r"\b(?:the )?(?:consolidated )?(?:income statements?|statements? of (?:income|operations|"
                                r"cash flows?)|cash[- ]flow statements?|balance sheets?|financial statements?)\b")


# how to give the answer ("State it in millions of US dollars."): no line's name ("State" income taxes)
_INSTRUCTION = re.compile(r"(?:^|(?<=[.?!:;]))\s*(?:please\s+)?(?:state|give|express|report|provide|present)\s+(?:it|"
                          r"the (?:answer|figure|value|amount|result)|your answer)\b[^.?!]*")


def _content_words(q: str) -> set[str]:
    """The words that may name a printed line: not the statement the question says to read ("only
    reads the income statement" names no line with 'income'), nor an instruction on how to answer."""
    words = re.findall(r"[a-z&]+", _NAMES_A_STATEMENT.sub(" ", _INSTRUCTION.sub(" ", q)))
    return {_stem(w) for w in words if w not in _STOP and len(w) > 1}


_SAME_WORD = {"added": "add", "addition": "add", "additions": "add", "paid": "pay", "payment": "pay", "spent": "spend",
              "spending": "spend", "expenses": "expense", "repurchase": "repurchase", "bought": "purchase",
              "earning": "earnings"}


def _stem(word: str) -> str:
    word = _SAME_WORD.get(word, word)
    if word.endswith("ies") and len(word) > 5:  # "liabilities", as a concept's "Liability"
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and len(word) > 3 and not word.endswith("ss") else word


# ---- finding the line items --------------------------------------------------------------------

def period_matches(fact: Finding, period: Period, balance: bool, calendar: bool = False) -> bool:
    p = fact.value["period"]
    months = None if balance else period.months
    if months != p["months"] and not (balance and p["months"] is None):
        return False
    if balance and p["months"] is not None:
        return False
    if period.end is not None:
        if not p["end"] or len(p["end"]) < 10:
            # a column headed "Fiscal 2024" with no date: the fiscal year the asked date closes
            return period.fiscal_year is not None and p["fiscal_year"] == period.fiscal_year
        return abs((date.fromisoformat(p["end"]) - period.end).days) <= 7
    if period.fiscal_year is None:
        return True
    if calendar:  # "Q2 2023" of a company whose fiscal quarters are not the calendar's
        if not p["end"]:
            return False
        year, month = int(p["end"][:4]), int(p["end"][5:7])
        quarter = (month - 1) // 3 + 1 if month else None
        return year == period.fiscal_year and (period.quarter is None or quarter == period.quarter)
    if p["fiscal_year"] != period.fiscal_year:
        return False
    if balance:  # a balance at the end of that fiscal year, or of that quarter
        return p["fiscal_quarter"] == (period.quarter or 4)
    return period.quarter is None or p["fiscal_quarter"] == period.quarter


_OPERATION = re.compile(r"^(?:less|add|plus|deduct)\s*:\s*")  # "Less: Valuation allowance": the line is its name
# "Exploration expenses, including dry holes", "Finance lease obligations; payable in … through 2055": the line
# is its head
_QUALIFIER = re.compile(r",? \(?including\b.*$|;.*$")


def _label_score(ask: Ask, fact: Finding) -> float:
    """How completely the question names this printed line (its label without a trailing
    "including …", and its section)."""
    printed = _OPERATION.sub("", normalise_label(fact.value["label"]))
    label = {_stem(w) for w in re.findall(r"[a-z&]+", printed)} - _STOP
    head = {_stem(w) for w in re.findall(r"[a-z&]+", _QUALIFIER.sub("", printed))} - _STOP
    if head and head != label and head <= ask.words:
        label = head
    if not label or not ask.words:
        return 0.0
    section = {_stem(w) for w in re.findall(r"[a-z&]+", normalise_label(fact.value["section"]))} - _STOP
    covered = len(label & ask.words) / len(label)
    bonus = 0.25 * len(section & ask.words) / len(section) if section else 0.0
    return covered + bonus if covered == 1.0 else covered


def _ranked(ask: Ask, facts: list[Finding], metric: Metric | None, named_only: bool = False,
            statements_first: bool = False) -> list[Finding]:
    """The line items that may answer, best first: the metric's own lines (by the taxonomy) and the
    lines the question names word for word. A line the question names with more words than the
    metric's own name ("net income attributable to common stockholders", "depreciation of property
    and equipment") is the more specific answer and comes first; then the metric's lines in the
    order of its concepts and label forms (the net income attributable to the company before that
    including non-controlling interests); then the metric's own statement, the whole company before a
    segment's column, and the order of the document. ``named_only`` (a formula's operand) takes the
    metric's lines alone; ``statements_first`` (a formula's operand): a statement's line before a note's.
    """
    # the metric's own words, and the question's words for it ("services net sales": "net sales" is
    # the metric, "services" the line)
    metric_words = ({_stem(w) for w in re.findall(r"[a-z&]+", metric.name)} | ask.metric_words.get(metric.name, set())
                    if metric else set())
    scored = []
    rarity: dict[str, float] = {}  # read when a line named with no metric needs them
    tables: dict[tuple, set[str]] = {}
    for f in facts:
        is_metric = metric is not None and f.value["metric"] == metric.name
        extra = 0
        words = _label_words(f)
        other = metric_of(f.value["label"], None) if f.value["metric"] is None else None
        # a question that names no metric takes the line it names, whatever metric that line is
        if not named_only and (metric is None or f.value["metric"] in (None, metric.name)) and \
                (other is None or other is metric or metric is None) and \
                (not metric_words or words & metric_words or _under(f, metric) or _tagged_as(f, metric)) and \
                _same_kind(ask, f, metric) and \
                _label_score(ask, f) >= 1.0:
            extra = len((words & ask.words) - metric_words)
        if extra and ask.with_minority and not (words - _MINORITY_WORDS):
            extra = 0  # "total equity, including noncontrolling interests" names no "Noncontrolling interests" line
        if extra and metric is None:
            # a line named with no metric: by how much of the question it and its section, column and concept
            # say, the filing's rarer words counting for more ("valuation allowance" against its deferred tax
            # assets: not the line "Deferred tax assets")
            rarity = rarity or _rarity(facts)
            tables = tables or _table_words(facts)
            own = (words | _context_words(f)) & ask.words
            # the other lines of its table, at half weight: "valuation allowance against its deferred tax
            # assets" is the line of the table that prints the deferred tax assets
            around = (tables[_table_of(f)] & ask.words) - own
            extra = sum(rarity.get(w, rarity[""]) for w in own) + 0.5 * sum(rarity.get(w, rarity[""]) for w in around)
            if ask.total and _is_total(f):
                extra += 1.0  # "total operating lease liabilities": the line printed "Total …"
        if not is_metric and not extra:
            continue
        scored.append((f, extra, is_metric))
    home = metric.statement if metric else None
    # a question naming a table's total and a row of it ("the valuation allowance against its deferred tax
    # assets"): the total names the table, the row is asked
    rows_named = {_table_of(f) for f, extra, _ in scored if extra and not _is_total(f)} \
        if metric is None and not ask.total else set()
    # tables that split a total between the company and the noncontrolling interests: there a plain
    # "Net income" or "Total equity" includes them; which one is asked, `_owners_part_asked` says
    split = _split_by_owner(facts)

    def rank(entry):
        f, extra, is_metric = entry
        # the statement the question names comes first ("D&A in the cash flow statement", though the
        # income statement prints a line of the same name)
        named = ask.statement is not None and f.value["statement"] != ask.statement
        elsewhere = f.value["statement"] != home if home else f.value["statement"] is None
        # in a table split by owner, the company's part or the whole, as asked
        by_owner = is_metric and metric.name in _SPLIT_BY_OWNER and _table_of(f) in split
        other_part = by_owner and _whole(f) != (ask.with_minority or not _owners_part_asked(ask, metric))
        return (named, statements_first and f.value["statement"] is None, _is_total(f) and _table_of(f) in rows_named,
                -extra, not is_metric, elsewhere,
                f.value["statement"] is None, ask.with_minority and not _includes_minority(f),
                other_part, _form_rank(f, metric),
                (*_current_or_not(ask, f), _unasked_parts(ask, f)) if metric is None else (0, False, 0),
                f.value.get("dimensional", False), f.locator.page or 0, f.locator.table or 0, f.locator.cell or (0, 0))
    return [f for f, _, _ in sorted(scored, key=rank)]


def _tagged_as(fact: Finding, metric: Metric | None) -> bool:
    """A line whose concept names the metric ("GoodwillAcquiredDuringPeriod": goodwill, "Additions")."""
    return metric is not None and {_stem(w) for w in re.findall(r"[a-z&]+", metric.name)} <= set(_concept_words(fact))


def _is_total(fact: Finding) -> bool:
    return normalise_label(fact.value["label"]).startswith("total")


def _current_or_not(ask: Ask, fact: Finding) -> tuple[int, bool]:
    """Between lines a question names that are printed alike (Apple's "Term debt" under current and
    under non-current liabilities), the one whose section or tagged concept says "current" or
    "non-current" as the question does; a non-current line only when asked."""
    concept = re.sub(r"([a-z])([A-Z])", r"\1 \2", (fact.value.get("concept") or "").split(":")[-1])
    around = f"{fact.value['section']} {concept}".lower().replace("noncurrent", "non current")
    qualifiers = set(re.findall(r"[a-z]+", around)) & {"current", "non"}
    return -len(qualifiers & ask.words), "non" in qualifiers and "non" not in ask.words


def _unasked_parts(ask: Ask, fact: Finding) -> int:
    """Between lines a question names alike (and whose section, column and concept say as much of it),
    how many words their section, column and tagged concept say that the question does not: a part
    ("Finance Leases", "Deferred tax assets") is not the whole asked. Two words joined by "and" in a
    concept ("Operating and Finance") are both parts, so neither narrows when neither is asked."""
    unasked = _context_words(fact) - ask.words
    for pair in _joined_pairs(_concept_words(fact)):
        if not pair & ask.words:
            unasked -= pair
    return len(unasked)


def _context_words(fact: Finding) -> set[str]:
    """What a line's section, column and tagged concept say beyond its label."""
    label = _label_words(fact)
    return (_words_of(fact) - label) | (set(_concept_words(fact)) - {"and"} - label)


def _table_words(facts: list[Finding]) -> dict[tuple, set[str]]:
    """Each table's words: those of the labels and sections its lines print."""
    out: dict[tuple, set[str]] = {}
    for f in facts:
        out.setdefault(_table_of(f), set()).update(_words_of(f))
    return out


def _rarity(facts: list[Finding]) -> dict[str, float]:
    """How rare each word is among the filing's printed labels (inverse document frequency; "" for a
    word no label prints): the words that tell its lines apart weigh more than those most lines share."""
    labels = {normalise_label(f.value["label"]) for f in facts}
    counts: dict[str, int] = {}
    for label in labels:
        for w in {_stem(w) for w in re.findall(r"[a-z&]+", label)}:
            counts[w] = counts.get(w, 0) + 1
    rarity = {w: 1.0 + math.log((len(labels) + 1) / (n + 1)) for w, n in counts.items()}
    rarity[""] = 1.0 + math.log(len(labels) + 1)
    return rarity


def _joined_pairs(words: list[str]) -> list[set[str]]:
    """The words an "and" joins: ("operating", "finance") in operating and finance lease liability."""
    return [{words[k - 1], words[k + 1]} for k in range(1, len(words) - 1) if words[k] == "and"]


def _concept_narrowing(fact: Finding) -> set[str]:
    """The words of a tagged line's concept that say which part it is: not those an "and" joins (the
    operating and finance leases together are neither's part)."""
    words = _concept_words(fact)
    return set(words) - {"and"} - set().union(*_joined_pairs(words))


def _concept_words(fact: Finding) -> list[str]:
    """A tagged line's concept in words, stemmed ("aapl:OperatingandFinanceLeaseLiability": operating,
    and, finance, lease, liability); none for a printed line."""
    name = (fact.value.get("concept") or "").split(":")[-1]
    name = re.sub(r"(?<=[a-z])and(?=[A-Z])", "And", name)  # "OperatingandFinance", as some filers write it
    return [_stem(w.lower()) for w in re.findall(r"[A-Z][a-z]*|[a-z]+", name) if w.lower() not in _STOP - {"and"}]


_MINORITY_WORDS = {"noncontrolling", "non", "controlling", "minority", "interest"}
_MINORITY = re.compile(r"\b(non-?controlling|minority) interests?\b")
_SPLIT_BY_OWNER = ("net income", "total equity")  # totals a statement splits between the company and the minority


def _split_by_owner(facts: list[Finding]) -> set[tuple]:
    """The tables that split a total between the company and the noncontrolling interests."""
    return {_table_of(f) for f in facts if _MINORITY.search(normalise_label(f.value["label"] + " " + f.value["section"]))}


def _other_owner_line(facts: list[Finding], fact: Finding, metric: Metric | None, ask: Ask) -> str:
    """Where the answer's total is one of two a table prints by owner (the company's "Net income
    attributable to …" and the whole "Net income"), a sentence giving the other, so that neither
    meaning is hidden; empty when the question chose one by its words or the table has one."""
    if metric is None or metric.name not in _SPLIT_BY_OWNER or fact.value["metric"] != metric.name or \
            ask.with_minority or _table_of(fact) not in _split_by_owner(facts):
        return ""
    other = next((f for f in facts if _table_of(f) == _table_of(fact) and f.value["metric"] == metric.name
                  and f.value["period"] == fact.value["period"] and _whole(f) != _whole(fact)), None)
    if other is None:
        return ""
    value, unit = _scaled(line_amount(other, metric), other.unit or "", ask.scale)
    which = "the whole, noncontrolling interests included" if _whole(other) else "the company's own part"
    return (f" The table also prints “{other.value['label']}” ({which}): {_fmt(value, ask.decimals, other)} {unit} "
            f"({_where(other.locator)}).")


def _owners_part_asked(ask: Ask, metric: Metric) -> bool:
    """Whether a total split between the company and the minority is asked as the company's part: net
    income is (the usual meaning, as the taxonomy's NetIncomeLoss), equity when the question names its
    owners ("stockholders' equity"); a plain "total equity" is the line printed so, minority included."""
    if metric.name == "total equity":
        return bool(ask.metric_words.get(metric.name, set()) & {"stockholder", "shareholder", "shareowner"})
    return True


def _table_of(fact: Finding) -> tuple:
    return fact.locator.source, fact.locator.page, fact.locator.table


def _whole(fact: Finding) -> bool:
    """A total printed with no owner ("Net income", "Total equity"), or one that says it includes the
    noncontrolling interests."""
    label = normalise_label(fact.value["label"])
    return _includes_minority(fact) or not re.search(r"\b(attributable|available|share|to|of)\b|non-?controlling|"
                                                     r"minority", label)


def _includes_minority(fact: Finding) -> bool:
    """A line that includes the noncontrolling interests (tagged so, or printed so)."""
    concept = (fact.value.get("concept") or "").split(":")[-1]
    return concept in ("ProfitLoss", "StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest") or \
        bool(re.search(r"\bincluding (non-?controlling|minority)", normalise_label(fact.value["label"])))


def _under(fact: Finding, metric: Metric | None) -> bool:
    """A line standing under a section that is the metric ("Services" under "Net sales:")."""
    return metric is not None and bool(fact.value["section"]) and \
        metric_of(fact.value["section"], fact.value["statement"]) is metric


def _form_rank(fact: Finding, metric: Metric | None) -> int:
    """Which of the metric's concepts (iXBRL) or label forms (printed) a line is: the first is the
    usual meaning ("net income": attributable to the company)."""
    if metric is None:
        return 0
    concept = (fact.value.get("concept") or "").split(":")[-1]
    if concept in metric.concepts:
        return metric.concepts.index(concept)
    label = normalise_label(fact.value["label"])
    return len(metric.concepts) + next((k for k, p in enumerate(metric.labels) if re.search(p, label)), len(metric.labels))


def _same_kind(ask: Ask, fact: Finding, metric: Metric | None) -> bool:
    """A share count answers only a question about shares; a per-share amount only one about EPS."""
    unit = fact.unit or ""
    if unit == "%":  # a printed ratio answers only a question after a ratio or a rate, not a change or an amount
        return metric is None and not ask.change and (ask.ratio or bool(ask.words & _RATE_WORDS))
    if unit.startswith("shares"):
        return (ask.share_count or "share" in ask.words and not ask.per_share) and not (metric and metric.per_share)
    # an amount answers no question after a per-share figure ("dividends paid per common share"), unless
    # the figure is computed from it (a formula's operand)
    direct = ask.per_share and not (ask.formula or ask.definitions or ask.compare)
    if unit.endswith("per share"):
        return bool(metric.per_share) or direct if metric else ask.per_share and not ask.share_count
    return not (metric and metric.per_share) and not direct


_RATE_WORDS = {"rate", "margin", "yield", "percent", "percentage"}


def _label_words(fact: Finding) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z&]+", _OPERATION.sub("", normalise_label(fact.value["label"])))} - _STOP


def lookup(ask: Ask, facts: list[Finding], metric: Metric | None, period: Period,
           named_only: bool = False, statements_first: bool = False) -> Finding | None:
    balance = metric is not None and metric.statement == BALANCE
    flow = None
    if period.months is None and period.end is None and metric is not None and not balance:
        # the metric's flow asked "at the end of fiscal 2024": the year (or quarter) that ends then; a
        # line the question names is still asked at that date ("unearned revenue at the end of …")
        flow = Period(3 if period.quarter else 12, period.fiscal_year, period.quarter, said=period.said)
    ranked = _ranked(ask, facts, metric, named_only, statements_first)
    for calendar in (False, True):  # "Q2 2023": the company's fiscal quarter, else the calendar's
        for f in ranked:
            own = metric is not None and f.value["metric"] == metric.name
            asked = flow if flow is not None and own else period
            # a line the question names is a balance or a flow by its own column ("goodwill … added in 2024":
            # the year's additions, though goodwill is a balance)
            is_balance = balance and (own or f.value["period"]["months"] is None)
            if period_matches(f, asked, is_balance or (f.value["period"]["months"] is None and asked.months is None),
                              calendar):
                return f
        if period.quarter is None:
            break
    return None


def line_amount(fact: Finding, metric: Metric | None) -> float:
    """A line's amount as analysts state it: outflows positive, and an expense a statement prints in
    parentheses as a deduction positive too (a tagged fact's sign is the filer's and is kept)."""
    value = float(fact.value["amount"])
    if _outflow(fact, metric) or (metric is not None and metric.expense and not fact.value.get("concept")):
        return abs(value)
    if not fact.value.get("concept") and _DEDUCTION.search(normalise_label(fact.value["label"])):
        return abs(value)  # "Less: Valuation allowance (8,866)", "Accumulated depreciation (73,448)": its size
    return value


# lines printed as deductions from the line above: their amount is their size (as a filing's tags give it)
_DEDUCTION = re.compile(r"^(?:less|deduct)\b|^accumulated (?:depreciation|amortization|depletion)\b|"
                        r"\ballowance for\b|^valuation allowance\b|^imputed interest\b")


def _outflow(fact: Finding, metric: Metric | None) -> bool:
    """An outflow metric's line, or a line the question names that the cash-flow statement prints in
    parentheses under investing or financing activities ("Capital investments (3,452)")."""
    if metric is not None:
        return metric.outflow
    return fact.value["statement"] == CASH and fact.value["amount"] < 0 and \
        bool(re.search(r"\b(investing|financing)\b", fact.value["section"].lower()))


# ---- answering -------------------------------------------------------------------------------

class _Missing(Exception):
    """What an answer lacks (a line, a period), or ``sentence``: why the question has no number."""
    def __init__(self, what: str, period: Period | None, sentence: str | None = None):
        super().__init__(what)
        self.what, self.period, self.sentence = what, period, sentence


def answer(question: str, findings: list[Finding]) -> list[Finding]:
    """The answer to an analyst's question (first) and the line items it rests on; [] when the
    question asks no financial metric or the workspace has no line items."""
    facts = [f for f in findings if f.kind == "finance.fact"]
    if not facts:
        return []
    if _NOT_A_VALUE.search(question.strip().split("?")[0].split(". ")[-1]):
        return []  # "Where are most sales made?" asks a place, not revenue's amount
    ask = parse(question)
    if not ask.is_financial and not any(_label_score(ask, f) >= 1.0 for f in facts):
        return []
    return resolve(ask, facts, years_back=_years_back(question))


def resolve(ask: Ask, facts: list[Finding], years_back: int = 0) -> list[Finding]:
    """What ``answer`` gives once the question is parsed: the answer (or what is missing), then its
    input cells. No period asked: the filing's current one, ``years_back`` fiscal years earlier."""
    source = facts[0].locator.source
    if not ask.periods:
        latest = latest_period(facts)
        back = years_back
        ask.periods = [Period(latest.months, latest.fiscal_year - back if latest.fiscal_year else None,
                              latest.quarter, said=("a year earlier" if back else ""))]
        add_prior_year(ask)
    for period in ask.periods:
        if period.end is not None and period.fiscal_year is None:
            period.fiscal_year = _fiscal_year_closing(facts, period.end)
    if ask.beyond and ask.is_financial:
        return [_missing_finding(source, ask, facts, _Missing(ask.beyond, None, f"No figure is stated: the question "
                                                                                  f"asks for {ask.beyond}."))]
    try:
        found = _resolved(ask, facts)
    except _Missing as missing:
        return [_missing_finding(source, ask, facts, missing)]
    head = found[0]
    if not ask.metrics and not ask.narrower and head.kind == "finance.answer" and not head.value.get("formula") and \
            len(found) == 2:
        # a question that names no metric but a line ("finance lease liabilities"): the words before the
        # line's name narrow it as they narrow a metric's
        said = _narrowing_words(ask.said, _named_span(ask.said, found[1])).split()
        # "the current portion of …": a current or long-term part asked wherever the question says it
        said += sorted(ask.words & _TERMS - _words_of(found[1]) - set(said))
        covered = _concept_narrowing(found[1])  # "finance" in FinanceLeaseLiability
        ask.narrower_said = " ".join(w for w in said if not _narrowing_set(w) <= covered)
        ask.narrower = _narrowing_set(ask.narrower_said)
    if ask.narrower and head.kind == "finance.answer" and not head.value.get("formula") and len(found) == 2 and \
            not ask.narrower <= _words_of(found[1]):
        return _narrowed(ask, facts, found)
    line = found[1] if len(found) == 2 else None
    metric = ask.metrics[0] if ask.metrics else None
    if line is not None and metric is not None and metric.statement == BALANCE and head.kind == "finance.answer" and \
            not head.value.get("formula") and line.value["metric"] == metric.name and ask.words & _ADDED:
        # "how much goodwill did Oracle add from acquisitions": what the year added, not the balance it closed at
        missing = _Missing(f"what the year added to {metric.name}", ask.periods[0] if ask.periods else None,
                           f"No figure is stated: the question asks what was added to {metric.name} in the year, and "
                           f"the line read, “{line.value['label']}”, is the balance at its end; no line of the year's "
                           f"additions was read (nearest lines: {', '.join(nearest_labels(ask.words, facts))}).")
        return [_missing_finding(source, ask, facts, missing)]
    if ask.mean_of_one and head.kind == "finance.answer" and not head.value.get("formula") and \
            not any(_MEAN.search(f.value["label"].lower()) for f in found[1:]):
        # "Meta's average revenue": a mean over no years named is no line's value
        missing = _Missing("years to average over", None, "No figure is stated: the question asks for an average "
                           "but names no years to average over (name two or more, or “the last three years”).")
        return [_missing_finding(source, ask, facts, missing)]
    if ask.ratio and not ask.change and head.unit not in (None, "", "%", "x"):
        # a percentage or a share asked, an amount found: no formula read the question's ratio
        missing = _Missing(f"a formula for the percentage asked (“{head.value['metric']}” is an amount)",
                           ask.periods[0] if ask.periods else None)
        return [_missing_finding(source, ask, facts, missing)]
    return found


def _resolved(ask: Ask, facts: list[Finding]) -> list[Finding]:
    """The answer and its cells by the kind of question; raises _Missing."""
    if ask.trailing:
        return _trailing(ask, facts, ask.metrics[0] if ask.metrics else None)
    if ask.over_years:
        return _over_years(ask, facts, ask.metrics[0] if ask.metrics else None)
    if ask.difference:
        return _difference(ask, facts)
    if ask.target or ask.compare:
        return _defined(ask, facts)
    if ask.formula:
        return _derived(ask, facts)
    metric = ask.metrics[0] if ask.metrics else None
    if ask.change or (ask.yes_no and len(ask.periods) >= 2):
        return _change(ask, facts, metric)
    if ask.yes_no:
        return _yes_no_level(ask, facts, metric)
    return _value(ask, facts, metric, ask.periods[0])


def _named_span(q: str, fact: Finding) -> tuple[int, int, None] | None:
    """Where the question names a line: the longest run of its words that are the label's words."""
    label = {_stem(w) for w in re.findall(r"[a-z&]+", normalise_label(fact.value["label"]))}
    best, run = None, None
    for m in re.finditer(r"[a-z&]+", q):
        if _stem(m.group(0)) in label:
            run = (run[0] if run else m.start(), m.end())
            if best is None or run[1] - run[0] > best[1] - best[0]:
                best = run
        elif m.group(0) not in ("of", "and", "the"):
            run = None
    return (best[0], best[1], None) if best else None


def _member(fact: Finding) -> str:
    """The member of a segment's or a category's column, in words ("GreaterChinaSegmentMember":
    "Greater China Segment Member"); "" for a column of the whole."""
    printed = fact.value["period"].get("printed", "")
    member = printed.split("—")[-1].strip() if "—" in printed else ""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", member)


def _words_of(fact: Finding) -> set[str]:
    """A line's words: its label, its section and its column's member."""
    text = " ".join([normalise_label(fact.value["label"]), normalise_label(fact.value["section"]),
                     _member(fact).lower()])
    return {_stem(w) for w in re.findall(r"[a-z&]+", text)} - _STOP


def _narrowed(ask: Ask, facts: list[Finding], found: list[Finding]) -> list[Finding]:
    """The question narrows the metric ("iPhone revenue", "revenue in the Greater China segment") and
    the line found is the whole: the line of that part in the same period, when the filing prints
    one (a segment's or a category's row, named by its label or its column's member), else what is
    missing — never the whole's number."""
    whole = found[1]
    metric = BY_NAME.get(whole.value["metric"]) if whole.value["metric"] else None
    period = whole.value["period"]
    # tables that print the metric's own line: a breakdown of it ("Net sales by category" with its "Total net sales")
    of_metric = {_table_of(f) for f in facts if metric is not None and metric_of(f.value["label"], None) is metric}
    # with no metric, a part names what the whole does ("current" finance lease liabilities: not "Total
    # current liabilities")
    own = _label_words(whole) if metric is None else set()
    parts = [f for f in facts if f is not whole and _same_column(f.value["period"], period)
             and ask.narrower <= _words_of(f) and own <= _words_of(f) | set(_concept_words(f))
             and _same_kind(ask, f, metric)
             and (_part_of(f, metric, ask) or _table_of(f) in of_metric and _label_score(ask, f) >= 1.0)]
    if not parts:
        what = ask.narrower_said
        missing = _Missing(f"{what} {metric.name if metric else 'line asked'}", None,
                           f"The filing has no line for “{what}” within {_line_name(whole, metric)}: no number is "
                           f"stated (the whole, “{whole.value['label']}”, is not the part asked); nearest lines: "
                           f"{', '.join(nearest_labels(ask.words, facts))}.")
        return [_missing_finding(whole.locator.source, ask, facts, missing)]
    part = min(parts, key=lambda f: (len(_words_of(f) - ask.narrower - ask.words), f.value["statement"] is None))
    value, unit = _scaled(line_amount(part, None), part.unit or "", ask.scale)
    name = _line_name(part, None)
    member = _member(part).removesuffix("Member").strip()  # "Greater China Segment"
    if member.lower() == part.value["label"].lower():
        member = ""  # "iPhone", the member of the column "iPhone"
    text = (f"{_cap(name)}{f' ({member})' if member else ''} {_for(period['label'])}: "
            f"{_fmt(value, ask.decimals, part)} {unit} — the line “{part.value['label']}” of the "
            f"{_statement_name(part.value['statement'])} ({_where(part.locator)}).")
    return [Finding("finance.answer", {"value": value, "formula": None, "verdict": None, "metric": name},
                    unit, text, part.locator), part]


def _same_column(part: dict, whole: dict) -> bool:
    """The part's column is the whole's period: the same end and length, or a note's column headed by
    the year alone ("2024", no "years ended") of the fiscal year the whole's twelve months close."""
    if part["end"] == whole["end"] and part["months"] == whole["months"]:
        return True
    return part["months"] is None and len(part["end"] or "") < 10 and whole["months"] == 12 and \
        part["fiscal_year"] is not None and part["fiscal_year"] == whole["fiscal_year"]


def _part_of(fact: Finding, metric: Metric | None, ask: Ask) -> bool:
    """A line that is a part of the metric asked: tagged with one of its concepts (a segment's column),
    printed with one of its labels, or named by the question and standing under the metric's section
    ("Reality Labs" under "Income (loss) from operations", not under "Revenue")."""
    if metric is None:
        return _label_score(ask, fact) >= 1.0
    if (fact.value.get("concept") or "").split(":")[-1] in metric.concepts:
        return True
    return metric_of(fact.value["label"], None) is metric or (_label_score(ask, fact) >= 1.0 and _under(fact, metric))


def _fiscal_year_closing(facts: list[Finding], day: date) -> int | None:
    """The fiscal year that ends on a date, as the filing's own dated columns name it (a balance at
    February 2, 2025 in Home Depot's fiscal 2024); None when no twelve-month or balance column ends
    within a week of it."""
    for f in facts:
        p = f.value["period"]
        if p["end"] and len(p["end"]) >= 10 and p["months"] in (None, 12) and p["fiscal_quarter"] == 4 and \
                abs((date.fromisoformat(p["end"]) - day).days) <= 7:
            return p["fiscal_year"]
    return None


_NOT_A_VALUE = re.compile(r"^\s*(where|who|whom|why|tell me|describe|explain|summari[sz]e|list|which (region|segment|"
                          r"country|countries|product|customer|supplier)s?)\b", re.IGNORECASE)
_RELATIVE_YEAR = re.compile(r"\b(last|prior|previous|preceding) (fiscal )?year\b|\ba year (ago|earlier|before)\b"
                            r"|\b(last|prior|previous|preceding) year's\b", re.I)


def _years_back(question: str) -> int:
    """'Net income last year' with no year named: one year before the filing's current period."""
    return 1 if _RELATIVE_YEAR.search(question) else 0


def latest_period(facts: list[Finding]) -> Period:
    """No period asked: the filing's current period, the shortest one ending last in its income or
    cash-flow statement (a 10-Q's quarter, not its six months; a 10-K's year), else its first column."""
    dated = [f for f in facts if f.value["period"]["months"] and len(f.value["period"]["end"] or "") == 10]
    dated = [f for f in dated if f.value["statement"] in (INCOME, CASH)] or dated
    if dated:
        end = max(f.value["period"]["end"] for f in dated)
        first = min((f for f in dated if f.value["period"]["end"] == end), key=lambda f: f.value["period"]["months"])
    else:
        first = next((f for f in facts if f.locator.cell and f.locator.cell[1] == 1 and f.value["period"]["months"]),
                     facts[0])
    p = first.value["period"]
    return Period(p["months"], p["fiscal_year"], p["fiscal_quarter"] if p["months"] == 3 else None)


def _need(ask: Ask, facts: list[Finding], metric: Metric | None, period: Period, named_only: bool = False) -> Finding:
    fact = lookup(ask, facts, metric, period, named_only)
    if fact is None:
        raise _Missing(metric.name if metric else "the line asked", period)
    return fact


def _value(ask: Ask, facts: list[Finding], metric: Metric | None, period: Period) -> list[Finding]:
    fact = _need(ask, facts, metric, period)
    value, unit = _scaled(line_amount(fact, metric), fact.unit or "", ask.scale)
    name = _line_name(fact, metric)
    column = _member(fact).removesuffix("Member").strip()  # "Finance Leases", a segment's member
    if column and column.lower() != fact.value["label"].lower():
        name = f"{name} ({column})"
    printed = fact.value["printed"]
    sign = f" (printed {printed}: an outflow)" if _outflow(fact, metric) and fact.value["amount"] < 0 else ""
    text = (f"{_cap(name)} {_for(fact.value['period']['label'])}: {_fmt(value, ask.decimals, fact)} {unit}{sign} — "
            f"the line “{fact.value['label']}” of the {_statement_name(fact.value['statement'])} "
            f"({_where(fact.locator)}).") + _other_owner_line(facts, fact, metric, ask)
    return [Finding("finance.answer", {"value": value, "formula": None, "verdict": None, "metric": name},
                    unit, text, fact.locator), fact]


def _line_name(fact: Finding, metric: Metric | None) -> str:
    """What an answer calls its line: the metric's name where the line is the metric, else the printed
    label with the section it stands under ("Services (net sales)")."""
    if metric is not None and fact.value["metric"] == metric.name:
        return metric.name
    label, section = _FOOTNOTE.sub("", fact.value["label"]).split(";")[0], _FOOTNOTE.sub("", fact.value["section"])
    return f"{label} ({section.lower()})" if section and len(section) < 40 and section.lower() != label.lower() \
        else label


def _change(ask: Ask, facts: list[Finding], metric: Metric | None) -> list[Finding]:
    older, newer = sorted(ask.periods[:2], key=_period_key)
    a, b = _need(ask, facts, metric, older), _need(ask, facts, metric, newer)
    va, vb = line_amount(a, metric), line_amount(b, metric)
    if va == 0:
        raise _Missing(f"growth of {metric.name if metric else 'the line'} from zero", older)
    pct = round(100.0 * (vb - va) / abs(va), ask.decimals if ask.decimals is not None else 2)
    name = _line_name(b, metric)
    verdict = None
    if ask.yes_no:
        verdict = "Yes" if (vb < va if ask.direction == "down" else vb > va) else "No"
    moved = "rose" if vb > va else "fell" if vb < va else "was unchanged"
    text = (f"{_cap(name)} changed {pct:+.{_places(ask, 2)}f}% from {a.value['period']['label']} to "
            f"{b.value['period']['label']}: it {moved} from {_fmt(va, None, a)} to {_fmt(vb, None, b)} {b.unit}, "
            f"(new − old) / |old|, from the line “{b.value['label']}” ({_where(b.locator)}).")
    return [Finding("finance.answer", {"value": pct, "formula": "(new - old) / |old|", "verdict": verdict,
                                       "metric": f"{name} growth"}, "%", (f"{verdict}. " if verdict else "") + text,
                    b.locator), b, a]


def _over_years(ask: Ask, facts: list[Finding], metric: Metric | None) -> list[Finding]:
    """A line's compound annual growth rate between its first and last fiscal year asked, or its
    mean over every year asked; each year's cell cited. A year the filing lacks: what is missing."""
    if ask.last_years:
        latest = latest_period(facts)
        if latest.months != 12 or latest.fiscal_year is None:
            raise _Missing(f"{ask.last_years} fiscal years of the line", latest)
        ask.periods = [Period(12, latest.fiscal_year - k, said=f"FY{latest.fiscal_year - k}")
                       for k in reversed(range(ask.last_years))]
    periods = sorted(ask.periods, key=_period_key)
    if len(periods) < 2:
        raise _Missing(f"two fiscal years for the {'CAGR' if ask.over_years == 'cagr' else 'average'} asked",
                       periods[0] if periods else None)
    if ask.over_years == "cagr":
        periods = [periods[0], periods[-1]]
    cells = [_need(ask, facts, metric, p) for p in periods]
    values = [line_amount(c, metric) for c in cells]
    name = _line_name(cells[-1], metric)
    first, last = cells[0].value["period"], cells[-1].value["period"]
    shown = "; ".join(f"{c.value['period']['label']} {_fmt(v, None, c)}" for c, v in zip(cells, values))
    if ask.over_years == "cagr":
        years = (last["fiscal_year"] or 0) - (first["fiscal_year"] or 0)
        if years <= 0 or values[0] <= 0 or values[-1] <= 0:
            raise _Missing(f"a CAGR of {name} (it needs a positive value at both ends, a year or more apart)",
                           periods[0])
        places = _places(ask, 2)
        value = round(100.0 * ((values[-1] / values[0]) ** (1 / years) - 1), places)
        text = (f"{_cap(name)} grew at a compound annual rate of {value:+.{places}f}% from {first['label']} to "
                f"{last['label']}: (last / first)^(1/{years}) − 1, with {shown} {cells[-1].unit} (each from the "
                f"cited line).")
        return [Finding("finance.answer", {"value": value, "formula": f"(last / first)^(1/{years}) - 1",
                                           "verdict": None, "metric": f"{name} CAGR"}, "%", text,
                        cells[-1].locator), *reversed(cells)]
    if ask.over_years == "sum":
        if cells[-1].value["period"]["months"] is None or (metric and metric.per_share):
            raise _Missing(f"a sum of {name}", periods[0], f"No figure is stated: {name} is a balance or a per-share "
                           f"amount, and adding it over years gives no figure a filing reports.")
        value, unit = _scaled(sum(values), cells[-1].unit or "", ask.scale)
        text = (f"{_cap(name)} totalled {_fmt(value, ask.decimals, cells[-1])} {unit} over {len(cells)} fiscal years, "
                f"{first['label']} to {last['label']}: the sum of {shown} {cells[-1].unit} (each from the cited line).")
        return [Finding("finance.answer", {"value": value, "formula": f"sum of {len(cells)} years", "verdict": None,
                                           "metric": f"total {name}"}, unit, text, cells[-1].locator),
                *reversed(cells)]
    value, unit = _scaled(sum(values) / len(values), cells[-1].unit or "", ask.scale)
    text = (f"{_cap(name)} averaged {_fmt(value, ask.decimals if ask.decimals is not None else 2, cells[-1])} "
            f"{unit} a year over {len(cells)} fiscal years, {first['label']} to {last['label']}: the mean of {shown} "
            f"{cells[-1].unit} (each from the cited line).")
    return [Finding("finance.answer", {"value": value, "formula": f"mean of {len(cells)} years", "verdict": None,
                                       "metric": f"average {name}"}, unit, text, cells[-1].locator), *reversed(cells)]


def _trailing(ask: Ask, facts: list[Finding], metric: Metric | None) -> list[Finding]:
    """A flow over the twelve months to the period asked: the fiscal year itself at a year's end, else
    the last fiscal year's figure plus this year's year-to-date less last year's (a 10-Q's columns and
    the last 10-K's, read into one workspace), each cell cited; what is missing, said, with no number."""
    if metric is None or ask.formula or ask.definitions or len(ask.metrics) > 1:
        raise _Missing("one line", None, "No figure is stated: a trailing-twelve-month figure is computed for one "
                       "line at a time (revenue, net income, operating cash flow); ask for the line.")
    if metric.statement == BALANCE or metric.per_share:
        what = "a balance, stated at a date" if metric.statement == BALANCE else "a per-share amount, which " \
            "does not add over periods"
        raise _Missing(metric.name, None, f"No figure is stated: {metric.name} is {what}; trailing twelve months "
                       f"add up a flow.")
    asked = ask.periods[0] if ask.periods else latest_period(facts)
    # the longest span the filings print to the asked date: the year to date (or the year)
    spans = (12,) if asked.end is None and asked.quarter is None else (12, 9, 6, 3)  # a fiscal year: its own
    quarter = asked.quarter if asked.end is None else None
    to_date = None
    for months in spans:
        to_date = lookup(ask, facts, metric, Period(months, asked.fiscal_year, quarter, asked.end, said=asked.said))
        if to_date is not None:
            break
    if to_date is None:
        raise _Missing(metric.name, asked)
    name = _line_name(to_date, metric)
    end = to_date.value["period"]
    if end["months"] == 12:
        cells, signs = [to_date], [1]
    else:
        year, quarter, months = end["fiscal_year"], end["fiscal_quarter"], end["months"]
        annual = lookup(ask, facts, metric, Period(12, year - 1))
        if annual is None:
            raise _Missing(metric.name, Period(12, year - 1), f"No figure is stated: the trailing twelve months to "
                           f"{end['end']} need {name} for FY{year - 1}, which no file here reports (the FY{year - 1} "
                           f"annual report gives it: add its 10-K beside this filing).")
        prior = _need(ask, facts, metric, Period(months, year - 1, quarter,
                                                 said=f"the first {months} months of FY{year - 1}"))
        cells, signs = [annual, to_date, prior], [1, 1, -1]
    unit = to_date.unit or ""
    parts = [_scaled(line_amount(c, metric), c.unit or "", unit.split()[-1] if len(unit.split()) == 2 else None)[0]
             for c in cells]
    value, shown_unit = _scaled(sum(sign * part for sign, part in zip(signs, parts)), unit, ask.scale)
    arithmetic = " ".join(f"{'+' if sign > 0 else '−'} {c.value['period']['label']} {_fmt(part, None, c)}"
                          for c, sign, part in zip(cells, signs, parts)).lstrip("+ ")
    text = (f"{_cap(name)} over the trailing twelve months to {end['end'] or end['label']}: "
            f"{_fmt(value, ask.decimals, to_date)} {shown_unit} = {arithmetic} {unit} (each from the cited line"
            f"{'' if len(cells) > 1 else '; the fiscal year is those twelve months'}).")
    return [Finding("finance.answer", {"value": value, "formula": "annual + year to date − prior year to date"
                                       if len(cells) > 1 else None, "verdict": None, "metric": f"trailing {name}"},
                    shown_unit, text, to_date.locator), *cells]


def _difference(ask: Ask, facts: list[Finding]) -> list[Finding]:
    """"By how much did revenue exceed costs and expenses in 2024": the two lines' values subtracted;
    "the difference between net sales in fiscal 2024 and fiscal 2023": one line's two years. Both cells cited."""
    if ask.compare and not _MONEY.match(ask.compare[2].strip()):
        left, _, right = ask.compare
        period = max(ask.periods, key=_period_key)
        evaluator = _Evaluator(ask, facts, period)
        a, b = evaluator.value(left), evaluator.value(right)
        first, second = (_OWNER.sub("", side.strip()) for side in (left, right))
        inputs = evaluator.inputs
        unit = inputs[0].unit or ""
        label = inputs[0].value["period"]["label"]
        value, unit = _scaled(a - b, unit, ask.scale)
        relation = "exceeded" if a >= b else "fell short of"
        text = (f"{_cap(first)} {relation} {second} by {_fmt(abs(value), ask.decimals, inputs[0])} {unit} "
                f"{_for(label)}: {_fmt(a, None, inputs[0])} − {_fmt(b, None, inputs[-1])}, from "
                f"{'; '.join(evaluator.shown)} (each from the cited line).")
        return [Finding("finance.answer", {"value": value, "formula": f"{first} - {second}", "verdict": None,
                                           "metric": f"{first} less {second}"}, unit, text, inputs[0].locator),
                *inputs]
    if len(ask.periods) < 2:
        raise _Missing("two values", None, "No figure is stated: the question asks for a difference but names "
                       "neither two lines nor two periods (nor one period to compare with the year before).")
    metric = ask.metrics[0] if ask.metrics else None
    older, newer = sorted(ask.periods[:2], key=_period_key)
    a, b = _need(ask, facts, metric, older), _need(ask, facts, metric, newer)
    va, vb = line_amount(a, metric), line_amount(b, metric)
    value, unit = _scaled(vb - va, b.unit or "", ask.scale)
    name = _line_name(b, metric)
    moved = "higher" if vb >= va else "lower"
    text = (f"{_cap(name)} was {_fmt(abs(value), ask.decimals, b)} {unit} {moved} {_for(b.value['period']['label'])} "
            f"than {_for(a.value['period']['label'])}: {_fmt(vb, None, b)} − {_fmt(va, None, a)}, from the line "
            f"“{b.value['label']}” ({_where(b.locator)}).")
    return [Finding("finance.answer", {"value": value, "formula": "newer - older", "verdict": None,
                                       "metric": f"{name} difference"}, unit, text, b.locator), b, a]


def _yes_no_level(ask: Ask, facts: list[Finding], metric: Metric | None) -> list[Finding]:
    """"Was Intel profitable in Q1 2023?", "Did PG&E pay dividends in 2018?": the line's sign."""
    fact = _need(ask, facts, metric, ask.periods[0])
    value = line_amount(fact, metric)
    verdict = "Yes" if value > 0 else "No"
    name = _line_name(fact, metric)
    text = (f"{verdict}. {_cap(name)} {_for(fact.value['period']['label'])} was {_fmt(value, None, fact)} {fact.unit} "
            f"(“{fact.value['label']}”, {_where(fact.locator)}).")
    return [Finding("finance.answer", {"value": value, "formula": None, "verdict": verdict, "metric": name},
                    fact.unit, text, fact.locator), fact]


# a line a formula needs that some statements do not print, from the lines that make it up
_IDENTITIES = {"gross profit": "revenue - cost of revenue"}


def _derived(ask: Ask, facts: list[Finding]) -> list[Finding]:
    period = max(ask.periods, key=_period_key)
    inputs: list[Finding] = []
    shown: list[str] = []

    def operand(text: str) -> float:
        text = text.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            shown.append(text)
            return float(text)
        average = text.startswith("average ")
        named = metrics_asked(text.removeprefix("average "))
        metric = named[0][1] if named else None
        if metric is None and text.removeprefix("average ") in BY_NAME:
            metric = BY_NAME[text.removeprefix("average ")]
        if metric is None and not average:  # "commercial paper": the line the question names
            lines = _Evaluator(ask, facts, period)
            value = lines._line(text, None, period)
            inputs.extend(f for f in lines.inputs if f not in inputs)
            shown.extend(lines.shown)
            return value
        if metric is None:
            raise _Missing(f"a line for “{text}”", period)
        if average:
            end = _balance_period(period)
            a = _need(ask, facts, metric, end, named_only=True)
            b = _need(ask, facts, metric, _prior_year_end(end), named_only=True)
            inputs.extend(f for f in (a, b) if f not in inputs)
            value = (line_amount(a, metric) + line_amount(b, metric)) / 2
            shown.append(f"avg({_fmt(line_amount(a, metric), None, a)}, {_fmt(line_amount(b, metric), None, b)})")
            return value
        at = _balance_period(period) if metric.statement == BALANCE else period
        try:
            fact = _need(ask, facts, metric, at, named_only=True)
        except _Missing:
            if metric.name in _IDENTITIES:  # Alphabet prints no gross profit: revenue less cost of revenue
                return _evaluate(_IDENTITIES[metric.name], operand)
            raise
        if fact not in inputs:
            inputs.append(fact)
        shown.append(_fmt(line_amount(fact, metric), None, fact))
        return line_amount(fact, metric)

    value = _evaluate(ask.formula, operand)
    percent = ask.percent
    if percent:
        value *= 100
    places = _places(ask, 2)
    value = round(value, places)
    unit = "%" if percent else (inputs[0].unit if ask.formula_name in ("free cash flow", "ebitda") else "")
    formula = ask.formula + (" × 100" if percent else "")
    name = ask.formula_name if ask.formula_name != "the question's definition" else ask.formula
    label = inputs[0].value["period"]["label"] if inputs else period.describe()
    text = (f"{_cap(name)} {_for(label)}: {value:,.{places}f}{'%' if percent else (' ' + unit if unit else '')} = "
            f"{formula}, with {'; '.join(shown)} (each from the cited line).")
    return [Finding("finance.answer", {"value": value, "formula": formula, "verdict": None, "metric": name},
                    "%" if percent else unit or None, text, inputs[0].locator), *inputs]


# ---- formulas the question defines, and comparisons -------------------------------------------

_OWNER = re.compile(r"^(?:(?:the )?[a-z0-9.&' -]{1,40}?'s|its|their|the company's)\s+")
_AVERAGE = re.compile(r"^(?:the )?average (?:of |balance of )?(.+?)(?: (?:at|over) the (?:start|beginning|opening) and "
                      r"(?:the )?(?:end|close) of the (?:period|year|fiscal year|quarter))?$")
_CONSTANT = re.compile(r"^(?:the )?(\d+(?:\.\d+)?)(?: days?(?: in| of)? the (?:period|year|quarter))?$")


class _Evaluator:
    """Values of the expressions a question asks about, at one period, from the line items; every
    line used is kept (``inputs``) with the numbers shown (``shown``)."""

    def __init__(self, ask: Ask, facts: list[Finding], period: Period):
        self.ask, self.facts, self.period = ask, facts, period
        self.inputs: list[Finding] = []
        self.shown: list[str] = []

    def value(self, text: str) -> float:
        text = _OWNER.sub("", text.strip().lower()).strip()
        alias = re.search(r"\{([^}]*)\}", text)
        if alias:  # "capital investments {capital expenditures}": the printed line and the metric it is
            line = text[:alias.start()].strip()
            metric = self._metric(alias.group(1)) or self._metric(line)
            at = _balance_period(self.period) if metric is not None and metric.statement == BALANCE else self.period
            return self._line(f"{line} {alias.group(1)}", metric, at)
        if text in self.ask.definitions:
            formula, percent = clean_formula(self.ask.definitions[text])
            return _evaluate(formula, self.value) * (100 if percent and not _times_100(formula) else 1)
        constant = _CONSTANT.match(text)
        if constant:
            self.shown.append(constant.group(1))
            return float(constant.group(1))
        average = _AVERAGE.match(text)
        if average:
            return self._average(average.group(1))
        for name, (pattern, formula, percent) in FORMULAS.items():
            m = re.search(pattern, text)
            if m and not re.sub(r"\W", "", text[:m.start()] + text[m.end():]):  # the whole text names it
                return _evaluate(formula, self.value) * (100 if percent else 1)
        metric = self._metric(text)
        at = _balance_period(self.period) if metric is not None and metric.statement == BALANCE else self.period
        return self._line(text, metric, at)

    def _metric(self, text: str) -> Metric | None:
        named = metrics_asked(text)
        if named:
            return named[0][1]
        return BY_NAME.get(text)

    def _line(self, text: str, metric: Metric | None, period: Period) -> float:
        operand = Ask(words=_content_words(text))
        fact = lookup(operand, self.facts, metric, period, statements_first=True)
        if fact is None:
            raise _Missing(metric.name if metric else f"a line for “{text}”", period)
        if fact not in self.inputs:
            self.inputs.append(fact)
        amount = line_amount(fact, metric)
        self.shown.append(f"{fact.value['label']} {_fmt(amount, None, fact)}")
        return amount

    def _average(self, text: str) -> float:
        """The mean of a balance at the period's start and at its end: the two balance-sheet dates the
        question names, else the end date and the date its length before."""
        metric = self._metric(text)
        if self.ask.balance_dates:
            start, end = (Period(None, end=d) for d in sorted(self.ask.balance_dates)[:2])
        else:
            end = _balance_period(self.period)
            fact = lookup(Ask(words=_content_words(text)), self.facts, metric, end)
            if fact is None or not fact.value["period"]["end"]:
                raise _Missing(metric.name if metric else f"a line for “{text}”", end)
            closing = date.fromisoformat(fact.value["period"]["end"])
            start = Period(None, end=_months_before(closing, self.period.months or 12))
            end = Period(None, end=closing)
        before = len(self.shown)
        a, b = self._line(text, metric, start), self._line(text, metric, end)
        self.shown[before:] = [f"average of {self.shown[before]} and {self.shown[before + 1]}"]
        return (a + b) / 2


def _times_100(formula: str) -> bool:
    return bool(re.search(r"(?:times|\*|×|multiplied by)\s*100\b", formula))


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, min(day.day, 28))


_COMPARE = re.compile(r"\b(?:did|does|do|was|were|is|are|has|have)\s+(.+?)\s+(exceed|surpass|outstrip|top|"
                      r"(?:be |was |were |is )?(?:greater|higher|larger|more|lower|smaller|less) than)\s+(.+?)"
                      r"(?=\s+(?:in|for|during|at|as of|over|on)\s|[?.]|$)")
_THRESHOLD = re.compile(r"\b(.+?)\s+(?:was|were|is|are|stayed|remained)\s+(above|below|over|under|greater than|"
                        r"less than|more than|higher than|lower than|at least|at most)\s+(\d+(?:\.\d+)?)(x|%)?\b")


_SPEND_MORE = re.compile(r"\b(?:did|does|do)\s+.+?\s+(?:spend|pay|return|invest|pay out)\s+(more|less|fewer)\s+"
                         r"(?:cash\s+|money\s+|dollars\s+)?(?:on|in|for|to)\s+(.+?)\s+than\s+(?:on|in|for|to)?\s*(.+?)"
                         r"(?=\s+(?:in|for|during|over)\s|[?.]|$)")


def comparison(rest: str) -> tuple[str, str, str] | None:
    """(left, ">" or "<", right) of "did A exceed B", "was A larger than B", "A was above 1.0"; right
    may be a number. None where the two sides are one line in two periods (a change)."""
    m = _COMPARE.search(rest)
    if m:
        left, word, right = m.group(1), m.group(2), m.group(3)
        right = re.sub(r"^(?:in|for)\s+(?=.*\b(?:19|20)\d\d\b)", "", right)
        if _periods(right) and not metrics_asked(right) and not _AVERAGE.match(right):
            return None  # "higher in fiscal 2024 than in fiscal 2023": a change of one line
        op = "<" if re.search(r"lower|smaller|less", word) else ">"
        return left, op, right
    m = _SPEND_MORE.search(rest)
    if m:
        return m.group(2), "<" if m.group(1) in ("less", "fewer") else ">", m.group(3)
    m = _THRESHOLD.search(rest)
    if m:
        subject = re.sub(r"^(?:yes or no:\s*)", "", m.group(1))
        return subject, "<" if re.search(r"below|under|less|lower|at most", m.group(2)) else ">", m.group(3)
    return None


def _defined(ask: Ask, facts: list[Finding]) -> list[Finding]:
    """A formula the question defines (or names), or a comparison of two such values, evaluated at
    the period asked from cited line items."""
    period = max(ask.periods, key=_period_key)
    evaluator = _Evaluator(ask, facts, period)
    if ask.compare:
        left, op, right = ask.compare
        a = evaluator.value(left)
        money = _MONEY.match(right.strip())
        if money:  # "exceed $40 billion": the amount in the unit of the line it is held against
            b = _in_unit(money, evaluator.inputs[-1].unit if evaluator.inputs else "", period)
        else:
            b = evaluator.value(right)
        holds = a > b if op == ">" else a < b
        verdict = "Yes" if holds else "No"
        inputs = evaluator.inputs
        label = inputs[0].value["period"]["label"] if inputs else period.describe()
        relation = {(">", True): "exceeds", (">", False): "does not exceed", ("<", True): "is below",
                    ("<", False): "is not below"}[(op, holds)]
        text = (f"{verdict}. {_cap(_for(label))}, {_OWNER.sub('', left)} ({a:,.2f}) {relation} {_OWNER.sub('', right)} "
                f"({b:,.2f}); from {'; '.join(evaluator.shown)}.")
        return [Finding("finance.answer", {"value": a, "formula": f"{left} {op} {right}", "verdict": verdict,
                                           "metric": left}, None, text, inputs[0].locator if inputs else
                        Locator(facts[0].locator.source)), *inputs]
    target = ask.target
    value = evaluator.value(target)
    formula, percent = clean_formula(ask.definitions.get(target, "")) if target in ask.definitions else (target, False)
    percent = percent or _times_100(formula) or ask.percent
    formula = formula.replace("{", "(").replace("}", ")")  # an operand's alias, as the question wrote it
    places = _places(ask, 2)
    value = round(value, places)
    inputs = evaluator.inputs
    if not inputs:
        raise _Missing(f"a line for “{target}”", period)
    unit = "%" if percent else ("" if "/" in formula or "divided" in formula or "over" in formula.split()
                                else inputs[0].unit or "")
    label = inputs[0].value["period"]["label"]
    text = (f"{_cap(target)} {_for(label)}: {value:,.{places}f}{'%' if percent else (' ' + unit if unit else '')} = "
            f"{formula}, with {'; '.join(evaluator.shown)} (each from the cited line).")
    return [Finding("finance.answer", {"value": value, "formula": formula, "verdict": None, "metric": target},
                    "%" if percent else unit or None, text, inputs[0].locator), *inputs]


_MONEY = re.compile(r"^(?:us)?\$\s?(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(thousand|million|billion|trillion)?s?$|"
                    r"^(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(thousand|million|billion|trillion)s? (?:us )?(?:dollars|usd)$")
_SCALE_WORDS = {None: 1.0, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12,
                "thousands": 1e3, "millions": 1e6, "billions": 1e9}


def _in_unit(money: re.Match, unit: str, period: Period) -> float:
    """A dollar amount the question states ("$40 billion"), in the unit of a line ("USD millions");
    a line that is no dollar amount cannot be held against it."""
    digits, word = (money.group(1), money.group(2)) if money.group(1) else (money.group(3), money.group(4))
    parts = unit.split()
    if not parts or parts[0] != "USD" or (len(parts) == 2 and parts[1] not in _SCALE_WORDS) or len(parts) > 2:
        raise _Missing(f"a line in US dollars to hold {money.group(0)} against", period)
    return float(digits.replace(",", "")) * _SCALE_WORDS[word] / _SCALE_WORDS[parts[1] if len(parts) == 2 else None]


def _evaluate(formula: str, operand) -> float:
    """A formula of operands joined by + − × ÷ (words or signs) and parentheses, operands resolved by ``operand``."""
    text = formula.replace("×", "*").replace("÷", "/")
    text = re.sub(r"\s+(minus|less)\s+", " - ", text)
    text = re.sub(r"\s+plus\s+", " + ", text)
    text = re.sub(r"\s+(divided by|over)\s+", " / ", text)
    text = re.sub(r"\s+(times|multiplied by)\s+", " * ", text)
    parts = re.split(r"(\s[-+*/]\s|[()])", text)
    expression = ""
    for part in parts:
        if part is None or not part.strip():
            continue
        if part.strip() in "+-*/()":
            expression += part.strip()
        else:
            expression += repr(operand(part))
    try:
        return float(eval(expression, {"__builtins__": {}}, {}))  # only numbers and + - * / ( ) reach here
    except ZeroDivisionError:
        raise _Missing("a non-zero denominator", None) from None


def _balance_period(period: Period) -> Period:
    """The balance-sheet date that closes a period."""
    if period.end is not None:
        return Period(None, end=period.end, said=period.said)
    if period.months in (3, 6, 9):  # a quarter, or the year to date: the balance at its end
        return Period(None, period.fiscal_year, period.quarter or period.months // 3)
    return Period(None, period.fiscal_year, None)


def _prior_year_end(period: Period) -> Period:
    if period.end is not None:
        return Period(None, end=_year_before(period.end))
    return Period(None, period.fiscal_year - 1, period.quarter)


def _period_key(p: Period) -> tuple:
    if p.end is not None:
        return (p.end.year, p.end.month, p.end.day)
    return (p.fiscal_year or 0, p.quarter or 4, 0)


def _missing_finding(source: str, ask: Ask, facts: list[Finding], missing: _Missing) -> Finding:
    """"The filing has no line for goodwill; nearest lines: …" — with the periods it does have."""
    metric = BY_NAME.get(missing.what)
    same = [f for f in facts if metric and f.value["metric"] == metric.name] if metric else []
    if missing.sentence:
        return Finding("finance.missing", None, None, missing.sentence, Locator(source))
    if same:
        have = sorted({f.value["period"]["label"] for f in same})[:6]
        when = missing.period.describe() if missing.period else "the period asked"
        text = (f"The filing has {missing.what} only for {', '.join(have)}, not for {when}; no number is stated "
                f"for a period it does not report.")
        locator = same[0].locator
    else:
        nearest = nearest_labels(ask.words, facts)
        text = (f"The filing has no line for {missing.what}" + (f" ({missing.period.describe()})" if missing.period
                                                              else "") +
                (f"; nearest lines: {', '.join(nearest)}." if nearest else "."))
        locator = Locator(source)
    return Finding("finance.missing", None, None, text, locator)


def nearest_labels(words: set[str], facts: list[Finding], k: int = 3) -> list[str]:
    """The `k` printed lines whose words are nearest to `words`, each with its statement and page."""
    from difflib import SequenceMatcher

    wanted = " ".join(sorted({_stem(w) for w in words}))
    seen: dict[str, tuple[float, Finding]] = {}
    for f in facts:
        label = f.value["label"]
        if label in seen:
            continue
        words = " ".join(sorted(_label_words(f)))
        seen[label] = (SequenceMatcher(None, wanted, words).ratio(), f)
    best = sorted(seen.items(), key=lambda kv: -kv[1][0])[:k]
    shown = []
    for label, (_, f) in best:
        page = f", page {f.locator.page}" if f.locator.page else ""
        shown.append(f"“{_FOOTNOTE.sub('', label)}” ({f.value['statement'] or 'a table'}{page})")
    return shown


_FOOTNOTE = re.compile(r"\s*\(\d\)")  # "Other corporate expenses, net (1)": the mark is no number of the answer


def _scaled(value: float, unit: str, wanted: str | None) -> tuple[float, str]:
    scales = {"thousands": 1e3, "millions": 1e6, "billions": 1e9}
    parts = unit.split()
    if not wanted or len(parts) != 2 or parts[1] not in scales or parts[1] == wanted:
        return value, unit
    return value * scales[parts[1]] / scales[wanted], f"{parts[0]} {wanted}"


def _places(ask: Ask, default: int) -> int:
    return ask.decimals if ask.decimals is not None else default


def _fmt(value: float, decimals: int | None, fact: Finding) -> str:
    if decimals is None:
        printed = fact.value.get("printed", "")
        decimals = len(printed.split(".")[1].rstrip(")%")) if "." in printed else (2 if abs(value) < 100 and
                                                                                  value != int(value) else 0)
    return f"{value:,.{decimals}f}"


def _where(locator: Locator) -> str:
    parts = [f"page {locator.page}"] if locator.page else []
    if locator.table:
        parts.append(f"table {locator.table}")
    if locator.cell:
        parts.append(f"row {locator.cell[0] + 1}, column {locator.cell[1] + 1}")
    return ", ".join(parts) or locator.source


_STATEMENT_NAMES = {"cash flow": "cash flow statement", "comprehensive income": "statement of comprehensive income",
                    "equity": "statement of equity"}


def _statement_name(statement: str | None) -> str:
    """"the balance sheet", "the cash flow statement"; a table no statement title names: "the table"."""
    return _STATEMENT_NAMES.get(statement, statement) if statement else "table"


def _for(period_label: str) -> str:
    """"for FY2024 (ended 2024-09-28)", "at 2025-02-02" (a balance's label reads "as of 2025-02-02")."""
    return f"at {period_label[6:]}" if period_label.startswith("as of ") else f"for {period_label}"


def _cap(text: str) -> str:
    """The first letter capitalised, unless the word is cased as its maker writes it ("iPhone")."""
    return text if text[1:2].isupper() else text[:1].upper() + text[1:]
