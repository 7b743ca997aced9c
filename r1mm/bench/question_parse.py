"""The question parse measured on its own: what `analyst.parse` reads from each question, held
against the truth the bench's questions carry (the cells their answer is computed from, its
unit, its kind), before any document is read.

Fields, each scored only where the truth says something about it:

- ``kind``: a value, a formula, or a yes/no (the shared bench's extract kind is a value, derived and
  derived_defined are formulas; not scored on a question about what the filing lacks);
- ``definition``: a question that defines its formula (derived_defined) has that definition read;
- ``periods``: every period the answer's cells cover is one the parse names (or, for an average of
  balances, the opening date before a named period), and every period named is one of them — each
  resolved by the filing's own fiscal calendar (Home Depot's fiscal 2024 ends 2025-02-02);
- ``scale``: the scale the question asks for ("in USD billions"), when it asks one;
- ``rounding``: the decimals asked ("rounded to two decimal places"), when it asks;
- ``statement``: the statement the question says to read, when it names one;
- ``absent line``: a question about a line the filing lacks names the metric whose concepts the
  bench's absence check searched for;
- ``cells`` and ``value``: the parse answered over the filing's exact tagged lines of the answer's
  concepts, in every period the filing has (the other periods stay in, so a wrong period is not
  rescued): the lines it cites are exactly the truth's cells, and the strict scorer calls the value
  right. These two measure the parse together with the step that binds it to lines, on exact data,
  so a miss is the question's reading, not the document's.

The filing is read by the iXBRL reader only for its calendar and its tagged lines; the answers a
user gets are measured end to end by `r1mm.bench.filings`.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from types import SimpleNamespace

from r1mm.analysis import analyst

FIELDS = ("kind", "definition", "periods", "scale", "rounding", "statement", "absent line", "cells", "value")
_KINDS = {"extract": "value", "value": "value", "derived": "formula",
          "derived_defined": "formula", "yesno": "yes/no"}
_SCALE_OF_UNIT = {"USD thousands": "thousands", "USD millions": "millions", "USD billions": "billions"}
_SCALE_OF_FACTOR = {1e3: "thousands", 1e6: "millions", 1e9: "billions"}
_ASKS_SCALE = re.compile(r"\b(thousands|millions|billions)\b", re.IGNORECASE)
_ASKS_ROUNDING = re.compile(r"\bdecimal\b|\bround", re.IGNORECASE)
# the scorer's own reading of which questions name a statement, apart from the parse it scores
_NAMES_STATEMENT = re.compile(r"\b(income statement|statements? of (operations|income|earnings|cash flows?|financial "
                              r"position)|cash[- ]flows? statement|balance sheets?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Cell:
    """One line of the answer's truth: its concept and period (``months`` None: a balance date)."""
    concept: str
    end: date
    months: int | None


@dataclass
class Truth:
    """What a bench question's record says its answer is made of, in one form for both benches."""
    id: str
    file: str
    question: str
    kind: str  # the bench's own kind name
    cells: list[Cell]
    unit: str | None = None  # "USD millions", "%", …
    decimals: int | None = None  # asked rounding, where the tolerance shows it
    statements: set[str] = field(default_factory=set)  # the statements the cells are printed in
    absent_concepts: str | None = None  # a regex over concept names, for a line the filing lacks
    record: dict = field(default_factory=dict)


def cell_of(concept: str, period: str) -> Cell:
    """"2023-10-01..2024-09-28" is a span of whole months; "2024-09-28" a balance date."""
    if ".." in period:
        start, end = (date.fromisoformat(p) for p in period.split(".."))
        return Cell(concept, end, round(((end - start).days + 1) / 30.44))
    return Cell(concept, date.fromisoformat(period), None)


def _decimals(tolerance: float | None) -> int | None:
    return {0.5: 0, 0.05: 1, 0.005: 2, 0.0005: 3}.get(tolerance) if tolerance is not None else None


def shared_truths(path: Path) -> list[Truth]:
    """The shared bench's questions (``questions.jsonl``)."""
    from r1mm.ingest.statements import statement_kind

    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        check = q.get("absence_check") or {}
        out.append(Truth(q["id"], q["file"], q["question"], q["kind"],
                         [cell_of(i["concept"], i["period"]) for i in q["inputs"]], q["unit"],
                         _decimals(q["tolerance"]) if q["kind"] not in ("yesno", "absent") else None,
                         {statement_kind(i["statement"]) for i in q["inputs"] if i.get("statement")} - {None},
                         check.get("concepts_matching"), q))
    return out


