"""Figures said on a call, held against a filing's line items with the analyst's metrics (`calls`)."""
from __future__ import annotations

import pytest

from r1mm.analysis.calls import claims_in, cross_check
from r1mm.types import Finding, Locator

Q2, Q2_BEFORE = ("2023-06-30", 3, 2023, 2), ("2022-06-30", 3, 2022, 2)
H1 = ("2023-06-30", 6, 2023, 2)


def fact(label: str, metric: str | None, amount: float, period=Q2, row: int = 1, unit: str = "USD millions",
         statement: str | None = "income statement", section: str = "", table: int = 1,
         column: int | None = None) -> Finding:
    end, months, year, quarter = period
    shown = f"Q{quarter} FY{year}" if months == 3 else f"the six months of FY{year}"
    column = column or {Q2: 1, Q2_BEFORE: 2, H1: 3}[period]
    return Finding("finance.fact", {
        "amount": amount, "label": label, "section": section, "statement": statement, "metric": metric,
        "period": {"end": end, "months": months, "fiscal_year": year, "fiscal_quarter": quarter, "label": shown,
                   "printed": ""},
        "printed": f"{amount:,}", "concept": None, "dimensional": False},
        unit, f"{label} ({shown}): {amount} {unit}.", Locator("q2.pdf", page=7, table=table, cell=(row, column)))


FILING = [
    fact("Net revenues", "revenue", 2540, Q2, 1), fact("Net revenues", "revenue", 2422, Q2_BEFORE, 1),
    fact("Net revenues", "revenue", 5050, H1, 1),
    fact("Gross profit", "gross profit", 1822, Q2, 3), fact("Gross profit", "gross profit", 1759, Q2_BEFORE, 3),
    fact("Income from operations", "operating income", 518, Q2, 5),
    fact("Income from operations", "operating income", 1076, H1, 5),
    fact("Net income (loss) per share – diluted", "diluted EPS", 0.32, Q2, 9, unit="USD per share"),
    fact("Net cash provided by continuing operating activities", None, 605, Q2, 2, statement="cash flow", table=2),
    fact("Net cash provided by operating activities", "operating cash flow", 601, Q2, 3, statement="cash flow",
         table=2),
    fact("Purchases of property and equipment", "capital expenditure", -113, Q2, 5, statement="cash flow", table=2),
    fact("Marketplace", None, 2100, Q2, 2, statement=None, section="Net revenues", table=3),
    fact("Non-GAAP operating margin", None, 26.9, Q2, 4, unit="%", statement=None, table=4),
]


def check(sentence: str) -> dict:
    (claim, *_) = claims_in(sentence)
    (result,) = cross_check(FILING + [Finding("finance.claim", claim, claim["unit"], sentence,
                                              Locator("call.wav", start_s=12.0, end_s=15.5))])
    return {**result.value, "text": result.text}


@pytest.mark.parametrize("sentence,verdict,value", [
    ("Revenue for the second quarter was $2.54 billion.", "agrees", 2540),
    ("Revenue was $2.6 billion.", "disagrees", 2540),               # 2,540 rounds to 2.5, not 2.6
    ("Revenue for the first six months was $5.05 billion.", "agrees", 5050),
    ("A year ago, second-quarter revenue was $2.42 billion.", "agrees", 2422),
    ("Net revenues grew 5% year over year.", "agrees", 4.87),      # the quarter against the quarter a year before
    ("Net revenues grew 9% year over year.", "disagrees", 4.87),
    ("Operating margin was 20.4%.", "agrees", 20.39),               # computed: operating income / revenue
    ("Operating margin was 21.4%.", "disagrees", 20.39),
    ("Diluted earnings per share were $0.32.", "agrees", 0.32),
    ("Free cash flow was $488 million.", "agrees", 488),            # operating cash flow − capital expenditure
    ("Operating cash flow from continuing operations was $605 million.", "agrees", 605),  # the line it names
    ("Marketplace revenue was $2.1 billion.", "agrees", 2100),      # a segment's line, under its section
    ("Non-GAAP operating margin was 28.9%.", "disagrees", 26.9),    # the printed non-GAAP line, not GAAP's
])
def test_a_claim_is_held_against_the_metric_and_period_it_names(sentence, verdict, value):
    got = check(sentence)
    assert got["verdict"] == verdict, got["text"]
    assert got["report_value"] == pytest.approx(value, abs=0.01), got["text"]


def test_a_line_the_filing_does_not_have_is_not_held_against_another():
    got = check("Gaming revenue was $2.54 billion.")  # the total is 2,540; Gaming is no line of this filing
    assert got["verdict"] == "not in report" and got["report_value"] is None
    assert check("Adjusted EBITDA was $850 million.")["verdict"] == "not in report"


def test_guidance_is_not_checked_against_the_quarter_reported():
    got = check("For the third quarter we expect revenue between $2.46 billion and $2.52 billion.")
    assert got["verdict"] == "forward-looking" and got["report_value"] is None


def test_a_margin_cites_both_cells_and_the_call_span():
    (claim,) = claims_in("Operating margin was 20.4%.")
    (result,) = cross_check(FILING + [Finding("finance.claim", claim, "%", "…",
                                              Locator("call.wav", start_s=12.0, end_s=15.5))])
    cells = {(c["table"], tuple(c["cell"])) for c in result.value["report_locators"]}
    assert cells == {(1, (5, 1)), (1, (1, 1))}  # operating income and revenue, Q2 2023
    assert result.locator.start_s == 12.0 and "12.0–15.5 s" in result.text


