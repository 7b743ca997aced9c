"""The question parse measured on its own (`r1mm.bench.question_parse`): each field is scored
against a question's cells and can fail; the parse reads dated quarters, comparisons of two lines,
"1 decimal" and "here means" definitions. Real filings from ``../shared/filings``."""
from __future__ import annotations

from datetime import date

import pytest
from test_filings import _facts

from r1mm.analysis import analyst
from r1mm.bench.question_parse import Cell, Truth, cell_of, score_parse

SALES, PROFIT = "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax", "us-gaap:GrossProfit"
FY24, FY23 = "2023-10-01..2024-09-28", "2022-09-25..2023-09-30"


@pytest.fixture(scope="module")
def apple():
    return _facts("html/aapl-10-k-2024-11-01.html", "html")[1]


def _judge_value(truth: Truth, text: str) -> bool:  # the stated margin, to one decimal
    return f"{truth.record['answer']:.1f}" in text


def _margin(cells: list[Cell], decimals: int = 1, kind: str = "derived") -> Truth:
    return Truth("t", "filings/html/aapl-10-k-2024-11-01.html",
                 "Calculate Apple's gross margin in fiscal year 2024 (ended September 28, 2024) (percent, 1 decimal).",
                 kind, cells, "%", decimals, set(), None, {"answer": 46.2})


def test_a_right_parse_scores_every_field_right(apple):
    fields = score_parse(_margin([cell_of(PROFIT, FY24), cell_of(SALES, FY24)]), apple, _judge_value)
    assert fields == {"kind": True, "periods": True, "rounding": True, "cells": True, "value": True}


def test_each_field_fails_when_the_truth_says_otherwise(apple):
    # the truth's cells a year earlier: the periods the parse names, and the cells it cites, are not those
    fields = score_parse(_margin([cell_of(PROFIT, FY23), cell_of(SALES, FY23)]), apple, _judge_value)
    assert not fields["periods"] and not fields["cells"] and fields["kind"]
    # two decimals asked by the truth, one by the question; a value asked, a formula parsed
    fields = score_parse(_margin([cell_of(PROFIT, FY24), cell_of(SALES, FY24)], decimals=2, kind="extract"),
                         apple, _judge_value)
    assert not fields["rounding"] and not fields["kind"]
    # a definition the question should have given
    assert score_parse(_margin([cell_of(PROFIT, FY24)], kind="derived_defined"), apple, _judge_value)["definition"] \
        is False


def test_cells_of_a_span_and_a_balance_date():
    assert cell_of("x", "2023-10-01..2024-09-28") == Cell("x", date(2024, 9, 28), 12)
    assert cell_of("x", "2025-04-28..2025-07-27") == Cell("x", date(2025, 7, 27), 3)
    assert cell_of("x", "2025-02-02") == Cell("x", date(2025, 2, 2), None)


def test_a_quarter_dated_in_parentheses_is_one_period():
    (period,) = analyst.parse("How much was NVIDIA's net income in the second quarter of fiscal 2026 "
                              "(ended July 27, 2025)?").periods
    assert (period.months, period.fiscal_year, period.quarter, period.end) == (3, 2026, 2, date(2025, 7, 27))
    periods = analyst.parse("What was the growth in NVIDIA's net income in Q2 FY2026 versus the second quarter of "
                            "fiscal 2025 (ended July 28, 2024)?").periods
    assert [(p.fiscal_year, p.quarter) for p in periods] == [(2026, 2), (2025, 2)]


def test_rounding_definitions_and_comparisons_as_phrased():
    assert analyst.parse("Apple's gross margin in fiscal 2024 (percent, 1 decimal)?").decimals == 1
    assert analyst.parse("Its FCF margin in fiscal 2025 (one decimal)?").decimals == 1
    ask = analyst.parse("Interest coverage here means operating income / interest expense. Compute it for fiscal 2025.")
    assert ask.formula == "operating income / interest expense"
    ask = analyst.parse("Did Apple spend more cash on share repurchases than on dividends in fiscal 2024?")
    assert ask.compare == ("share repurchases", ">", "dividends")


def test_spending_compared_cites_both_lines(apple):
    found = analyst.answer("Did Apple spend less cash on dividends than on share repurchases in fiscal 2024?", apple)
    assert found[0].value["verdict"] == "Yes"
    assert {f.value["concept"] for f in found[1:]} == {"us-gaap:PaymentsOfDividends",
                                                       "us-gaap:PaymentsForRepurchaseOfCommonStock"}


