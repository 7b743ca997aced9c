"""Printed labels learned from EDGAR's inline-XBRL filings: which line item is which metric when a
PDF prints a label that the standard forms in `r1mm.analysis.metrics` do not cover ("Term debt",
"Merchandise inventories", "Capital investments").

An iXBRL filing tags each printed number with its US-GAAP concept, so each row of its statements
pairs a printed label with a concept: a worked example of how a company prints a metric (the
concept is one of `metrics.BY_CONCEPT`) or of a line that is none (any other concept: "Total
non-current assets" is not current assets). ``python -m r1mm.analysis.label_map`` reads the
filings in ``../shared/filings/html`` and writes those pairs (statement, normalised label,
concept, how many companies print it; no other text of the filings) to ``data/printed_labels.json``,
which ships with the code; a test checks that the file is what the filings give.

A label the standard forms do not match is looked up among the learned ones of its statement
(and each metric's concept names in words): the same label first, else the closest learned label
whose words it all has and which covers ``NEAR`` of its words or more; the examples found must
agree (``AGREE``) on one metric or on none. Which metric a concept is comes from
`metrics.BY_CONCEPT` when the label is read, so the file holds no metric names of its own.
Measured by company held out in ``python -m r1mm bench filings`` (part "printed_labels").
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

LEARNED = Path(__file__).with_name("data") / "printed_labels.json"
# the share of a label's examples (weighted by companies) that must agree on one metric (or on none)
AGREE = 0.8
# the share of a printed label's words (Jaccard, the learned label's words all among them) that a
# learned label must cover to be read as it; fitted on the dev companies, reported on the others
NEAR = 0.67
_STOP = {"and", "of", "the", "for", "in", "to", "on", "a", "an", "net", "total"}


@dataclass(frozen=True)
class Example:
    statement: str
    label: str  # normalised (`metrics.normalise_label`)
    concept: str  # "us-gaap:InventoryNet"
    companies: int  # how many companies print this label for this concept


def words(label: str) -> frozenset[str]:
    """A normalised label's content words, plurals folded ("inventories" ~ "inventory")."""
    out = set()
    for w in re.findall(r"[a-z&]+", label):
        if w in _STOP:
            continue
        if len(w) > 4 and w.endswith("ies"):
            w = w[:-3] + "y"
        elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.add(w)
    return frozenset(out)


def rows_of(path: Path) -> list[dict]:
    """{statement, label (as printed), section, concept} for each row of an iXBRL filing's primary
    statements whose cells are tagged with one concept outside any dimension (a company total)."""
    from r1mm.analysis.metrics import BALANCE, CASH, INCOME, is_share_count, normalise_label
    from r1mm.ingest.ixbrl import read_ixbrl
    from r1mm.ingest.limits import Limits

    document = read_ixbrl(path, path.name, Limits())
    out = []
    for page in document.pages:
        for table in page.tables:
            if table.statement not in (INCOME, BALANCE, CASH) or not table.cell_facts:
                continue
            sections = table.row_sections or [""] * len(table.rows)
            for r, row in enumerate(table.rows[1:], start=1):
                facts = table.cell_facts[r] if r < len(table.cell_facts) else []
                concepts = Counter(f["concept"] for f in facts if f and f.get("concept") and not f.get("dimensional"))
                section = sections[r] if r < len(sections) else ""
                if len(concepts) != 1 or not normalise_label(row[0]) or is_share_count(row[0], section):
                    continue
                out.append({"statement": table.statement, "label": row[0], "section": section,
                            "concept": next(iter(concepts))})
    return out


def company(path: Path) -> str:
    """The filer of an EDGAR file name: 'aapl' of 'aapl-10-k-2024-11-01.html'."""
    return path.name.split("-")[0].lower()


