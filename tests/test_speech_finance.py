"""The call: transcript with timestamps (Whisper base from packages), voices, claims against the report."""
from __future__ import annotations

import pytest

from r1mm import Workspace
from r1mm.analysis import asr
from r1mm.analysis.calls import claims_in, cross_check
from r1mm.analysis.speech import assign_voices
from r1mm.ingest import load
from r1mm.types import Finding, Locator

pytestmark = pytest.mark.slow  # loads the 150 MB speech model


@pytest.fixture(scope="module")
def call_findings(samples, truth):
    if "skipped" in truth["call"]:  # no espeak-ng: `make` installs it, so the call is a failure, not a skip
        pytest.fail(truth["call"]["skipped"])
    from r1mm.analysis import analyze

    return analyze(load(samples / "earnings_call.wav")[0])


NUMBER_WORDS = set("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                   "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
                   "hundred thousand million billion dollars percent and first second third fourth".split())


def _without_numbers(text: str) -> str:
    """The reference spells numbers out, Whisper writes digits: compare the other words."""
    words = text.lower().replace("-", " ").split()
    return " ".join(w for w in words if w.strip(".,") not in NUMBER_WORDS and not any(c.isdigit() for c in w))


def test_transcript_word_error_rate_and_timestamps(call_findings, truth):
    utterances = [f for f in call_findings if f.kind == "speech.utterance"]
    hypothesis = " ".join(f.value for f in utterances)
    reference = " ".join(t["text"] for t in truth["call"]["turns"])
    wer = asr.word_error_rate(_without_numbers(reference), _without_numbers(hypothesis))
    assert wer <= 0.15, f"word error rate {wer:.1%}"
    for turn in truth["call"]["turns"]:
        inside = [f for f in utterances if turn["start_s"] - 1.0 <= f.locator.start_s <= turn["end_s"]]
        assert inside, f"nothing transcribed for the turn at {turn['start_s']} s"


def test_word_error_rate_metric():
    assert asr.word_error_rate("revenue was up", "revenue was up") == 0.0
    assert asr.word_error_rate("revenue was up", "revenue up") == pytest.approx(1 / 3)
    assert asr.word_error_rate("a b", "a b c d") == 1.0


def test_claims_and_the_planted_contradiction(samples, truth, call_findings):
    report = load(samples / "quarterly_report.pdf")[0]
    from r1mm.analysis import analyze

    checks = cross_check(analyze(report) + call_findings)
    verdicts = {c.value["metric"]: c.value["verdict"] for c in checks}
    for metric in truth["call"]["contradictions"]:
        assert verdicts[metric] == "disagrees"
    assert verdicts.get("net income") == "agrees" and verdicts.get("revenue") == "agrees"
    opex = next(c for c in checks if c.value["metric"] == "operating expenses")
    assert opex.locator.start_s is not None and opex.value["report_locator"]["page"] == 2
    assert opex.value["difference"] == pytest.approx(321 - 341.2, abs=0.01)


def test_workspace_answers_the_analyst_questions(samples, truth):
    ws = Workspace()
    ws.add(samples / "quarterly_report.pdf")
    ws.add(samples / "earnings_call.wav")
    match = ws.ask("Does what management said match the report?")
    kinds = {e.locator.start_s is not None for e in match.evidence}
    assert kinds == {True, False}  # audio spans and report cells
    assert "disagrees" in match.text
    risks = ws.ask("What risks did management mention?")
    assert {e.locator.source for e in risks.evidence} == {"quarterly_report.pdf", "earnings_call.wav"}


@pytest.mark.parametrize("text,expected", [
    ("Revenue was $1,284.6 million, up 16% from a year ago.",
     [("revenue", "level", 1284.6, "USD millions"), ("revenue", "change", 16.0, "%")]),
    ("Operating income declined 4 percent.", [("operating income", "change", -4.0, "%")]),
    ("Net sales reached $1.2 billion in 2026.", [("revenue", "level", 1.2, "USD billions")]),
    ("We hired 300 engineers in 2026.", []),
    # metric names the recognizer got slightly wrong still count
    ("Let income came at $72 million.", [("net income", "level", 72.0, "USD millions")]),
    ("Net in come was 72 million dollars.", [("net income", "level", 72.0, "USD millions")]),
    ("Gross prophet reached $40 million.", [("gross profit", "level", 40.0, "USD millions")]),
    ("Revenue rose to $88 million and let income came in at $72 million.",
     [("revenue", "level", 88.0, "USD millions"), ("net income", "level", 72.0, "USD millions")]),
    # numbers the recogniser wrote with a space before the comma or point
    ("Operating expenses for the quarter was 526 ,000 euros.", [("operating expenses", "level", 526000.0, "EUR")]),
    ("Revenue for the quarter was 2 .11 million euros.", [("revenue", "level", 2.11, "EUR millions")]),
    # but a word that only shares some letters does not
    ("The income of the region grew by $3 million.", []),
])
def test_claims_in(text, expected):
    got = [(c["metric"], c["kind"], c["value"], c["unit"]) for c in claims_in(text)]
    assert got == expected


