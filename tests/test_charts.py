"""Charts read back into numbers (`r1mm.analysis.charts`): bar, stacked bar and line charts drawn by
matplotlib, each value with its pixel box; chart values held against a report table in the same
workspace; a chart whose axis has no numbers says so and gives none."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from r1mm.analysis.charts import period_key, read_chart, tick_value
from r1mm.cases.charts import chart_case, write_matplotlib, write_report_chart
from r1mm.cases.finance import PERIODS, REPORT_ROWS, write_report_pdf
from r1mm.ingest.ocr import read_lines
from r1mm.workspace import Workspace

pytest.importorskip("matplotlib")


def test_tick_labels_and_periods_are_parsed():
    assert tick_value("1,250") == 1250 and tick_value("−2.5") == -2.5 and tick_value("40 -") == 40
    assert tick_value("1.5k") == 1500 and tick_value("Q3") is None and tick_value("100") == 100
    assert tick_value("6 × 10⁰") == 6 and tick_value("10³") == 1000  # matplotlib's log-axis labels
    assert period_key("Q3 25") == period_key("3Q25") == period_key("2025 Q3") == "Q3 2025"
    assert period_key("FY2024") == "2024"


@pytest.mark.parametrize("seed", [2, 4, 15])  # a stacked bar (fivethirtyeight), a bar with negatives, a line (classic)
def test_a_generated_chart_is_read_within_two_percent_of_its_axis(tmp_path, seed):
    case = chart_case(seed)
    path = tmp_path / "chart.png"
    write_matplotlib(case, path)
    rgb = np.asarray(Image.open(path).convert("RGB"))
    chart = read_chart(rgb, read_lines(rgb))
    assert chart is not None and chart.axis is not None
    assert chart.categories == case.categories
    lo, hi = chart.axis.span
    span = max(hi, max(max(v) for v in case.series.values())) - min(lo, 0, min(min(v) for v in case.series.values()))
    for name, values in case.series.items():
        for category, value in zip(case.categories, values):
            read = [v for v in chart.values if v.category == category and (v.series == name or len(case.series) == 1)]
            assert read, (name, category)
            assert abs(read[0].value - value) <= 0.02 * span, (name, category, value, read[0].value)
            x0, y0, x1, y1 = read[0].box
            assert 0 <= x0 < x1 <= rgb.shape[1] and 0 <= y0 < y1 <= rgb.shape[0]


def _report_and_chart(tmp_path, revenue: tuple[float, float]) -> Workspace:
    write_report_pdf(tmp_path / "report.pdf")
    write_report_chart(tmp_path / "revenue.png", "Revenue", list(PERIODS[::-1]), list(revenue[::-1]), "USD millions")
    ws = Workspace(tmp_path / "ws")
    assert ws.add(tmp_path / "report.pdf").ok and ws.add(tmp_path / "revenue.png").ok
    return ws


def test_a_chart_that_shows_the_report_s_figures_agrees_with_the_table(tmp_path):
    current, previous = REPORT_ROWS[0][1], REPORT_ROWS[0][2]
    ws = _report_and_chart(tmp_path, (current, previous))
    answer = ws.ask("Does the chart match the table?")
    assert answer.text.startswith("Yes"), answer.text
    assert any(e.locator.bbox_px for e in answer.evidence)
    said = ws.ask(f"What does the chart say {PERIODS[0]} revenue was?")
    assert said.evidence and said.evidence[0].finding.kind == "chart.value"
    assert abs(said.evidence[0].finding.value["value"] - current) <= 0.02 * current
    assert said.evidence[0].locator.bbox_px is not None


def test_a_chart_that_contradicts_the_table_is_found_with_both_numbers(tmp_path):
    current, previous = REPORT_ROWS[0][1], REPORT_ROWS[0][2]
    ws = _report_and_chart(tmp_path, (current * 0.85, previous))
    answer = ws.ask("Does the chart agree with the report?")
    assert answer.text.startswith("No"), answer.text
    check = next(e.finding for e in answer.evidence if e.finding.kind == "chart.check"
                 and e.finding.value["verdict"] == "disagrees")
    assert check.value["report_value"] == current
    assert abs(check.value["chart_value"] - current * 0.85) <= 0.02 * current
    assert "1,284.6" in check.text


def test_bars_with_no_numbers_on_their_axis_are_not_given_values(tmp_path):
    image = Image.new("RGB", (600, 400), "white")
    draw = ImageDraw.Draw(image)
    for k, height in enumerate((120, 220, 180, 260)):
        draw.rectangle([60 + 130 * k, 350 - height, 140 + 130 * k, 350], fill=(200, 80, 40))
    draw.line([40, 350, 580, 350], fill="black")
    image.save(tmp_path / "bars.png")
    ws = Workspace(tmp_path / "ws")
    assert ws.add(tmp_path / "bars.png").ok
    kinds = [f.kind for f in ws.findings()]
    assert "chart.unreadable" in kinds and "chart.value" not in kinds
    text = next(f.text for f in ws.findings() if f.kind == "chart.unreadable")
    assert "no values" in text and "no scale is assumed" in text


def test_a_chart_inside_a_report_pdf_is_read_with_its_page_and_box_in_points(tmp_path):
    current, previous = REPORT_ROWS[0][1], REPORT_ROWS[0][2]
    write_report_chart(tmp_path / "revenue.png", "Revenue", list(PERIODS[::-1]), [previous, current * 1.1],
                       "USD millions")
    write_report_pdf(tmp_path / "report.pdf", chart=tmp_path / "revenue.png")
    ws = Workspace(tmp_path / "ws")
    assert ws.add(tmp_path / "report.pdf").ok
    values = [f for f in ws.findings() if f.kind == "chart.value"]
    assert {f.value["period"] for f in values} == set(PERIODS)
    for f in values:
        x0, top, x1, bottom = f.locator.cell_bbox
        assert f.locator.page is not None and 0 <= x0 < x1 <= 595 and 0 <= top < bottom <= 842  # A4 in points
    answer = ws.ask("Is the chart consistent with the table?")
    assert answer.text.startswith("No"), answer.text
    wrong = [e.finding for e in answer.evidence if e.finding.kind == "chart.check" and e.finding.value["verdict"] == "disagrees"]
    assert [c.value["period"] for c in wrong] == [PERIODS[0]]


def test_a_search_for_a_revenue_chart_finds_the_chart_by_its_words(tmp_path):
    from r1mm.cases.charts import write_chart

    write_chart(tmp_path / "revenue.png")  # drawn with Pillow: bars with their values, no axis numbers
    photo = Image.new("RGB", (640, 400), (90, 140, 200))
    ImageDraw.Draw(photo).ellipse([200, 100, 440, 300], fill=(240, 200, 60))
    photo.save(tmp_path / "sun.png")
    ws = Workspace(tmp_path / "ws")
    assert ws.add(tmp_path / "sun.png").ok and ws.add(tmp_path / "revenue.png").ok
    best = ws.search("revenue chart", k=1)[0]
    assert best.locator.source == "revenue.png" and best.score >= 0.5