def learn(rows: dict[str, list[dict]]) -> list[Example]:
    """The examples of filings' rows (by company): each (statement, label, concept) once, with how
    many companies print it."""
    from r1mm.analysis.metrics import normalise_label

    seen: dict[tuple[str, str, str], set[str]] = {}
    for filer, filer_rows in sorted(rows.items()):
        for row in filer_rows:
            seen.setdefault((row["statement"], normalise_label(row["label"]), row["concept"]), set()).add(filer)
    return [Example(s, label, concept, len(cos)) for (s, label, concept), cos in sorted(seen.items())]


def concept_names() -> list[Example]:
    """Each metric's US-GAAP concepts, named in words as the taxonomy names them
    ("PaymentsForRepurchaseOfCommonStock": "payments for repurchase of common stock"): an example
    of each metric that no filing's printing decides."""
    from r1mm.analysis.metrics import METRICS

    return [Example(m.statement, " ".join(re.findall(r"[A-Z][a-z]*", c)).lower(), f"us-gaap:{c}", 1)
            for m in METRICS for c in m.concepts]


class LabelMap:
    """Learned examples by statement, looked up by a printed label."""

    def __init__(self, examples: list[Example], near: float = NEAR):
        self.near = near
        self._seen: dict[tuple[str, str | None], object] = {}  # a statement's labels are read again and again
        self.by_statement: dict[str, list[tuple[Example, frozenset[str]]]] = {}
        for e in examples:
            self.by_statement.setdefault(e.statement, []).append((e, words(e.label)))

    def metric(self, label: str, statement: str | None):
        """The metric the learned examples say a normalised label is, or None (none, or they
        disagree). A statement of None looks in every statement."""
        key = (label, statement)
        if key not in self._seen:
            self._seen[key] = self._metric(label, statement)
        return self._seen[key]

    def _metric(self, label: str, statement: str | None):
        from r1mm.analysis.metrics import BY_CONCEPT

        pool = [x for s, xs in self.by_statement.items() if statement in (None, s) for x in xs]
        same = [e for e, _ in pool if e.label == label]
        if not same:
            mine = words(label)
            if not mine:
                return None
            # a learned label all of whose words the printed one has ("income tax expense (note 7)"
            # has "income tax expense"); one word in place of another ("financing" for "operating") is
            # another line
            scored = [(len(w) / len(mine | w), e) for e, w in pool if w and w <= mine]
            best = max((s for s, _ in scored), default=0.0)
            if best < self.near:
                return None
            same = [e for s, e in scored if s == best]
        votes: Counter = Counter()
        for e in same:
            votes[BY_CONCEPT.get(e.concept.split(":")[-1])] += e.companies
        metric, count = votes.most_common(1)[0]
        return metric if count / sum(votes.values()) >= AGREE else None


@lru_cache(maxsize=1)
def shipped() -> LabelMap:
    """The map learned from the filings the package ships (empty when the file is missing)."""
    if not LEARNED.exists():
        return LabelMap([])
    data = json.loads(LEARNED.read_text(encoding="utf-8"))
    return LabelMap([Example(**e) for e in data["examples"]] + concept_names())


def rows_by_company(paths: list[Path]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for path in sorted(paths):
        out.setdefault(company(path), []).extend(rows_of(path))
    return out


def write(paths: list[Path], out: Path = LEARNED) -> dict:
    examples = learn(rows_by_company(paths))
    data = {"source": "row labels and US-GAAP concepts of EDGAR inline-XBRL filings "
                      "(python -m r1mm.analysis.label_map)",
            "filings": sorted(p.name for p in paths),
            "examples": [e.__dict__ for e in examples]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return data


def main(argv: list[str]) -> int:
    from r1mm.bench.filings import filings_dir

    folder = Path(argv[0]) if argv else filings_dir() / "html"
    paths = sorted(folder.glob("*.htm*"))
    if not paths:
        print(f"{folder}: no iXBRL filings (*.htm, *.html) to learn printed labels from", file=sys.stderr)
        return 2
    data = write(paths)
    print(f"{LEARNED}: {len(data['examples'])} label-concept examples from {len(paths)} filings")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