def line_item(metric: str, amount: float, row: int, label: str | None = None) -> Finding:
    """A report's line item for the current quarter, as `finance.statement_facts` gives it."""
    period = {"end": "2026-09-30", "months": 3, "fiscal_year": 2026, "fiscal_quarter": 3, "label": "Q3 FY2026",
              "printed": "Q3 2026"}
    label = label or metric.capitalize()
    return Finding("finance.fact", {"amount": amount, "label": label, "section": "", "statement": "income statement",
                                    "metric": metric, "period": period, "printed": f"{amount:,}", "concept": None,
                                    "dimensional": False},
                   "USD millions", f"{label} (Q3 FY2026): {amount} USD millions.",
                   Locator("r.pdf", page=2, table=1, cell=(row, 1)))


def test_a_misheard_metric_name_is_still_checked_and_said_so():
    figure = line_item("net income", 52.3, 5)
    (claim,) = claims_in("Let income came at $72 million.")
    (check,) = cross_check([figure, Finding("finance.claim", claim, claim["unit"], "…",
                                            Locator("c.wav", start_s=1.0, end_s=2.0))])
    assert check.value["verdict"] == "disagrees" and "heard as “Let income”" in check.text


def test_cross_check_converts_scales():
    figure = line_item("revenue", 1284.6, 1)
    (said,) = claims_in("Revenue was $1.28 billion.")
    claim = Finding("finance.claim", said, "USD billions", "…", Locator("c.wav", start_s=1.0, end_s=2.0))
    (check,) = cross_check([figure, claim])
    assert check.value["verdict"] == "agrees"


def _revenue_claim(value: float, scale: str, heard_again: tuple[float, str] | None) -> list[Finding]:
    figure = line_item("revenue", 1580.0, 1)
    (claim,) = claims_in(f"Revenue was ${value} {scale[:-1]}.")
    if heard_again:
        claim["heard_again"] = {"value": heard_again[0], "unit": f"USD {heard_again[1]}", "decimals": 2,
                                "said": f"revenue {heard_again[0]} {heard_again[1]}"}
    return [figure, Finding("finance.claim", claim, claim["unit"], "…", Locator("c.wav", start_s=1.0, end_s=2.0))]


@pytest.mark.parametrize("first,again,verdict", [
    ((1.5, "billions"), None, "disagrees"),                    # one hearing: its number stands
    ((1.5, "billions"), (1.5, "billions"), "disagrees"),       # both heard the same wrong figure
    ((1.5, "billions"), (1.58, "billions"), "agrees"),         # one model dropped a digit
    ((1580, "billions"), (1580, "millions"), "agrees"),        # the wrong scale word, heard right again
    ((1.3, "thousands"), (1.3, "billions"), "disagrees"),      # implausible first, plausible second
    ((1.58, "billions"), (1.3, "billions"), "agrees"),         # a second mishearing never overrides a match
])
def test_cross_check_weighs_a_second_hearing(first, again, verdict):
    (check,) = cross_check(_revenue_claim(*first, again))
    assert check.value["verdict"] == verdict


def test_voices_by_pitch():
    assert assign_voices([110.0, 115.0, 210.0, None, 105.0, 220.0]) == [1, 1, 2, 2, 1, 2]


def test_a_call_about_a_real_filing_is_checked_against_its_cells(tmp_path):
    """A call spoken about eBay's real Q2 2023 earnings release: each figure heard is held against
    the filing's own cell, or the cells a margin is computed from, and both are cited."""
    from r1mm.bench.filings import filings_dir
    from r1mm.cases.finance import write_call_audio

    pdf = filings_dir() / "pdf" / "EBAY_2023Q2_EARNINGS.pdf"
    assert pdf.exists(), f"{pdf} is missing: the real filings lie in shared/filings beside the repository"
    wav = tmp_path / "ebay_call.wav"
    write_call_audio(wav, [("CFO", "Revenue for the second quarter was 2.54 billion dollars."),
                           ("CFO", "Our operating margin was 22.4 percent.")])
    ws = Workspace(tmp_path / "ws")
    ws.add(pdf)
    ws.add(wav)
    checks = {c.value["metric"]: c for c in ws.claim_checks()}
    assert checks["revenue"].value["verdict"] == "agrees", checks["revenue"].text
    assert checks["revenue"].value["report_value"] == 2540 and checks["revenue"].locator.start_s is not None
    margin = checks["operating margin"]
    assert margin.value["verdict"] == "disagrees" and margin.value["report_value"] == pytest.approx(20.39, abs=0.01)
    assert len(margin.value["report_locators"]) == 2  # income from operations and net revenues
    answer = ws.ask("Does what management said on the call match the filing?")
    assert {e.locator.page is not None for e in answer.evidence} == {True, False}  # cells and audio spans
    ws.close()
