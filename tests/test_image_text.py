"""Text on images (PP-OCRv6 through rapidocr): lines read with their pixel boxes, on a generated
label and on a chart image matplotlib wrote for networkx's tests; answered through `ask`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from r1mm.ingest.ocr import read_lines
from r1mm.workspace import Workspace

LABEL_LINES = ["LOT 4471-B  EXP 2027-03", "Net weight 250 g", "Store below 25 °C"]


def _label(path: Path | None = None) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    image = Image.new("RGB", (640, 260), (250, 248, 240))
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=30)
    boxes = []
    for k, text in enumerate(LABEL_LINES):
        draw.text((30, 30 + 70 * k), text, fill=(20, 20, 30), font=font)
        boxes.append(draw.textbbox((30, 30 + 70 * k), text, font=font))
    if path is not None:
        image.save(path)
    return image, boxes


def _contains(outer, inner, slack: int = 6) -> bool:
    return (outer[0] - slack <= inner[0] and outer[1] - slack <= inner[1]
            and inner[2] <= outer[2] + slack and inner[3] <= outer[3] + slack)


def test_a_label_s_lines_are_read_in_order_with_their_boxes():
    image, boxes = _label()
    lines = read_lines(np.asarray(image))
    assert [line.text.replace(" ", "") for line in lines] == [t.replace(" ", "") for t in LABEL_LINES]
    for line, box in zip(lines, boxes):
        assert _contains(line.box, box) and line.score > 0.75


def test_a_chinese_label_is_read_in_chinese_and_english():
    font_path = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian's fonts-wqy-microhei
    if not font_path.exists():
        pytest.fail("the Chinese font is missing: `make setup` installs fonts-wqy-microhei")
    font = ImageFont.truetype(str(font_path), 30)
    written = ["第三季度营业收入 1,284.6 百万美元", "净利润同比增长 12%", "Revenue Q3 2026"]
    image = Image.new("RGB", (700, 220), (252, 250, 245))
    for k, text in enumerate(written):
        ImageDraw.Draw(image).text((30, 30 + 60 * k), text, font=font, fill=(20, 20, 30))
    read = [line.text.replace(" ", "") for line in read_lines(np.asarray(image))]
    assert read == [text.replace(" ", "") for text in written]


def test_text_on_a_chart_written_by_matplotlib_for_networkx_is_read_where_it_is():
    import networkx

    chart = Path(networkx.__file__).parent / "drawing" / "tests" / "baseline" / "test_display_complex.png"
    assert chart.exists(), f"{chart} is missing: the networkx wheel (installed with torch) ships it"
    lines = {line.text: line.box for line in read_lines(np.asarray(Image.open(chart).convert("RGB")))}
    # the edge labels seen in the image: "9.33" above the graph, "10.33" left of node B, "1.67" lower left
    for text, (x, y) in {"9.33": (382, 72), "10.33": (110, 217), "1.67": (275, 370)}.items():
        x0, y0, x1, y1 = lines[text]
        assert x0 <= x <= x1 and y0 <= y <= y1


def test_what_is_written_on_the_label_is_answered_with_the_text_and_its_box(tmp_path):
    _, boxes = _label(tmp_path / "label.png")
    ws = Workspace(tmp_path / "ws")
    assert ws.add(tmp_path / "label.png").ok
    answer = ws.ask("What is written on this label?")
    flat = answer.text.replace(" ", "")
    assert "LOT4471-B" in flat and "Netweight250g" in flat
    x0, y0, x1, y1 = answer.evidence[0].locator.bbox_px
    assert _contains((x0, y0, x1, y1), boxes[0]) and _contains((x0, y0, x1, y1), boxes[1])


@pytest.mark.parametrize("quarter_turns", [0, 1, 2])  # upright, on its side, upside down
def test_a_scanned_report_gives_the_same_figures_as_its_text_pdf_with_cell_boxes(samples, tmp_path, quarter_turns):
    from r1mm.analysis import analyze
    from r1mm.cases.scans import scan_pdf
    from r1mm.ingest import load

    scan_pdf(samples / "quarterly_report.pdf", tmp_path / "scanned_report.pdf", dpi=150, angle=1.5,
             quarter_turns=quarter_turns)
    scanned = load(tmp_path / "scanned_report.pdf")[0]
    assert scanned.meta["scanned_pages"] == [1, 2]

    def figures(item):
        return {f.text: f.locator for f in analyze(item) if f.kind == "finance.figure"}

    text_layer, ocr = figures(load(samples / "quarterly_report.pdf")[0]), figures(scanned)
    assert len(text_layer) >= 12 and set(ocr) == set(text_layer)  # metric, period, value and unit, every one
    if quarter_turns:
        return  # the cells lie elsewhere on a turned page
    for text, locator in ocr.items():
        expected = text_layer[text].cell_bbox
        assert locator.page == text_layer[text].page
        centre = ((locator.cell_bbox[0] + locator.cell_bbox[2]) / 2, (locator.cell_bbox[1] + locator.cell_bbox[3]) / 2)
        assert expected[0] - 8 <= centre[0] <= expected[2] + 8 and expected[1] - 8 <= centre[1] <= expected[3] + 8


@pytest.mark.parametrize("layout", ["stamped", "header"])  # typed lines over a scan; a typed header above one
def test_a_page_whose_text_layer_covers_only_part_of_it_is_read_whole(samples, tmp_path, layout):
    from r1mm.analysis import analyze
    from r1mm.cases.scans import partly_scanned_pdf
    from r1mm.ingest import load

    partly_scanned_pdf(samples / "quarterly_report.pdf", tmp_path / "annex.pdf", layout=layout)
    item = load(tmp_path / "annex.pdf")[0]
    assert item.meta["pages_with_scanned_parts"] == [1, 2] and "scanned_pages" not in item.meta

    def figures(item):
        return {f.text: f.locator for f in analyze(item) if f.kind == "finance.figure"}

    text_layer, read = figures(load(samples / "quarterly_report.pdf")[0]), figures(item)
    assert len(text_layer) >= 12 and set(read) == set(text_layer)
    lines = item.data.pages[0].text.splitlines()
    typed = "RECEIVED" if layout == "stamped" else "Northwind Holdings plc"
    assert lines[0].startswith(typed) and sum(typed in line for line in lines) == 1  # read once, in its place
    assert "Highlights: revenue grew" in item.data.pages[0].text  # the scan's prose, not only its table
    if layout == "stamped":
        assert lines[-1].startswith("Confidential")
    region = item.data.pages[1].scanned_regions[0]
    for text, locator in read.items():
        box = locator.cell_bbox
        assert region[0] <= box[0] < box[2] <= region[2] and region[1] <= box[1] < box[3] <= region[3]
        if layout == "stamped":  # the scan fills the page: each cell where the text PDF has it
            expected = text_layer[text].cell_bbox
            centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            assert expected[0] - 8 <= centre[0] <= expected[2] + 8 and expected[1] - 8 <= centre[1] <= expected[3] + 8


def test_a_blank_scan_says_it_has_no_text(tmp_path):
    from r1mm.errors import IngestError
    from r1mm.ingest import load

    Image.new("RGB", (1240, 1754), "white").save(tmp_path / "blank.pdf", resolution=150)
    with pytest.raises(IngestError, match="blank.pdf: has no text, and OCR found none on its pages"):
        load(tmp_path / "blank.pdf")


def test_a_long_scan_reports_progress_page_by_page_and_resumes_after_an_interruption(samples, tmp_path, monkeypatch):
    from r1mm.cases.finance import write_report_pdf
    from r1mm.cases.scans import scan_pdf
    from r1mm.errors import IngestError
    from r1mm.ingest import load, ocr
    from r1mm.ingest.progress import reporting

    monkeypatch.setenv("R1MM_CACHE", str(tmp_path / "cache"))
    write_report_pdf(tmp_path / "report.pdf", intro_pages=3)  # 4 pages
    scan_pdf(tmp_path / "report.pdf", tmp_path / "scan.pdf", dpi=150, angle=0.5)
    read = ocr.read_lines
    pages_read = []

    def stopped_after_two(rgb):  # the user stops the load while the third page is read
        if len(pages_read) == 2:
            raise KeyboardInterrupt
        pages_read.append(1)
        return read(rgb)

    monkeypatch.setattr(ocr, "read_lines", stopped_after_two)
    with pytest.raises(KeyboardInterrupt):
        load(tmp_path / "scan.pdf")
    monkeypatch.setattr(ocr, "read_lines", lambda rgb: pages_read.append(1) or read(rgb))
    steps = []
    with reporting(lambda done, total, what: steps.append((done, total, what))):
        item = load(tmp_path / "scan.pdf")[0]
    assert len(pages_read) == 4  # two pages before the interruption, the other two after it
    assert [what for _, _, what in steps[:4]] == [f"page {k} of 4: text and tables" for k in range(1, 5)]
    assert [(done, total) for done, total, _ in steps[4:]] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert steps[-1][2] == "page 4 read by OCR (4 of 4 scanned pages)"
    assert item.meta["scanned_pages"] == [1, 2, 3, 4] and "Revenue" in item.data.pages[3].text
    assert not any((tmp_path / "cache" / "ocr-pages").iterdir())  # all read: nothing kept
    with pytest.raises(IngestError):  # (and a broken file still names itself)
        (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
        load(tmp_path / "broken.pdf")
