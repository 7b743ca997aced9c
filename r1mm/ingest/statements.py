"""Financial tables read from a PDF page's words as the page shows them.

Reports typeset by companies and filing agents rarely rule their tables: pdfplumber's table finder
cuts a shaded cash-flow statement into one-row tables with no header. This reader works from word
positions instead:

- a *period header* is a line of years ("2022 2021 2020", "Apr 1, 2023 Dec 31, 2022"); each year
  is a column, and the phrases on the lines above it ("Three Months Ended", "September 24,") belong
  to the column they stand over (the nearest phrase on that line);
- a *row* is a label followed by numbers that stand under those columns (numbers are right
  aligned: a number belongs to the column whose right edge is nearest); a number that stands under
  no column is part of the label (a footnote mark "(1)", "$0.00001 par value");
- a label-only line is a section ("Current assets:") when the rows under it are indented or it
  ends with a colon, else the first half of a label that wraps;
- the scale comes from the heading ("(In millions, except per share amounts)", "(Millions)"), the
  statement from the title above the header.

Every column gets a typed period: its end date, its length in months (None for a balance-sheet
date), the header text it was read from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from r1mm.types import Table

_VALUE = re.compile(r"^\(?[-−]?\$?\(?\d[\d,]*(?:\.\d+)?\)?%?\)?$|^[—–-]{1,2}$|^\$$")
_YEAR = re.compile(r"^(?:19|20)\d{2}[,.]?$")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_DAY = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})\b", re.IGNORECASE)
_MONTH = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", re.IGNORECASE)
_DURATION = (
    (re.compile(r"\b(three|3)[- ]months?|\bquarters?\b|\b1[34] weeks\b|\bQ[1-4]\b", re.IGNORECASE), 3),
    (re.compile(r"\bH[12]\b", re.IGNORECASE), 6),
    (re.compile(r"\b(six|6)[- ]months?|\b2[67] weeks\b|\bhalf[- ]year", re.IGNORECASE), 6),
    (re.compile(r"\b(nine|9)[- ]months?|\b39 weeks\b", re.IGNORECASE), 9),
    # "for the period ended May 31" over a 10-K's year columns: the fiscal years
    (re.compile(r"\b(twelve|12)[- ]months?|\byears?\b|\bfiscal\b|\b5[23] weeks\b|\bannual|\bperiods? ended\b",
                re.IGNORECASE), 12),
)
_SCALE = re.compile(r"\b(?:in\s+)?(thousands|millions|billions)\b", re.IGNORECASE)
STATEMENTS = (  # (kind, title pattern), tried in order
    ("comprehensive income", re.compile(r"comprehensive\s+(income|loss|earnings)", re.IGNORECASE)),
    ("cash flow", re.compile(r"statements?\s+of\s+cash\s+flows?|cash\s+flows?\s+statements?", re.IGNORECASE)),
    ("balance sheet", re.compile(r"balance\s+sheets?|financial\s+(position|condition)", re.IGNORECASE)),
    ("equity", re.compile(r"statements?\s+of\s+(changes\s+in\s+)?(consolidated\s+)?(common\s+)?((stockholders|"
                          r"shareholders|shareowners)['’]?\s+)?(equity|investment|deficit)", re.IGNORECASE)),
    ("income statement", re.compile(r"statements?\s+of\s+(consolidated\s+)?(operations|income|earnings)|income\s+"
                                    r"statements?|results\s+of\s+operations", re.IGNORECASE)),
)
LINE_TOLERANCE_PT = 2.5  # words whose tops differ by less than this stand on one line
PHRASE_GAP_PT = 7.0  # a gap this wide between words on a header line starts another phrase
HEADER_LINES_ABOVE = 4  # lines above a year header that may hold its spanning phrases
MAX_GAP_LINES = 3  # label-only lines in a row after which a table has ended


@dataclass
class Word:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float


@dataclass
class Line:
    words: list[Word]

    @property
    def top(self) -> float:
        return min(w.top for w in self.words)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass
class _Column:
    x0: float
    x1: float
    year: int
    phrases: list[str] = field(default_factory=list)  # header text above it, top line first
    date_text: str = ""  # "Apr 1," standing beside the year on its own line

    @property
    def centre(self) -> float:
        return (self.x0 + self.x1) / 2


def lines_of(words: list[dict]) -> list[Line]:
    """pdfplumber words grouped into lines, top to bottom, each left to right."""
    out: list[list[Word]] = []
    for w in sorted(words, key=lambda w: (round(w["top"], 1), w["x0"])):
        # a glyph the font has no text for (a ligature) comes as a control character: a gap
        word = Word(re.sub(r"[\x00-\x1f]", " ", w["text"]), float(w["x0"]), float(w["x1"]), float(w["top"]), float(w["bottom"]))
        if out and abs(out[-1][0].top - word.top) <= LINE_TOLERANCE_PT:
            out[-1].append(word)
        else:
            out.append([word])
    return [Line(sorted(ws, key=lambda w: w.x0)) for ws in out]


def _phrases(words: list[Word]) -> list[list[Word]]:
    groups: list[list[Word]] = []
    for w in words:
        if groups and w.x0 - groups[-1][-1].x1 < PHRASE_GAP_PT:
            groups[-1].append(w)
        else:
            groups.append([w])
    return groups


def _year_header(line: Line) -> list[_Column] | None:
    """The columns of a line of years, or None when the line is not one (a row of amounts)."""
    groups = _phrases(line.words)
    columns = []
    for group in groups:
        year = next((w for w in reversed(group) if _YEAR.match(w.text)), None)
        if year is None or group[-1] is not year:
            continue
        before = [w for w in group[:-1]]
        # "Apr 1, 2023": the date beside the year belongs to its column; other words are a label
        date = [w for w in before if _MONTH.match(w.text) or re.match(r"^\d{1,2},?$|^(Q[1-4]|H[12]|FY|9M)$", w.text)]
        columns.append(_Column(date[0].x0 if date else year.x0, year.x1, int(year.text[:4]),
                               date_text=" ".join(w.text for w in date)))
    values = [w for w in line.words if _VALUE.match(w.text) and w.text != "$"]
    if not columns or any(not _YEAR.match(w.text) for w in values if not re.match(r"^\d{1,2},?$", w.text)):
        return None
    # a year header's columns stand apart; a label such as "Fiscal 2022 results" is not one
    if len(columns) == 1 and len(groups) == 1 and len(groups[0]) > 3:
        return None
    return columns


def _other_columns(line: Line, columns: list[_Column]) -> list[tuple[float, float]]:
    """The spans of a year line's phrases that head no year, among or right of the year columns:
    columns of changes or shares beside the amounts ("2022 Change 2021 Change 2020", "2022 % of Total
    Revenues 2021 …"), whose numbers belong to no period."""
    first_x = min(c.x0 for c in columns)
    return [(g[0].x0, g[-1].x1) for g in _phrases(line.words)
            if g[0].x0 >= first_x - 4 and not any(_YEAR.match(w.text) for w in g)]


def _heads_other_column(x0: float, x1: float, columns: list[_Column], others: list[tuple[float, float]]) -> bool:
    """Whether a header phrase or a number stands nearer one of those other columns than any year's."""
    if not others:
        return False
    centre = (x0 + x1) / 2
    to_year = min(min(abs(c.x1 - x1), abs(c.centre - centre)) for c in columns)
    return any(a - 2 <= centre <= b + 2 or min(abs(b - x1), abs((a + b) / 2 - centre)) < to_year
               for a, b in others)


def _scale(text: str) -> str:
    m = _SCALE.search(text)
    return m.group(1).lower() if m else ""


def month_number(name: str) -> int | None:
    """'September', 'Sep.', 'sept' -> 9; None for a word that names no month."""
    key = name.strip(" .").lower()[:3]
    return MONTHS.index(key) + 1 if key in MONTHS else None


MAX_TITLE_CHARS = 100


def is_title(line: str) -> bool:
    """A heading line, not a sentence that mentions a statement ("… as reported in the consolidated
    statements of cash flows:" above a note's reconciliation)."""
    text = line.strip()
    return 0 < len(text) <= MAX_TITLE_CHARS and not text[0].islower() and not re.search(r"[.:;]$", text) \
        and not re.search(r"\b(the following|consisted of|as follows|are presented|is presented|reported in|"
                          r"included in)\b", text, re.IGNORECASE)


def statement_kind(title: str) -> str | None:
    return next((kind for kind, pattern in STATEMENTS if pattern.search(title)), None)


def _period(column: _Column, statement: str | None, context: str) -> dict:
    """A column's period from its header text; ``context`` is the table's heading (its title,
    "For the year ended December 31,") for what the column's own phrases leave out."""
    own = " ".join(column.phrases + [column.date_text])
    months = next((n for pattern, n in _DURATION if pattern.search(own)), None)
    # a note's column headed by a date alone ("Carrying Amount February 2, 2025") is a balance at that date,
    # unless the heading says the columns are periods ended then ("For the years ended …")
    dated_note = statement is None and _MONTH_DAY.search(own) and not re.search(r"\bend(ed|ing)\b", context,
                                                                                 re.IGNORECASE)
    if months is None and statement != "balance sheet" and not dated_note:
        months = next((n for pattern, n in _DURATION if pattern.search(context)), None)
    if statement == "balance sheet" or re.search(r"\bas of\b|\bbalance at\b", own, re.IGNORECASE):
        months = None
    elif months is None:
        months = 12 if statement in ("income statement", "cash flow", "comprehensive income", "equity") else None
    day = _MONTH_DAY.search(own) or _MONTH_DAY.search(context)
    month = _MONTH.search(own) or _MONTH.search(context)
    end = None
    if day:
        end = (column.year, month_number(day.group(1)), int(day.group(2)))
    elif month:
        end = (column.year, month_number(month.group(1)), 0)
    label = " ".join(p for p in column.phrases if p) + (" " if column.phrases else "") + \
        (f"{column.date_text} " if column.date_text else "") + str(column.year)
    # "Q3 2026", "Second Quarter 2023": the quarter named, when no date is
    quarter = re.search(r"\bQ([1-4])\b|\b(first|second|third|fourth) quarter\b", own, re.IGNORECASE)
    number = None
    if quarter:
        number = int(quarter.group(1)) if quarter.group(1) else \
            ("first", "second", "third", "fourth").index(quarter.group(2).lower()) + 1
    return {"label": label.strip(), "year": column.year, "end": list(end) if end else None, "months": months,
            "quarter": number}


def _assign(value: Word, columns: list[_Column]) -> int | None:
    """The column a number stands under: the nearest right edge, within half a column's spacing."""
    spacing = min((b.centre - a.centre for a, b in zip(columns, columns[1:])), default=80.0)
    best = min(range(len(columns)), key=lambda k: abs(columns[k].x1 - value.x1))
    column = columns[best]
    reach = max(0.55 * spacing, 12.0)
    if abs(column.x1 - value.x1) <= reach or column.x0 - 2 <= (value.x0 + value.x1) / 2 <= column.x1 + 2:
        return best
    return None


WRAP_INDENT_PT = 24.0  # a wrapped label's second line starts at most this far right of its first
MAX_LABEL_WRAP_WORDS = 60  # a label wrapped over more words than this is prose after the table, not a line item


def _continues(first: list[Word], then: list[Word]) -> bool:
    """Whether a line goes on with the words of the label-only line above it: it starts in lower
    case (or with a number after "… issued and"), at or a little right of that line's start (a
    hanging indent), and the line above does not end a heading with a colon."""
    if not first or not then or first[-1].text.endswith(":"):
        return False
    goes_on = then[0].text[:1].islower() or \
        (then[0].text[:1].isdigit() and re.search(r",$|^(and|or|of|to)$", first[-1].text) is not None)
    return goes_on and -3 <= then[0].x0 - first[0].x0 <= WRAP_INDENT_PT


_NAMES_A_STATEMENT = re.compile(r"\bstatements?\b|\bbalance\s+sheets?\b|\bfinancial\s+(position|condition)\b",
                                re.IGNORECASE)


def _next_title(text: str) -> bool:
    """A label-only line that is the next statement's title, which ends the table above it: not a
    line item that names a statement's subject ("Accumulated other comprehensive loss") nor a section
    heading that wraps ("Reconciliation of cash … to the / consolidated balance sheets")."""
    return bool(statement_kind(text)) and is_title(text) and bool(_NAMES_A_STATEMENT.search(text))


def read_tables(words: list[dict], page_text: str, first_index: int = 1) -> list[Table]:
    """The period-headed tables on a page, as typed `Table`s (empty when the page has none)."""
    return _read_page(words, page_text, first_index, None, [])[0]


@dataclass
class _Carried:
    """A table that ran to the foot of its page, for a next page that goes on with its rows under
    no header of its own (Intel's reconciliations: "Three Months Ended" and the rows, no dates)."""
    columns: list[_Column]
    periods: list[dict]
    header_left: str
    title: str
    statement: str | None
    unit: str
    heading: str
    others: list[tuple[float, float]] = field(default_factory=list)


class StatementPages:
    """Reads a document's pages in order: `read(words, text)` gives a page's period-headed tables,
    and a table that runs to the foot of a page goes on on the next one when that page's first
    rows stand under the same columns before any header of its own."""

    def __init__(self) -> None:
        self._carried: _Carried | None = None
        self._trailing: list[str] = []  # the lines after a page's last table: a title for the next page's first

    @property
    def carrying(self) -> bool:
        """A table ran to the foot of the page read last: the next page must be read, years or not."""
        return self._carried is not None

    def read(self, words: list[dict], page_text: str) -> list[Table]:
        tables, self._carried, self._trailing = _read_page(words, page_text, 1, self._carried, self._trailing)
        return tables


CONTINUATION_LINES = 12  # a continued table's first row stands within this many lines of the page's top
MAX_LABEL_WORDS = 12  # a continued table's first row has a line item's label, not a sentence


def _read_page(words: list[dict], page_text: str, first_index: int, carried: _Carried | None,
               trailing: list[str]) -> tuple[list[Table], _Carried | None, list[str]]:
    """A page's tables, the table that runs on onto the next page (if any), and the lines after its
    last table (eBay prints "Statement of Cash Flows" at the foot of the page before the table)."""
    lines = lines_of(words)
    tables: list[Table] = []
    k = 0
    ran_to_foot: _Carried | None = None
    start = _continued_at(lines, carried) if carried is not None else None
    if start is not None:
        rows, boxes, sections, k, scale, foot = _read_rows(lines, start, carried.columns, carried.unit, carried.others)
        if len(rows) >= 1:
            header = [carried.header_left] + [p["label"] for p in carried.periods]
            tables.append(Table(first_index, [header] + rows, [[None] * len(header)] + boxes,
                                title=f"{carried.title} (continued)".strip(), statement=carried.statement,
                                unit=carried.unit, columns=carried.periods, row_sections=[""] + sections,
                                heading=carried.heading))
            ran_to_foot = carried if foot else None
    title_lines: list[str] = [] if tables else list(trailing)
    while k < len(lines):
        columns = _year_header(lines[k])
        if columns is None:
            title_lines.append(lines[k].text)
            k += 1
            continue
        table, k, ran_to_foot = _read_table(lines, k, columns, title_lines[-8:], page_text, first_index + len(tables))
        if table is not None:
            tables.append(table)
        title_lines = []
    return tables, ran_to_foot, title_lines[-8:]


def _continued_at(lines: list[Line], carried: _Carried) -> int | None:
    """Where a table carried from the page before goes on: the first line near the top with numbers,
    if every number stands under one of its columns and they fill at least half of them; None when
    a year header, prose or a number outside the columns comes first."""
    first_x = min(c.x0 for c in carried.columns)
    for k, line in enumerate(lines[:CONTINUATION_LINES]):
        if _year_header(line) is not None or _INTRODUCES_A_TABLE.search(line.text):
            return None
        values = [w for w in line.words if _VALUE.match(w.text) and w.text != "$" and w.x1 > first_x - 4
                  and not re.match(r"^\d{1,2},$", w.text)]  # "31," of "Year Ended December 31," is a date
        if not values:
            continue
        if _MONTH.search(line.text) or re.search(r"\b(ended|ending)\b", line.text, re.IGNORECASE):
            return None  # a header of the page's own (its years on the next line)
        hit = {_assign(w, carried.columns) for w in values}
        label = [w.text for w in line.words if w.x1 < first_x - 4]
        # a line item's label: short, capitalised, not a sentence ("In fiscal 2021, we adopted …", "▪ CCG
        # includes …" are prose whose numbers happen to stand under the columns)
        if None in hit or len(hit) * 2 < len(carried.columns) or not label or len(label) > MAX_LABEL_WORDS or \
                not re.match(r"[A-Z(]", label[0]) or re.search(r"[.;] [A-Za-z]", " ".join(label)):
            return None
        return k
    return None


def _read_table(lines: list[Line], k: int, columns: list[_Column], above: list[str], page_text: str,
                index: int) -> tuple[Table | None, int, "_Carried | None"]:
    header = lines[k]
    others = _other_columns(header, columns)
    # phrases above the years: each column takes the nearest phrase of each line, but for one over a
    # column of changes or shares ("% of Total")
    first_x = min(c.x0 for c in columns)
    taken = 0
    for line in reversed(lines[max(0, k - HEADER_LINES_ABOVE):k]):
        groups = [g for g in _phrases(line.words) if g[-1].x1 > first_x - 4]
        if not groups and len(line.text) <= 90 and not statement_kind(line.text):
            continue  # "(millions of dollars, unless noted)" at the left, between the phrases and the years
        if not groups or any(_VALUE.match(w.text) and not _YEAR.match(w.text) and not re.match(r"^\d{1,2},?$", w.text)
                             for g in groups for w in g):
            break
        if len(line.text) > 90 or statement_kind(line.text):
            break
        groups = [g for g in groups if not _heads_other_column(g[0].x0, g[-1].x1, columns, others)]
        if not groups:
            continue  # "% of Total" over each column of shares, under the spanning "Three Months Ended"
        for column in columns:
            group = min(groups, key=lambda g: max(g[0].x0 - column.centre, column.centre - g[-1].x1, 0))
            column.phrases.insert(0, " ".join(w.text for w in group))
        taken += 1
    header_left = " ".join(w.text for w in header.words if w.x1 < first_x - 4)
    heading = " ".join(above + [header_left])
    statement = next((kind for t in reversed(above[-6:]) if is_title(t) and (kind := statement_kind(t))), None)
    scale = _scale(" ".join(above[-6:]) + " " + header_left)
    context = " ".join(above[-3:] + [header_left])
    periods = [_period(c, statement, context) for c in columns]

    rows, boxes, sections, k, scale, foot = _read_rows(lines, k + 1, columns, scale, others)
    if not rows:
        return None, k, None
    if not scale:
        scale = _scale(page_text[:600])
    currency = "USD" if "$" in page_text or re.search(r"dollars|\bUSD\b", page_text) else ""
    title = next((t for t in reversed(above) if is_title(t) and statement_kind(t)), above[-1] if above else "")
    header_row = [header_left] + [p["label"] for p in periods]
    header_box = [None] + [(c.x0, header.top, c.x1, max(w.bottom for w in header.words)) for c in columns]
    unit = f"{currency} {scale}".strip()
    table = Table(index, [header_row] + rows, [header_box] + boxes, title=title.strip(), statement=statement,
                  unit=unit, columns=periods, row_sections=[""] + sections, heading=heading.strip())
    carried = _Carried(columns, periods, header_left, title.strip(), statement, unit, heading.strip(), others) \
        if foot else None
    return table, k, carried


# a sentence that introduces the next table ("Lease liability maturities as of September 28, 2024, are as
# follows (in millions):"): its date's numbers are no row's values
_INTRODUCES_A_TABLE = re.compile(r"\b(?:are|is|were|was) as follows\b|\bthe following table\b", re.IGNORECASE)


def _read_rows(lines: list[Line], k: int, columns: list[_Column], scale: str,
               others: list[tuple[float, float]] = ()):
    """The rows from line ``k`` under the columns (numbers under ``others``, columns of changes or
    shares, left out): (rows, their cell boxes, their sections, the line after the table, the scale,
    whether the table ran to the foot of the page)."""
    first_x = min(c.x0 for c in columns)
    last_x = max(c.x1 for c in columns)
    rows: list[list[str]] = []
    boxes: list[list] = []
    sections: list[str] = []
    pending: list[Word] = []  # a label-only line: a section or the first half of a wrapped label
    section, outer, quiet = "", "", 0
    while k < len(lines):
        line = lines[k]
        if _year_header(line) is not None or _INTRODUCES_A_TABLE.search(line.text):
            break  # the next table's header, or the sentence that introduces it
        if not scale and _scale(line.text) and len(line.text) < 90 and not any(_VALUE.match(w.text) for w in line.words):
            scale = _scale(line.text)
        cells: dict[int, list[Word]] = {}
        label_words = []
        last: int | None = None  # the column of the word before: a lone "%" after a number is its unit
        skipped = False  # the word before was a number of another column: its "%" goes with it
        for w in line.words:
            if w.text in ("%", ")", ")%") and skipped:
                continue
            skipped = False
            if _VALUE.match(w.text) and w.text != "$" and w.x0 > first_x - 4 and \
                    _heads_other_column(w.x0, w.x1, columns, others):
                skipped, last = True, None
                continue
            column = _assign(w, columns) if _VALUE.match(w.text) else None
            if w.text in ("%", ")", ")%") and last is not None:  # a lone "%" or the ")" closing "(5,768 )"
                cells[last].append(w)
                continue
            if column is None and w.x0 > last_x + 4:
                continue  # a column right of the periods that no year heads ("Inc/(Dec)", "% change")
            if column is None or (label_words and w.x1 < first_x - 4):
                label_words.append(w)
                last = None
            elif w.text != "$":
                cells.setdefault(column, []).append(w)
                last = column
        if not cells:
            if _next_title(line.text) or len(line.text) > 120:
                break
            if _scale(line.text) or re.fullmatch(r"\(?unaudited\)?", line.text.strip(), re.IGNORECASE):
                k += 1
                continue  # the heading's scale or "(Unaudited)" under the years
            if pending and _continues(pending, label_words) and len(pending) + len(label_words) <= MAX_LABEL_WRAP_WORDS:
                pending = pending + label_words  # a label that wraps onto another line (Meta's four-line
                k += 1                           # "Common stock, $0.000006 par value; …"): no gap
                continue
            quiet += 1
            if quiet > MAX_GAP_LINES:
                break
            if pending:  # two headings in a row: the first holds a group the second heads ("Net
                outer = section = " ".join(w.text for w in pending)  # revenue:" / "Client Computing")
            pending = label_words
            k += 1
            continue
        quiet = 0
        label = " ".join(w.text for w in label_words)
        x_label = label_words[0].x0 if label_words else None
        if pending:
            joined = " ".join(w.text for w in pending)
            if not label_words and not joined.endswith(":"):
                label = joined  # the label's line, then its values a little lower (another baseline)
            elif x_label is not None and _continues(pending, label_words):
                label = f"{joined} {label}"
            else:
                section = joined
            pending = []
        if not label and section:
            label = f"Total {section.rstrip(':').strip()}"  # an unlabelled sum under an indented group
        row = [label] + [" ".join(w.text for w in cells.get(c, [])) for c in range(len(columns))]
        rows.append(row)
        box_label = (min(w.x0 for w in label_words), line.top, max(w.x1 for w in label_words),
                     max(w.bottom for w in label_words)) if label_words else None
        boxes.append([box_label] + [(min(w.x0 for w in cells[c]), line.top, max(w.x1 for w in cells[c]),
                                     max(w.bottom for w in cells[c])) if c in cells else None
                                    for c in range(len(columns))])
        sections.append(section_of(label, section, outer))
        # a total ("Total …", or the group's own name again: "Finance lease cost") closes its group, and the
        # group it stood in resumes
        if closes_group(label, section):
            section, outer = (outer, outer) if outer and section.rstrip(":").strip() != outer.rstrip(":").strip() \
                else ("", "")
        k += 1
    return rows, boxes, sections, k, scale, k >= len(lines)


def closes_group(label: str, section: str) -> bool:
    """A row that ends its group: a total, or the group's own name again ("Finance lease cost:" … "Finance
    lease cost")."""
    return label.lower().startswith("total") or label.lower() == section.rstrip(":").strip().lower()


def section_of(label: str, section: str, outer: str = "") -> str:
    """A row's section: the group it stands in, but not for a total of something else ("Total lease
    liabilities" after the "Long-term" group: it totals the current and long-term lines alike)."""
    inner, outer = section.rstrip(":").strip(), outer.rstrip(":").strip()
    totalled = set(re.findall(r"[a-z]+", label.lower()[5:]))
    if label.lower().startswith("total") and inner and not set(re.findall(r"[a-z]+", inner.lower())) & totalled:
        return outer if set(re.findall(r"[a-z]+", outer.lower())) & totalled else ""
    return inner


GRID_HEADER_ROWS = 8  # rows at the top of a spreadsheet or document table in which its year header is looked for
_GRID_YEAR = re.compile(r"\b((?:19|20)\d{2})\b")


def read_grid(rows: list[list[str]], index: int, context: str = "", sheet: str | None = None) -> Table | None:
    """A statement typed into a grid (a DOCX, XLSX or CSV table) as a period-headed `Table`: the
    first row whose value cells all name a year is the header, cells above it that span the years
    ("Three Months Ended") are their phrases, rows above them are the title and scale; None when no
    row is such a header. ``context`` is text around the table (a DOCX's paragraphs, a sheet's name)."""
    for h in range(min(GRID_HEADER_ROWS, len(rows) - 1)):
        header = rows[h]
        cells = [(c, text) for c, text in enumerate(header[1:], start=1) if text.strip()]
        if not cells or any(not _GRID_YEAR.search(text) or _VALUE.match(text.replace(" ", "")) and not
                            _YEAR.match(text.strip()) for _, text in cells):
            continue
        below = rows[h + 1:]
        if sum(any(_VALUE.match(r[c].replace(" ", "")) for c, _ in cells if c < len(r)) for r in below) < 2:
            continue
        return _grid_table(rows, h, _value_columns(rows, h, cells), index, context, sheet)
    return None


def _value_columns(rows: list[list[str]], h: int, cells: list[tuple[int, str]]) -> list[int]:
    """The header's columns, one per period: where a merged header repeats over a "$" column and
    its number, the column that holds the numbers."""
    def numbers(c: int) -> int:
        return sum(bool(_VALUE.match(r[c].replace(" ", ""))) and r[c].strip() != "$" for r in rows[h + 1:] if c < len(r))

    out: list[int] = []
    for c, text in cells:
        if out and rows[h][out[-1]] == text and out[-1] == c - 1:
            if numbers(c) > numbers(out[-1]):
                out[-1] = c
            continue
        out.append(c)
    return out


def _grid_table(rows: list[list[str]], h: int, value_cols: list[int], index: int, context: str,
                sheet: str | None) -> Table:
    header = rows[h]
    above = rows[max(0, h - HEADER_LINES_ABOVE):h]
    columns = []
    for c in value_cols:
        text = header[c]
        iso = re.search(r"\b((?:19|20)\d{2})-(\d{2})-(\d{2})\b", text)  # a spreadsheet's date cell
        if iso:
            text = f"{MONTHS[int(iso.group(2)) - 1].title()} {int(iso.group(3))}, {iso.group(1)}"
        year = int(_GRID_YEAR.findall(text)[-1])
        column = _Column(c, c, year, date_text=_GRID_YEAR.sub("", text).strip(" ,"))
        for row in above:  # a spanning phrase stands at or left of its first column, over the value columns
            spans = [k for k in range(min(value_cols), min(c, len(row) - 1) + 1) if row[k].strip()]
            if spans and not _GRID_YEAR.search(row[spans[-1]]) and not _VALUE.match(row[spans[-1]].replace(" ", "")):
                column.phrases.append(row[spans[-1]].strip())
        columns.append(column)
    title_lines = [" ".join(cell for cell in row if cell.strip()) for row in rows[:h]] + [header[0]]
    titles = ([sheet] if sheet else []) + title_lines + [context[:300]]
    statement = next((kind for t in titles if t and is_title(t) and (kind := statement_kind(t))), None)
    heading = " ".join(t for t in title_lines if t)
    scale = _scale(heading) or _scale(context[:600])
    periods = [_period(c, statement, heading + " " + context[:300]) for c in columns]
    table_text = heading + " " + context[:600] + " ".join(cell for row in rows for cell in row)
    currency = "USD" if "$" in table_text or re.search(r"dollars|\bUSD\b", table_text) else ""

    out: list[list[str]] = [[header[0]] + [p["label"] for p in periods]]
    sections: list[str] = [""]
    section = ""
    for row in rows[h + 1:]:
        label = row[0].strip() if row else ""
        values = [re.sub(r"^\$\s*", "", row[c].strip()) if c < len(row) else "" for c in value_cols]
        if not any(values):
            section = label.rstrip(":").strip() if label else section
            continue
        out.append([label] + values)
        sections.append(section)
        if label.lower().startswith("total"):
            section = ""  # a total closes its group
    title = next((t for t in title_lines if t and is_title(t) and statement_kind(t)), title_lines[0] if h else "")
    return Table(index, out, sheet=sheet, title=title.strip(), statement=statement, unit=f"{currency} {scale}".strip(),
                 columns=periods, row_sections=sections, heading=heading.strip())