def own_truths(questions: list[dict]) -> list[Truth]:
    """Our own questions: all of them for kind, scale and rounding; those that carry their cells
    (``inputs``: name -> [concept, period(, the filing beside it)], on the iXBRL filings) for periods,
    cells and value."""
    out = []
    for n, q in enumerate(questions):
        cells = [cell_of(concept, period) for concept, period, *_ in q.get("inputs", {}).values()]
        unit = _SCALE_OF_FACTOR.get(q.get("scale"))
        out.append(Truth(f"{q['split']}-{n}", "filings/" + q["file"], q["question"], q["kind"], cells,
                         f"USD {unit}" if unit else None, _decimals(q.get("tolerance")), set(),
                         "|".join(c.split("@")[0] for c in q.get("absent_concepts") or []) or None, q))
    return out


def parse_kind(ask) -> str:
    if ask.yes_no:
        return "yes/no"
    return "formula" if ask.formula or ask.target or ask.change or ask.over_years or ask.difference or ask.trailing \
        else "value"


def _period_shim(cell: Cell, facts: list) -> SimpleNamespace:
    """The filing's own column for a cell's period (its fiscal year and quarter), as the analyst's
    period match reads a line."""
    for f in facts:
        p = f.value["period"]
        if p["end"] == cell.end.isoformat() and p["months"] == cell.months:
            return SimpleNamespace(value={"period": p})
    return SimpleNamespace(value={"period": {"end": cell.end.isoformat(), "months": cell.months,
                                             "fiscal_year": None, "fiscal_quarter": None}})


def _named_periods(ask, facts: list) -> list:
    """The periods the parse names, as `analyst.resolve` completes them (none named: the filing's
    latest, or its last N fiscal years; a date: the fiscal year it closes), plus the balance-sheet
    dates it names."""
    periods = list(ask.periods) or [analyst.latest_period(facts)]
    if ask.last_years and not ask.periods:  # "over the last three years": the latest and those before it
        periods = [analyst.Period(12, periods[0].fiscal_year - k) for k in range(ask.last_years)]
    for p in periods:
        if p.end is not None and p.fiscal_year is None:
            p.fiscal_year = analyst._fiscal_year_closing(facts, p.end)
    return periods + [analyst.Period(None, end=d) for d in ask.balance_dates]


def _covers(period, cell: Cell, shim) -> bool:
    balance = cell.months is None
    at = analyst._balance_period(period) if balance and period.months is not None else period
    return analyst.period_matches(shim, at, balance) or analyst.period_matches(shim, at, balance, calendar=True)


def _opening(period, cell: Cell, cells: list[Cell]) -> bool:
    """A balance at the start of a named period (the first half of an average of balances): a year,
    or the named period's length, before a closing balance of the same line that the period covers."""
    for closing in cells:
        if closing.concept == cell.concept and closing.months is None and closing.end > cell.end:
            for months in {period.months or 12, 12}:
                if abs((analyst._months_before(closing.end, months) - cell.end).days) <= 7:
                    return True
    return False


def periods_right(ask, truth: Truth, facts: list) -> bool:
    """Every cell's period is one the parse names (or the opening balance of an average it asks),
    and every period it names is some cell's."""
    named = _named_periods(ask, facts)
    shims = {c: _period_shim(c, facts) for c in truth.cells}
    if ask.trailing and truth.cells:
        # trailing twelve months name one period, their end: the latest cell's (the year to date, or
        # the year); the year before and last year's year to date follow from it
        last = max(truth.cells, key=lambda c: (c.end, c.months or 0))
        return len(named) == 1 and _covers(replace(named[0], months=last.months), last, shims[last])
    averages = "average" in " ".join([ask.formula or "", *ask.definitions.values()])
    covered = all(any(_covers(p, c, shims[c]) for p in named) or
                  (averages and any(_opening(p, c, truth.cells) for p in named)) for c in truth.cells)
    used = all(any(_covers(p, c, shims[c]) for c in truth.cells) for p in named)
    return covered and used


def _cells_cited(found: list) -> set[Cell]:
    cited = set()
    for f in found[1:]:
        if f.kind == "finance.fact" and f.value.get("concept"):
            p = f.value["period"]
            cited.add(Cell(f.value["concept"], date.fromisoformat(p["end"]), p["months"]))
    return cited