@pytest.mark.parametrize("sentence,metric,kind,value", [
    ("We had an operating loss of $1.47 billion.", "operating income", "level", -1.47),
    ("Net loss attributable to Intel was $2.76 billion.", "net income", "level", -2.76),
    ("Diluted earnings per share were negative $0.66.", "diluted EPS", "level", -0.66),
    ("We used $1.8 billion of cash from operations in the quarter.", "operating cash flow", "level", -1.8),
    ("Revenue was down 36% year over year.", "revenue", "change", -36.0),
    ("Operating margin was negative 12.5%.", "operating margin", "ratio", -12.5),
    ("Operating margin was lower at 20.4%.", "operating margin", "ratio", 20.4),  # lower: a change, not a sign
    ("Gross margin was 34.2%.", "gross margin", "ratio", 34.2),
    ("We paid $133 million in cash dividends.", "dividends paid", "level", 133.0),
    ("Generated $605 million of operating cash flow and $492 million of free cash flow.", "free cash flow",
     "level", 492.0),
    ("We repurchased $1.68 billion of common stock.", "share repurchases", "level", 1.68),
])
def test_how_a_figure_is_said(sentence, metric, kind, value):
    claim = claims_in(sentence)[-1]
    assert (claim["metric"], claim["kind"], claim["value"]) == (metric, kind, value)


def test_the_words_that_name_a_line():
    (claim,) = claims_in("Data Center and AI revenue was $3.7 billion.")
    assert claim["qualifier"] == ["data", "center", "ai"]
    (claim,) = claims_in("GAAP operating margin was 20.4%.")
    assert claim["qualifier"] == [] and not claim["non_gaap"]
    (claim,) = claims_in("Non-GAAP operating margin was 26.9%.")
    assert claim["non_gaap"]


def test_with_no_period_said_a_claim_is_of_the_quarter_reported():
    """A 10-Q whose six-month column is read first (NVIDIA's iXBRL tables): still the quarter."""
    six_first = [fact("Revenue", "revenue", 5050, H1, 1, column=1), fact("Revenue", "revenue", 2540, Q2, 1, column=3)]
    (claim,) = claims_in("Revenue was $2.54 billion.")
    (result,) = cross_check(six_first + [Finding("finance.claim", claim, claim["unit"], "…",
                                                 Locator("call.wav", start_s=0.0, end_s=2.0))])
    assert result.value["verdict"] == "agrees" and result.value["report_value"] == 2540


def test_a_misheard_name_around_a_shorter_one_is_the_name_said():
    (claim,) = claims_in("Cross profit for the quarter was $1.6 billion.")
    assert (claim["metric"], claim["heard_as"]) == ("gross profit", "Cross profit")
    (claim,) = claims_in("Net profit for the quarter was $1.6 billion.")
    assert claim["metric"] == "net income" and "heard_as" not in claim


def test_each_figure_takes_the_period_and_tense_of_its_own_clause():
    """A recogniser may run a call's sentences together with commas: "next year" in the last clause
    makes no figure before it guidance, and "a year ago" dates only the figure said with it."""
    said = ("Revenue was $2.54 billion, up from $2.42 billion a year ago, gross profit for the quarter was "
            "$1.82 billion, we see pricing pressure as a risk for next year.")
    claims = claims_in(said)
    assert [c["forward"] for c in claims] == [False, False, False]
    checks = cross_check(FILING + [Finding("finance.claim", c, c["unit"], said, Locator("call.wav", start_s=0.0,
                                                                                       end_s=9.0)) for c in claims])
    assert [(c.value["verdict"], c.value["report_value"]) for c in checks] == \
        [("agrees", 2540), ("agrees", 2422), ("agrees", 1822)]


def test_a_sequential_change_is_against_the_quarter_before():
    """"Up 1% sequentially" compares with the quarter before: a filing that prints no such quarter
    has nothing to hold it against (not the year-over-year 4.9%)."""
    assert check("Revenue grew 5% year over year and 1% sequentially.")["verdict"] == "agrees"
    got = check("Revenue was up 1% sequentially.")
    assert got["verdict"] == "not in report" and got["report_value"] is None
    q1 = ("2023-03-31", 3, 2023, 1)
    (claim,) = claims_in("Revenue was up 1.2% sequentially.")
    q1_fact = fact("Net revenues", "revenue", 2510, Q2, 1)
    q1_fact.value["period"].update(end=q1[0], fiscal_quarter=1, label="Q1 FY2023")
    (result,) = cross_check(FILING + [q1_fact, Finding("finance.claim", claim, "%", "…",
                                                        Locator("call.wav", start_s=0.0, end_s=2.0))])
    assert result.value["verdict"] == "agrees" and result.value["report_value"] == pytest.approx(1.2, abs=0.01)


def test_a_call_with_no_report_beside_it():
    (claim,) = claims_in("Revenue for the quarter was $2.54 billion.")
    (result,) = cross_check([Finding("finance.claim", claim, claim["unit"], "…", Locator("call.wav", start_s=0.0,
                                                                                          end_s=2.0))])
    assert result.value["verdict"] == "not in report" and "no line items" in result.text