def test_gross_margin_without_a_gross_profit_line():
    facts = _facts("html/meta-10-k-2025-01-30.html", "html")[1]
    assert not [f for f in facts if f.value.get("concept") == PROFIT]  # Meta prints no gross profit
    answer, *cells = analyst.answer("What was Meta's gross margin in 2024?", facts)
    assert answer.value["value"] == pytest.approx(100 * (164501 - 30161) / 164501, abs=0.01)
    assert {f.value["concept"] for f in cells} == {SALES, "us-gaap:CostOfRevenue"}


def test_lines_named_as_analysts_say_them():
    nvidia = _facts("html/nvda-10-q-2025-08-27.html", "html")[1]
    answer, line = analyst.answer("What was NVIDIA's sales, general and administrative expense in the first half of "
                                  "fiscal 2026?", nvidia)[:2]  # NVIDIA's own words: "sales" here is no revenue
    assert line.value["concept"] == "us-gaap:SellingGeneralAndAdministrativeExpense"
    assert line.value["period"]["months"] == 6
    answer, line = analyst.answer("How much cash was generated from operating activities in the first half of fiscal "
                                  "2026?", nvidia)[:2]
    assert line.value["concept"] == "us-gaap:NetCashProvidedByUsedInOperatingActivities"
    exxon = _facts("html/xom-10-q-2025-08-04.html", "html")[1]
    answer = analyst.answer("What was ExxonMobil's short-term debt at December 31, 2024?", exxon)[0]
    assert answer.value["value"] == 4955
    assert "“Notes and loans payable”" in answer.text and "at 2024-12-31" in answer.text
    # "Exploration expenses, including dry holes": the question names the line by its head
    answer = analyst.answer("What were ExxonMobil's exploration expenses in the first half of 2025?", exxon)[0]
    assert answer.value["value"] == 315


def test_a_definition_after_the_company_name():
    ask = analyst.parse("Home Depot: define debt-to-assets as long-term debt divided by total assets. What was it at "
                        "February 2, 2025?")
    assert ask.definitions == {"debt-to-assets": "long-term debt divided by total assets"}
    assert ask.target == "debt-to-assets"


@pytest.fixture(scope="module")
def meta():
    return _facts("html/meta-10-k-2025-01-30.html", "html")[1]


def test_growth_compounded_between_two_years(meta):
    ask = analyst.parse("What was Meta's compound annual growth rate of net income from 2022 to 2024?")
    assert ask.over_years == "cagr" and not ask.change and [p.fiscal_year for p in ask.periods] == [2022, 2024]
    answer, *cells = analyst.answer("What was Meta's compound annual growth rate of net income from 2022 to 2024?",
                                    meta)
    assert answer.value["value"] == pytest.approx(100 * ((62360 / 23200) ** 0.5 - 1), abs=0.01)
    assert sorted(c.value["period"]["fiscal_year"] for c in cells) == [2022, 2024]
    # a year the filing does not report: said so, with the years it has, and no number
    missing = analyst.answer("What was Meta's net income CAGR from 2018 to 2024?", meta)
    assert [f.kind for f in missing] == ["finance.missing"] and "FY2018" in missing[0].text


def test_means_over_named_and_last_years(meta):
    ask = analyst.parse("What was Meta's average annual research and development expense over 2022-2024?")
    assert ask.over_years == "average" and [p.fiscal_year for p in ask.periods] == [2022, 2023, 2024]
    answer, *cells = analyst.answer("What was Meta's average annual research and development expense over 2022-2024?",
                                    meta)
    assert answer.value["value"] == pytest.approx((35338 + 38483 + 43873) / 3, abs=0.01) and len(cells) == 3
    answer, *cells = analyst.answer("What was Meta's average net income over the last two years?", meta)
    assert answer.value["value"] == pytest.approx((39098 + 62360) / 2, abs=0.01)
    assert sorted(c.value["period"]["fiscal_year"] for c in cells) == [2023, 2024]
    # an average over no years named is no line's value
    assert analyst.answer("What was Meta's average revenue?", meta)[0].kind == "finance.missing"


