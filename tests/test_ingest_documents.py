"""Documents: PDF tables with pages and cell boxes, DOCX, TXT/MD, CSV, XLSX, and bad input."""
from __future__ import annotations

import pytest

from r1mm.errors import IngestError
from r1mm.ingest import load
from r1mm.types import Modality


def test_pdf_tables_keep_page_numbers_and_cell_boxes(samples, truth):
    (item,) = load(samples / "quarterly_report.pdf")
    assert item.modality is Modality.TEXT and item.meta["pages"] == 2
    page = item.data.pages[1]
    assert page.number == 2 and len(page.tables) == 1
    table = page.tables[0]
    assert table.rows[0] == ["Metric", *truth["report"]["periods"]]
    revenue = next(r for r in table.rows if r[0] == "Revenue")
    assert revenue[1] == f"{truth['report']['figures']['Revenue']['current']:,.1f}"
    x0, top, x1, bottom = table.cell_bboxes[1][1]
    assert 0 < x0 < x1 <= page.size[0] and 0 < top < bottom <= page.size[1]
    assert "Risk factors" in item.data.text


def test_docx_paragraphs_and_tables(tmp_path):
    import docx

    doc = docx.Document()
    doc.add_paragraph("Board minutes: revenue outlook raised.")
    table = doc.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Metric", "FY2026"
    table.cell(1, 0).text, table.cell(1, 1).text = "Revenue", "5,120.0"
    doc.save(tmp_path / "minutes.docx")
    (item,) = load(tmp_path / "minutes.docx")
    assert item.meta["format"] == "docx"
    assert "revenue outlook" in item.data.text
    assert item.data.pages[0].tables[0].rows == [["Metric", "FY2026"], ["Revenue", "5,120.0"]]


def test_text_markdown_and_csv(tmp_path):
    (tmp_path / "notes.md").write_text("# Notes\n\nThe part passed inspection.", encoding="utf-8")
    (tmp_path / "kpi.csv").write_text("metric;Q1;Q2\nRevenue;10.5;12.0\n", encoding="utf-8")
    (tmp_path / "latin.txt").write_bytes("Café résumé".encode("cp1252"))
    assert load(tmp_path / "notes.md")[0].meta["format"] == "md"
    csv_item = load(tmp_path / "kpi.csv")[0]
    assert csv_item.data.pages[0].tables[0].rows == [["metric", "Q1", "Q2"], ["Revenue", "10.5", "12.0"]]
    assert load(tmp_path / "latin.txt")[0].data.text == "Café résumé"


def test_xlsx_sheets_become_tables(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Income"
    ws.append(["Metric", "Q3 2026"])
    ws.append(["Revenue", 1284.6])
    wb.save(tmp_path / "figures.xlsx")
    (item,) = load(tmp_path / "figures.xlsx")
    table = item.data.pages[0].tables[0]
    assert table.sheet == "Income" and table.rows[1] == ["Revenue", "1284.6"]


def test_content_decides_not_the_suffix(samples, tmp_path):
    renamed = tmp_path / "report.png"
    renamed.write_bytes((samples / "quarterly_report.pdf").read_bytes())
    assert load(renamed)[0].meta["format"] == "pdf"


@pytest.mark.parametrize("name,content,reason", [
    ("empty.pdf", b"", "empty"),
    ("fake.pdf", b"just some text", "not PDF"),
    ("noise.bin", bytes(range(256)) * 4, "not a supported file type"),
])
def test_bad_documents_name_the_file_and_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError) as err:
        load(path)
    assert err.value.source == name and reason in err.value.reason


def test_truncated_pdf_is_reported(samples, tmp_path):
    data = (samples / "quarterly_report.pdf").read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: len(data) // 3])
    try:
        items = load(cut)
    except IngestError as err:
        assert err.source == "cut.pdf"
    else:  # pdfminer may recover the first page; then it must still be a real document
        assert items[0].meta["format"] == "pdf"


def test_corrupt_docx_is_reported(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "broken.docx", "w") as zf:
        zf.writestr("word/document.xml", "<not-xml")
    with pytest.raises(IngestError, match="broken.docx: is not a readable DOCX"):
        load(tmp_path / "broken.docx")
