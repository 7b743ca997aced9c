"""EDGAR's inline-XBRL filings (iXBRL HTML): the document's text and its tables, every tagged
number with its concept, period, unit, scale and sign.

Each HTML table that holds tagged numbers (``ix:nonFraction``) becomes a `Table` whose columns are
the facts' periods (a column per distinct context period and dimension members, in the order they
first stand), whose rows are the table's rows with their printed labels, and whose ``cell_facts``
say which US-GAAP concept each cell is. The tags are the filer's own statement of what each number
is: a fact's concept is exact, which the PDF reader's label matching can only approximate.

lxml (already present with python-docx) parses the HTML; the ``ix:`` tags keep their prefixed names.
"""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from r1mm.errors import IngestError
from r1mm.ingest.limits import Limits
from r1mm.ingest.statements import closes_group, month_number, section_of, statement_kind
from r1mm.types import Document, Page, Table

_SCALES = {"3": "thousands", "6": "millions", "9": "billions"}


def read_ixbrl(path: Path, source: str, limits: Limits) -> Document:
    from lxml import etree

    try:
        tree = etree.parse(str(path), etree.HTMLParser(huge_tree=True, recover=True))
    except (etree.ParserError, OSError, ValueError) as exc:
        raise IngestError(source, f"is not readable HTML ({type(exc).__name__}: {exc})") from None
    root = tree.getroot()
    if root is None:
        raise IngestError(source, "is empty HTML")
    contexts = _contexts(root)
    fiscal = _fiscal_calendar(root)
    for hidden in root.iter("ix:header"):  # the hidden facts and contexts are not the document's text
        hidden.getparent().remove(hidden)
    tables: list[Table] = []
    for element, heading in _tables_with_headings(root):
        table = _table(element, contexts, len(tables) + 1, heading)
        if table is not None:
            tables.append(table)
    body = root.find("body")
    text = "\n".join(t.strip() for t in (body if body is not None else root).itertext() if t.strip())
    if not text and not tables:
        raise IngestError(source, "has no text")
    return Document("html", [Page(None, text, tables)], fiscal)


HEADING_BLOCKS = 8  # text blocks before a table in which its statement title is looked for


def _tables_with_headings(root):
    """Each table with the statement title standing before it ("CONSOLIDATED STATEMENTS OF
    OPERATIONS"), read in document order: the last few short text blocks outside tables (a
    filer may put a heading in a one-line table of its own); "" when a note's heading comes
    first."""
    recent: list[str] = []
    for element in root.iter("div", "p", "table"):
        if element.tag == "table":
            if _ancestor(element, "table") is not None:
                continue
            title = ""
            for text in reversed(recent[-HEADING_BLOCKS:]):
                if re.match(r"^note \d+\b", text, re.IGNORECASE):
                    break
                if statement_kind(text):
                    title = text
                    break
            yield element, title
            own = _text(element)
            if own and len(own) < 160 and next(element.iter("ix:nonfraction"), None) is None:
                recent.append(own)
        elif _ancestor(element, "table") is None and not any(True for _ in _blocks_inside(element)):
            text = _text(element)  # a leaf block of text outside the tables
            if text and len(text) < 200:
                recent.append(text)
        del recent[:-2 * HEADING_BLOCKS]


def _blocks_inside(element):
    for child in element.iterdescendants("div", "p", "table"):
        yield child


def _ancestor(element, tag: str):
    parent = element.getparent()
    while parent is not None and parent.tag != tag:
        parent = parent.getparent()
    return parent


def _fiscal_calendar(root) -> dict | None:
    """The filing's fiscal calendar from its dei: tags: the fiscal year's end (--MM-DD), the year
    and period the document is about and the date that period ends."""
    dei = {}
    for element in root.iter("ix:nonnumeric"):
        name = element.get("name") or ""
        if name.startswith("dei:") and name[4:] not in dei:
            dei[name[4:]] = _text(element)
    year_end = _month_day(dei.get("CurrentFiscalYearEndDate", ""))
    focus = re.match(r"^\d{4}$", dei.get("DocumentFiscalYearFocus", ""))
    period_end = _printed_date(dei.get("DocumentPeriodEndDate", ""))
    if not (year_end and focus and period_end):
        return None
    return {"year_end": list(year_end), "focus_year": int(focus.group(0)),
            "focus_period": dei.get("DocumentFiscalPeriodFocus", ""), "period_end": list(period_end)}