def test_a_share_count_is_not_a_per_share_amount(meta):
    answer, line = analyst.answer("How many shares were used to compute diluted EPS in 2023?", meta)[:2]
    assert line.unit.startswith("shares") and answer.value["value"] == 2629
    answer, line = analyst.answer("What was Meta's diluted earnings per share in 2023?", meta)[:2]
    assert line.unit == "USD per share" and answer.value["value"] == 14.87


def test_a_part_asked_is_never_answered_with_the_whole(apple, meta):
    # a product's line, printed in the note that splits net sales by category (tagged with its member)
    answer, line = analyst.answer("What was Apple's iPhone revenue in fiscal 2023?", apple)
    assert answer.value["value"] == 200583 and line.value["label"] == "iPhone"
    # a segment's column of a segment table: its member names it
    answer, line = analyst.answer("What were Apple's net sales in the Greater China segment in fiscal 2023?", apple)
    assert answer.value["value"] == 72559 and "GreaterChina" in line.value["period"]["printed"]
    # a segment's operating loss, not its revenue line nor the company's operating income
    answer, line = analyst.answer("What was the operating income (loss) of Meta's Reality Labs segment in 2023?", meta)
    assert line.value["concept"] == "us-gaap:OperatingIncomeLoss" and answer.value["value"] < 0
    # a part the filing does not print: refused, and the whole's number is not shown
    missing = analyst.answer("What was Apple's revenue per store in fiscal 2024?", apple)
    assert [f.kind for f in missing] == ["finance.missing"] and "391,035" not in missing[0].text


def test_what_no_statement_gives_states_no_number(meta):
    # (trailing twelve months are computed: test_filings.test_trailing_twelve_months_from_a_10q_and_the_last_10k)
    for question in ("What was Meta's median quarterly revenue in 2024?",
                     "What was Meta's revenue growth in 2024 in constant currency?",
                     "What was Meta's operating margin in each of the last three years?",
                     "What was Meta's cumulative free cash flow from 2022 to 2024?"):
        found = analyst.answer(question, meta)
        assert [f.kind for f in found] == ["finance.missing"] and found[0].text.startswith("No figure is stated"), \
            question


def test_sums_over_years(meta):
    answer, *cells = analyst.answer("How much did Meta spend on share repurchases in total over 2022-2024?", meta)
    assert answer.value["value"] == 27956 + 19774 + 30125 and len(cells) == 3
    # a balance is not summed over years
    assert analyst.answer("What were Meta's total assets combined over 2023 and 2024?", meta)[0].kind == \
        "finance.missing"


def test_differences_between_two_lines_or_two_years(meta):
    answer, *cells = analyst.answer("By how much did Meta's revenue exceed its total costs and expenses in 2024?", meta)
    assert answer.value["value"] == 164501 - 95121 and len(cells) == 2
    answer, *cells = analyst.answer("How much higher was Meta's net income in 2024 than in 2023?", meta)
    assert answer.value["value"] == 62360 - 39098
    assert sorted(c.value["period"]["fiscal_year"] for c in cells) == [2023, 2024]
    answer = analyst.answer("What is the difference between Meta's revenue and cost of revenue in 2023?", meta)[0]
    assert answer.value["value"] == 134902 - 25959
    # one period (or none): against the year before
    assert analyst.answer("By how much did Meta's revenue grow?", meta)[0].value["value"] == 164501 - 134902
    assert analyst.answer("What was the difference between Meta's revenue figures?", meta)[0].kind == "finance.missing"
    answer = analyst.answer("What was the difference in Meta's net income between 2023 and 2024?", meta)[0]
    assert answer.value["value"] == 62360 - 39098
    assert analyst.answer("What was the difference in Meta's revenue?", meta)[0].kind == "finance.missing"


def test_a_part_read_from_a_printed_breakdown():
    # Apple's 10-K as filed (PDF): "Net sales by category" and the segment note print the parts under
    # columns headed by the year alone, in tables that carry the whole's own line
    facts = _facts("pdf/APPLE_2022_10K.pdf")[1]
    answer, line = analyst.answer("What was Apple's iPad revenue in fiscal 2021?", facts)
    assert answer.value["value"] == 31862 and line.value["label"].startswith("iPad") and line.locator.page == 40
    answer = analyst.answer("What were Apple's net sales in the Greater China segment in fiscal 2022?", facts)[0]
    assert answer.value["value"] == 74200
    assert analyst.answer("What was Apple's revenue per store in fiscal 2022?", facts)[0].kind == "finance.missing"
