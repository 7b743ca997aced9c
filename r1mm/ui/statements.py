"""A filing's statements as tables: its periods as columns, the printed lines (indented under their
section) as rows, the scale in the caption; a cell picked shows the page with that cell outlined."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from r1mm.analysis import analyst
from r1mm.analysis.finance import period_name
from r1mm.analysis.metrics import METRICS, fill_ligatures
from r1mm.types import Document, Finding, Item, Locator, Table
from r1mm.ui.evidence import show_document

_ORDER = ("income statement", "comprehensive income", "balance sheet", "cash flow", "equity")


def statement_tables(document: Document) -> list[tuple[int | None, Table]]:
    """The period-headed tables of a document, (page, table): the primary statements first, in the
    order analysts read them, then the notes' and releases' tables in page order."""
    found = [(page.number, table) for page in document.pages for table in page.tables if table.columns]
    return sorted(found, key=lambda pt: (_ORDER.index(pt[1].statement) if pt[1].statement in _ORDER else len(_ORDER),
                                         pt[0] or 0, pt[1].index))


def table_name(page: int | None, table: Table) -> str:
    kind = (table.statement or "table").capitalize()
    title = f" — {table.title}" if table.title and table.title.lower() != (table.statement or "") else ""
    where = f"page {page}, " if page else ""
    return f"{kind}{title} ({where}table {table.index})"


def printed_columns(table: Table) -> list[list[int]]:
    """The table's columns (1-based) grouped as the filing prints them. An iXBRL table gives a
    segment's facts (a dimension member: Apple's "Products" and "Services" lines) columns of their
    own; each such column joins its period's whole-company column where that column is empty on
    the segment's rows, so the lines stand under their period as printed. Others stay apart."""
    periods = table.columns or []
    filled = [{r for r, row in enumerate(table.rows[1:]) if c < len(row) and row[c].strip()}
              for c in range(1, len(periods) + 1)]
    groups: list[list[int]] = []
    rows_of: list[set[int]] = []
    for c, period in enumerate(periods, start=1):
        if period.get("members"):
            into = next((g for g, group in enumerate(groups) if not periods[group[0] - 1].get("members")
                         and (periods[group[0] - 1].get("end"), periods[group[0] - 1].get("months"))
                         == (period.get("end"), period.get("months")) and not rows_of[g] & filled[c - 1]), None)
            if into is not None:
                groups[into].append(c)
                rows_of[into] |= filled[c - 1]
                continue
        groups.append([c])
        rows_of.append(set(filled[c - 1]))
    return groups


def statement_frame(table: Table) -> pd.DataFrame:
    """The table as printed: one row per line, its label indented under its section, one column per
    period (named by its typed period: "Three Months Ended June 30, 2023"; `printed_columns`), the
    cells as printed."""
    sections = table.row_sections or [""] * len(table.rows)
    labels = []
    for r, row in enumerate(table.rows[1:], start=1):
        indent = "\u2003" if r < len(sections) and sections[r] else ""
        labels.append(indent + (fill_ligatures(row[0]) or "—"))
    groups = printed_columns(table)
    columns = []
    for group in groups:
        name = table.columns[group[0] - 1].get("label") or table.rows[0][group[0]]
        while name in columns:  # two columns printed alike stay apart
            name += " "
        columns.append(name)
    body = [[row[c] if c < len(row) else "" for c in (_filled(row, group) for group in groups)]
            for row in table.rows[1:]]
    return pd.DataFrame(body, index=labels, columns=columns)


def _filled(row: list[str], group: list[int]) -> int:
    """The column of the group that holds the row's value (the group's first when none does)."""
    return next((c for c in group if c < len(row) and row[c].strip()), group[0])


def metrics_frame(facts: list[Finding]) -> pd.DataFrame:
    """The standard metrics (rows, in the statements' order) for each period of the primary
    statements (columns, latest first), each the line an analyst's question would be answered with."""
    primary = [f for f in facts if f.value["statement"] and not f.value.get("dimensional")]
    periods: dict[tuple, str] = {}
    for f in primary:
        p = f.value["period"]
        key = (p["end"] or "", p["months"] or 0)
        periods.setdefault(key, period_name(p["months"], p["fiscal_year"], p["fiscal_quarter"], p["end"], short=True))
    columns = sorted(periods, key=lambda k: (k[0], -k[1]), reverse=True)
    rows = {}
    for metric in METRICS:
        mine = [f for f in primary if f.value["metric"] == metric.name]
        if not mine:
            continue
        row = {}
        for end, months in columns:
            at = [f for f in mine if (f.value["period"]["end"] or "", f.value["period"]["months"] or 0) == (end, months)]
            if at:
                p = at[0].value["period"]
                period = analyst.Period(p["months"], p["fiscal_year"], p["fiscal_quarter"] if p["months"] == 3 else None)
                best = analyst.lookup(analyst.Ask(metrics=[metric]), at, metric, period) or at[0]
                row[periods[(end, months)]] = analyst.line_amount(best, metric)
        rows[f"{metric.name} ({mine[0].unit})"] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def cell_locator(source: str, page: int | None, table: Table, frame_row: int, frame_column: int) -> Locator:
    """Where a picked cell of `statement_frame` is in the table: its row (after the header row) and the
    column that holds its value (after the labels)."""
    r = frame_row + 1
    c = _filled(table.rows[r], printed_columns(table)[frame_column])
    bbox = table.cell_bboxes[r][c] if table.cell_bboxes and r < len(table.cell_bboxes) and \
        c < len(table.cell_bboxes[r]) else None
    return Locator(source, page=page, table=table.index, cell=(r, c), cell_bbox=bbox, sheet=table.sheet)


def show_statements(item: Item, key: str) -> None:
    """Pick a statement, see it as a table, pick a cell and see it outlined on its page."""
    tables = statement_tables(item.data)
    if not tables:
        st.info(f"No table with periods as columns was found in {item.source}.")
        return
    names = [table_name(page, table) for page, table in tables]
    chosen = st.selectbox("Statement", range(len(tables)), format_func=names.__getitem__, key=f"{key}-statement")
    page, table = tables[chosen]
    frame = statement_frame(table)
    st.caption(f"{table.unit or 'unit not stated'} · {item.source}, page {page} · pick a cell to see it on the page"
               if page else f"{table.unit or 'unit not stated'} · {item.source} · pick a cell to see its row")
    event = st.dataframe(frame, use_container_width=True, on_select="rerun", selection_mode="single-cell",
                         key=f"{key}-table-{chosen}")
    cells = event.selection.get("cells", []) if event is not None else []
    # the same choice without a pointer: a line and a period by name
    line = st.selectbox("Line", range(len(frame.index)), format_func=lambda r: frame.index[r].strip(),
                        key=f"{key}-line-{chosen}")
    period = st.selectbox("Period", range(len(frame.columns)), format_func=lambda c: frame.columns[c].strip(),
                          key=f"{key}-period-{chosen}")
    if cells:
        row, column_name = cells[0]
        line, period = int(row), list(frame.columns).index(column_name)
    loc = cell_locator(item.source, page, table, line, period)
    st.markdown(f"**{frame.index[line].strip()}**, {frame.columns[period].strip()}: "
                f"{frame.iat[line, period] or '—'} {table.unit}")
    show_document(item, loc)