def _month_day(text: str) -> tuple[int, int] | None:
    """A fiscal year's end as the dei: tag prints it: '--09-28', 'September 28', '1/25'."""
    text = text.strip().lower()
    m = re.match(r"^-*(\d{1,2})[-/](\d{1,2})$", text)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = re.match(r"^([a-z]+)\.? (\d{1,2})$", text)
    if m and month_number(m.group(1)):
        return month_number(m.group(1)), int(m.group(2))
    return None


def _printed_date(text: str) -> tuple[int, int, int] | None:
    """'September 28, 2024' or '2024-09-28' as (2024, 9, 28)."""
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})$", text.strip())
    if m:
        return int(m.group(1)), int(m.group(2)), int(m.group(3))
    m = re.match(r"^([a-z]+)\.? (\d{1,2}),? (\d{4})$", text.strip().lower())
    if m and month_number(m.group(1)):
        return int(m.group(3)), month_number(m.group(1)), int(m.group(2))
    return None


def _contexts(root) -> dict[str, dict]:
    """Each context's period (start, end, instant) and whether it names dimension members."""
    out = {}
    for c in root.iter("xbrli:context"):
        def first(tag):
            return next((e.text.strip() for e in c.iter(tag) if e.text), None)
        members = sorted((e.text or "").strip().split(":")[-1] for e in c.iter("xbrldi:explicitmember"))
        instant, start, end = first("xbrli:instant"), first("xbrli:startdate"), first("xbrli:enddate")
        out[c.get("id")] = {"start": start, "end": end or instant, "instant": instant is not None,
                            "members": members + (["typed"] if any(True for _ in c.iter("xbrldi:typedmember")) else [])}
    return out


def _column(context: dict, repeat: int = 0, printed: str = "") -> dict:
    """A column's period; ``repeat``: the period's second (third, …) column in the table, named by
    its ``printed`` header ("Finance Leases") where the table prints one."""
    end = date.fromisoformat(context["end"][:10])
    months = None
    if not context["instant"] and context["start"]:
        start = date.fromisoformat(context["start"][:10])
        months = max(1, round((end - start).days / 30.4))
    members = " ".join(context["members"])
    when = f"as of {end.isoformat()}" if months is None else f"{months} months ended {end.isoformat()}"
    if printed:
        members = f"{members} {printed}".strip()
    again = f" (column {repeat + 1} of that period)" if repeat and not printed else ""
    return {"label": f"{when}{' — ' + members if members else ''}{again}", "year": end.year,
            "end": [end.year, end.month, end.day], "months": months, "members": context["members"]}