def score_parse(truth: Truth, facts: list, judge) -> dict[str, bool]:
    """Each field the truth speaks to: right (True) or not. ``facts``: the filing's tagged lines
    (`finance.statement_facts`); ``judge(truth, answer text)``: the strict scorer's 'right'."""
    ask = analyst.parse(truth.question)  # parsed afresh below too: resolving an Ask completes its periods
    out: dict[str, bool] = {}
    if truth.kind != "absent":  # a line or a year the filing lacks may be asked as a value or a formula
        out["kind"] = parse_kind(ask) == _KINDS[truth.kind]
    if truth.kind == "derived_defined":
        out["definition"] = bool(ask.definitions) or ask.formula_name == "the question's definition"
    asked_scale = _ASKS_SCALE.search(truth.question)
    if asked_scale and truth.unit in _SCALE_OF_UNIT:
        out["scale"] = ask.scale == _SCALE_OF_UNIT[truth.unit]
    if _ASKS_ROUNDING.search(truth.question) and truth.decimals is not None:
        out["rounding"] = ask.decimals == truth.decimals
    if _NAMES_STATEMENT.search(truth.question) and truth.statements:
        out["statement"] = ask.statement in truth.statements
    if truth.absent_concepts:
        out["absent line"] = any(re.search(truth.absent_concepts, c, re.IGNORECASE)
                                 for m in ask.metrics for c in m.concepts)
    if truth.cells:
        out["periods"] = periods_right(analyst.parse(truth.question), truth, facts)
        concepts = {c.concept for c in truth.cells}
        lines = [f for f in facts if f.value.get("concept") in concepts]
        found = analyst.resolve(analyst.parse(truth.question), lines,
                                years_back=analyst._years_back(truth.question)) if lines else []
        out["cells"] = _cells_cited(found) == set(truth.cells)
        out["value"] = bool(found) and judge(truth, found[0].text)
    return out


def _tally(rows: list[dict]) -> dict:
    by_field = {}
    for name in FIELDS:
        scored = [r["fields"][name] for r in rows if name in r["fields"]]
        if scored:
            by_field[name] = {"scored": len(scored), "right": sum(scored), "rate": round(sum(scored) / len(scored), 3)}
    whole = [all(r["fields"].values()) for r in rows]
    return {"questions": len(rows), "every_field_right": sum(whole),
            "rate": round(sum(whole) / len(whole), 3) if whole else None, "by_field": by_field}


def run_parse() -> dict:
    """Both benches' parses: the shared bench's questions and our own questions that carry their
    cells, per field and per kind, with each question a field got wrong."""
    from r1mm.bench import filings

    shared = filings.shared_bench_dir()
    if not (shared / "questions.jsonl").exists():
        return {"skipped": f"no shared bench at {shared}"}
    scorer = filings._shared_scorer()
    own = json.loads(filings.QUESTIONS.read_text(encoding="utf-8"))["questions"]
    sets = {"shared bench": (shared_truths(shared / "questions.jsonl"),
                             lambda t, text: scorer.judge(t.record, {"answer": text}) == "right")}
    for split in sorted({q["split"] for q in own}):
        truths = own_truths([q for q in own if q["split"] == split])
        if truths:
            sets[f"own {split}"] = (truths, lambda t, text: filings.score(t.record, text) == "right")
    facts_of: dict[str, list] = {}
    report: dict = {"command": "python -m r1mm bench filings --parse", "fields": list(FIELDS)}
    for name, (truths, judge) in sets.items():
        rows = []
        for t in truths:
            # the filing's calendar and lines, for its cells (with those of the filings read beside it)
            files = [t.file] + ["filings/" + other for other in t.record.get("with", [])]
            for file in files if t.cells else []:
                path = filings.filings_dir().parent / file
                if file not in facts_of and path.exists():
                    facts_of[file] = filings.read_line_items(path)[1]
            if t.cells and t.file not in facts_of:
                continue
            facts = [f for file in files for f in facts_of.get(file, [])]
            rows.append({"truth": t, "fields": score_parse(t, facts, judge)})
        kinds = defaultdict(list)
        for r in rows:
            kinds[r["truth"].kind].append(r)
        report[name] = {**_tally(rows), "by_kind": {k: _tally(v) for k, v in sorted(kinds.items())},
                        "misread": [{"id": r["truth"].id, "question": r["truth"].question,
                                     "fields": [f for f, ok in r["fields"].items() if not ok]}
                                    for r in rows if not all(r["fields"].values())]}
    return report