def _table(element, contexts: dict, index: int, heading: str) -> Table | None:
    keys: list[tuple] = []  # the columns: (start, end, members) in the order they first stand
    rows: list[tuple[str, str, dict[int, tuple[str, dict]]]] = []
    scale, units = "", set()
    headers: dict[int, str] = {}  # a grid column's printed header above the numbers ("Finance Leases")
    key_at: dict[tuple, int] = {}  # where each column's first number stands in the grid
    section = ""
    for tr in element.iter("tr"):
        cells = tr.findall("td") + tr.findall("th")
        worded = [c for c in cells if (t := _text(c)) and not re.fullmatch(r"[\d$,.()%—–\-\s]+", t)]
        label_cell = worded[0] if worded else None
        # numbers tagged inside the label ("50,400,000 shares authorized") are not the row's values
        facts = [f for f in tr.iter("ix:nonfraction") if label_cell is None or label_cell not in f.iterancestors()]
        # a label printed in two columns ("Finance leases | Other current liabilities"): both, in order
        first_value = min((k for k, c in enumerate(cells) for f in facts if c in f.iterancestors()), default=len(cells))
        label = " ".join(_text(c) for c in worded if c is label_cell or cells.index(c) < first_value)
        grid = _grid(cells)
        if not facts:
            texts = [(start, " ".join(" ".join(c.itertext()).split())) for start, c in grid if _text(c)]
            if len(texts) == 1 and texts[0][0] == 0:  # a label alone in the label column: "Deferred tax assets:"
                section = label.rstrip(":").strip()
            elif not rows:  # a header line over the numbers
                headers.update((start, text) for start, text in texts if not _DATE_ONLY.fullmatch(text))
            continue
        where = {id(c): start for start, c in grid}
        values: dict[int, tuple[str, dict]] = {}
        seen: dict[tuple, int] = {}  # a period printed twice in a row (operating and finance leases, an
        for fact in facts:           # amount and its share of sales): a column for each
            context = contexts.get(fact.get("contextref"))
            if context is None or not context["end"]:
                continue
            period = (context["start"], context["end"], tuple(context["members"]))
            key = (*period, seen.get(period, 0))
            seen[period] = key[-1] + 1
            if key not in keys:
                keys.append(key)
                cell = next((a for a in fact.iterancestors("td", "th")), None)
                key_at[key] = where.get(id(cell), -1)
            column = keys.index(key)
            shown = _text(fact)
            if fact.get("format", "").endswith("fixed-zero") or shown in ("—", "–", "-"):
                shown = "0"
            if fact.get("sign") == "-":
                shown = f"({shown})"
            unit = (fact.get("unitref") or "").lower()
            units.add(unit)
            scale = scale or _SCALES.get(fact.get("scale", ""), "")
            values.setdefault(column, (shown, {"concept": fact.get("name"), "scale": fact.get("scale"),
                                               "sign": fact.get("sign"), "dimensional": bool(context["members"]),
                                               "unit": unit}))
        if values:
            rows.append((label, section_of(label, section), values))
            if closes_group(label, section):
                section = ""
    if not rows:
        return None
    # as statements print them: the whole company first, latest period first, then by dimension
    order = sorted(range(len(keys)), key=lambda k: (bool(keys[k][2]), keys[k][2], keys[k][0] is None,
                                                    _days_before(keys[k][1]), keys[k][0] or "", keys[k][3]))
    repeated = {key[:3] for key in keys if key[3]}  # periods printed in more than one column
    columns = [_column({"start": keys[k][0], "end": keys[k][1], "instant": keys[k][0] is None,
                        "members": list(keys[k][2])}, keys[k][3],
                       _header_over(headers, key_at.get(keys[k], -1)) if keys[k][:3] in repeated else "")
               for k in order]
    table_rows = [[""] + [c["label"] for c in columns]]
    cell_facts: list[list[dict | None]] = [[None] * (len(columns) + 1)]
    sections = [""]
    for label, section, values in rows:
        table_rows.append([label] + [values[k][0] if k in values else "" for k in order])
        cell_facts.append([None] + [values[k][1] if k in values else None for k in order])
        sections.append(section)
    currency = "USD" if any(u.startswith("usd") for u in units) else ""
    return Table(index, table_rows, None, title=heading, statement=statement_kind(heading),
                 unit=f"{currency} {scale}".strip(), columns=columns, row_sections=sections,
                 heading=heading, cell_facts=cell_facts)


# a header that names a period or a date, not what a column holds ("Three Months Ended June 30,", "2024")
_DATE_ONLY = re.compile(r"(?:[A-Za-z]+\.? \d{1,2}, )?(?:19|20)\d{2}|[\W_]*|.*\b(?:ended|ending|as of|january|february|"
                        r"march|april|may|june|july|august|september|october|november|december)\b.*", re.IGNORECASE)


def _grid(cells) -> list[tuple[int, object]]:
    """Each cell with the grid column it starts at (colspans counted)."""
    out, at = [], 0
    for c in cells:
        out.append((at, c))
        try:
            at += max(1, int(c.get("colspan", "1")))
        except ValueError:
            at += 1
    return out


def _header_over(headers: dict[int, str], at: int) -> str:
    """The printed header standing over grid column ``at``: the nearest one starting at or left of it
    (a header spans the number's cell and the "$" cell before it)."""
    starts = [start for start in headers if start <= at]
    return headers[max(starts)] if starts and at >= 0 else ""


def _days_before(end: str) -> int:
    return -date.fromisoformat(end[:10]).toordinal()


def _text(element) -> str:
    if not isinstance(element.tag, str):  # a comment or processing instruction
        return ""
    return " ".join("".join(element.itertext()).split())
