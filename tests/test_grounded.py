"""Answers written by a decoder are kept only when the evidence supports them."""
from __future__ import annotations

import re

import pytest

from r1mm import Workspace
from r1mm.decoder.grounded import Draft, GroundedDecoder, check_grounding, prompt_for
from r1mm.types import Evidence, Finding, Locator

EVIDENCE = [Evidence("E1", "Revenue, Q3 2026: 1,284.5 USD millions", Locator(source="r.pdf", page=1)),
            Evidence("E2", "Revenue, Q3 2025: 1,146.9 USD millions", Locator(source="r.pdf", page=1))]


def test_a_supported_answer_passes():
    assert check_grounding("Revenue in Q3 2026 was 1,284.5 USD millions [E1].", "What was revenue?", EVIDENCE) is None


@pytest.mark.parametrize("answer, reason", [
    ("Revenue was 1,300.0 USD millions [E1].", "numbers not in the cited evidence (1300.0)"),
    ("Revenue was 1,146.9 USD millions [E1].", "numbers not in the cited evidence (1146.9)"),  # cites the wrong row
    ("Revenue was 1,284.5 USD millions.", "cited no evidence"),
    ("Revenue was 1,284.5 USD millions [E7].", "does not exist (E7)"),
    ("", "wrote nothing"),
])
def test_unsupported_answers_are_refused_with_the_reason(answer, reason):
    assert reason in check_grounding(answer, "What was revenue?", EVIDENCE)


@pytest.mark.parametrize("written, exact, ok", [
    ("84.8", "84.81", True), ("1285", "1284.6", True), ("1.69", "1.689", True), ("20.1", "20.09", True),
    ("1.68", "1.689", False),   # truncated, not rounded: a fine-tune that learned to "round" did this
    ("20.0", "20.09", False), ("1", "1.4", False),  # one significant digit could stand for anything
    ("84.81", "84.8", False),   # more digits than the evidence has
])
def test_a_number_may_be_the_evidence_correctly_rounded(written, exact, ok):
    evidence = [Evidence("E1", f"A dent centred at x {exact} mm.", Locator(source="p.ply"))]
    assert (check_grounding(f"The dent is at x {written} mm [E1].", "Where is the dent?", evidence) is None) is ok


def test_the_periods_the_question_names_may_be_repeated_but_not_its_other_numbers():
    assert check_grounding("In Q3 2026 revenue was 1,284.5 USD millions [E1].", "Revenue in Q3 2026?",
                           EVIDENCE) is None
    assert "numbers not in the cited evidence (2000)" in check_grounding(
        "Revenue was 2,000 USD millions [E1].", "Was revenue 2,000 USD millions in Q3 2026?", EVIDENCE)
    assert "(1300)" in check_grounding("Yes, revenue was above 1,300 [E1].", "Was revenue above 1,300?", EVIDENCE)


def test_the_prompt_lists_every_evidence_line_with_its_id():
    prompt = prompt_for("What was revenue?", EVIDENCE)
    assert "[E1] Revenue, Q3 2026: 1,284.5 USD millions" in prompt and prompt.endswith("Answer:")


def test_an_unsupported_draft_is_replaced_by_the_findings_and_saved_with_its_routing(tiny_decoder, samples, tmp_path):
    ws = Workspace(tmp_path / "ws", decoder=tiny_decoder)
    ws.add(samples / "quarterly_report.pdf")
    stream = ws.ask_stream("What was revenue in Q3 2026?")
    pieces = list(stream)
    answer = stream.answer
    assert pieces and answer is not None
    # Random weights cannot cite evidence, so the findings answer stands, and says why.
    assert stream.replaced and "draft was not used" in answer.text
    assert answer.evidence and answer.evidence[0].text in answer.text
    assert answer.model.startswith("findings only")
    assert len(answer.routing["layers"]) == 2 and answer.routing["tokens"] > 0
    saved = Workspace(tmp_path / "ws").history()[-1].answer
    assert saved.routing["layers"][0]["expert_use"] == answer.routing["layers"][0]["expert_use"]


@pytest.mark.slow
def test_the_built_decoder_answers_from_the_report_with_citations(samples, tmp_path):
    from r1mm.decoder import load_grounded

    ws = Workspace(tmp_path / "ws", decoder=load_grounded())
    ws.add(samples / "quarterly_report.pdf")
    stream = ws.ask_stream("What was revenue in Q3 2026?")
    text = "".join(stream)
    answer = stream.answer
    assert text.strip()
    # the built decoder's own draft is shown (the findings fallback would pass the checks below too)
    assert stream.replaced is None and answer.model.startswith("r1-gemma3"), (text, stream.replaced)
    # What is shown is supported: every number is in the evidence.
    shown_numbers = {n.replace(",", "") for n in re.findall(r"\d[\d,]*\.\d+", answer.text)}
    evidence_numbers = {n.replace(",", "") for e in answer.evidence for n in re.findall(r"\d[\d,]*\.\d+", e.text)}
    assert shown_numbers <= evidence_numbers | {"3", "2026"}
    assert "1,284.6" in answer.text or "1284.6" in answer.text
    layers = answer.routing["layers"]
    assert len(layers) == 18
    assert all(1 <= l["experts_per_token"] <= answer.routing["num_experts"] for l in layers)
    assert answer.timings["tokens_per_s"] > 0


CT_EVIDENCE = [Evidence("E1", "3 lung nodules found (2 in the right lung, 1 in the left); candidates under 3 mm "
                              "are not reported.", Locator(source="ct")),
               Evidence("E2", "Nodule 1 in the right lung: 17.6 mm diameter (longest axial 18.0 mm), volume "
                              "2851 mm³, mean -1 HU, slices 75–88.", Locator(source="ct", slice=80))]


@pytest.mark.parametrize("answer, reason", [
    # the statement a 270M model wrote from a few-shot example: every number is in E1, the relation is wrong
    ("There are 3 lung nodules, 1 in the right lung and 1 in the left [E1].", "put 1 on the right side"),
    ("The largest nodule is 17.6 mm in the left lung [E2].", "put 17.6 on the left side"),
    ("The largest nodule has a volume of 2851 mm [E2].", "wrote 2851 mm; the cited evidence has 2851 mm³"),
    ("There are 3 nodules, 2 in the left lung [E1].", "put 2 on the left side"),
    # the base decoder's own draft on the sample CT: the evidence gives 3 in total, no side
    ("3 lung nodules are in the right lung, 1 in the left [E1].", "put 3 on the right side; the cited evidence names no side"),
])
def test_numbers_tied_to_the_wrong_side_or_unit_are_refused(answer, reason):
    assert reason in check_grounding(answer, "How many nodules?", CT_EVIDENCE)


@pytest.mark.parametrize("answer", [
    "There are 3 lung nodules, 2 in the right lung and 1 in the left [E1].",
    "The largest nodule is 17.6 mm across, in the right lung, with a volume of 2851 mm³ [E2].",
    "Nodule 1 (right lung) measures 17.6 mm [E2].",
    "The largest of the 3 nodules [E1] is 17.6 mm in diameter [E2].",
])
def test_the_same_facts_in_other_words_pass(answer):
    assert check_grounding(answer, "How many nodules?", CT_EVIDENCE) is None


def test_a_draft_without_an_id_is_cited_to_the_line_holding_its_numbers(tiny_decoder, samples, monkeypatch):
    """What the built 270M decoder writes for CT and point-cloud findings: right, but uncited."""
    from r1mm.decoder.grounded import evidence_holding_numbers

    assert evidence_holding_numbers("The largest nodule is 17.6 mm across.", "", CT_EVIDENCE).id == "E2"
    assert evidence_holding_numbers("There are 3 nodules.", "", CT_EVIDENCE).id == "E1"
    assert evidence_holding_numbers("There are 3 nodules of 17.6 mm.", "", CT_EVIDENCE) is None  # no one line
    assert evidence_holding_numbers("Yes, there are nodules.", "", CT_EVIDENCE) is None

    def drafts(text):
        def stream(self, question, evidence, draft):
            draft.text = text
            yield text
        return stream

    ws = Workspace(decoder=tiny_decoder)
    ws.add(samples / "plate_scan.ply")
    depth = next(f for f in ws.findings() if f.text.startswith("Dent 1")).value
    monkeypatch.setattr(GroundedDecoder, "stream", drafts(f" The deepest dent is {depth:.3f} mm deep."))
    stream = ws.ask_stream("How deep is the deepest dent?")
    text = "".join(stream)
    assert stream.replaced is None and stream.cited_for_decoder == "E1"
    assert stream.answer.text == text == f" The deepest dent is {depth:.3f} mm deep. [E1]"
    assert stream.answer.model == tiny_decoder.name
    # the same sentence with the depth as an area is not rescued by the added id
    monkeypatch.setattr(GroundedDecoder, "stream", drafts(f" The deepest dent is {depth:.3f} mm² deep."))
    stream = ws.ask_stream("How deep is the deepest dent?")
    list(stream)
    assert "mm²" in stream.replaced and stream.answer.model.startswith("findings only")


# ---- what the question asks for must be in the draft (drafts a freshly built decoder wrote) ----

def _answering(*lines):
    """Evidence as the findings answer gives it: findings chosen for the question, score 1.0."""
    from r1mm.types import Finding

    return [Evidence(f"E{i}", text, Locator(source="s"), 1.0, Finding(kind, value, unit, text, Locator(source="s")))
            for i, (kind, value, unit, text) in enumerate(lines, start=1)]


COUNT = _answering(("ct.nodule_count", 2, "nodules", "2 lung nodules found (1 in the right lung, 1 in the left); "
                                                        "candidates under 3 mm are not reported."))
ONE_NODULE = _answering(("ct.nodule_count", 1, "nodules", "1 lung nodule found (1 in the right lung, 0 in the left); "
                                                         "candidates under 3 mm are not reported."))
COUNT_OF_3 = _answering(("ct.nodule_count", 3, "nodules", "3 lung nodules found (2 in the right lung, 1 in the left); "
                                                          "candidates under 3 mm are not reported."))
LARGEST = _answering(("ct.nodule", 15.0, "mm", "Nodule 1 in the right lung: 15.0 mm diameter (longest axial 16.0 mm), "
                                               "volume 1765 mm³, mean 30 HU, slices 30–36."))
THICKNESS = _answering(("ct.slice_thickness", 5.0, "mm", "Slice thickness is 5 mm (slice spacing 5 mm)."))
CLAIMS = _answering(
    ("finance.claim_check", {"verdict": "disagrees", "metric": "revenue", "said": "revenue grew 18%"}, None,
     "Claim “revenue grew 18%” (0:12–0:15) disagrees: the report shows Revenue changed +10.0% (+8.0 USD millions) "
     "from Q2 2025 (80.0) to Q2 2026 (88.0) (page 2); difference +8.0 points."),
    ("finance.change", 10.0, "%", "Revenue changed +10.0% (+8.0 USD millions) from Q2 2025 (80.0) to Q2 2026 (88.0)."))


@pytest.mark.parametrize("question, answer, evidence, reason", [
    ("How many nodules are in the lungs?", "1 in the right lung, 1 in the left [E1].", COUNT, "left out 2"),
    ("How large is the largest nodule and in which lung?",
     "Large lung nodule: 15.0 mm, 1765 mm³, 30 HU, 30–36 [E1].", LARGEST, "did not say which side"),
    ("How large is the largest nodule and in which lung is it?",
     "The largest lung nodule, in mm, is 15.0 mm, in diameter, and in which lung is it? [E1]", LARGEST,
     "restated the question"),
    ("How large is the largest nodule?", "The largest nodule in the right lung is 15.0 mm, in diameter, in the "
     "largest lung, in the largest lung, in the largest lung, in the [E1]", LARGEST, "repeated a phrase"),
    ("How large is the largest nodule?", "The largest nodule in the right lung is 15.0 mm across and the [E1]",
     LARGEST, "stops mid-sentence"),
    ("How large is the largest nodule?", "It is 15.0 mm in the right lung, in the largest lung, in the largest lung "
     "[E1].", LARGEST, "repeated a phrase"),
    ("What is the patient's name and the slice thickness?", "The patient's name and the slice thickness are [E1].",
     THICKNESS, "left out 5"),
    ("How large is the largest nodule?", "The largest nodule measures 15.0 across, in the right lung [E1].", LARGEST,
     "without its unit (mm)"),
    ("Do the figures stated on the call match the report?",
     "Yes, the report shows that revenue grew +10.0% [E2].", CLAIMS, "the findings answer no"),
    ("By what percent did revenue change?", "Revenue change in Q2 2026 was 88.0% compared with Q2 2025 [E2].",
     CLAIMS, "88.0%"),
    ("What was the revenue change in Q2 2026?", "Revenue changed +10.0% [E2].", CLAIMS, "left out the period"),
    ("Is the largest nodule in the right lung?", "The largest nodule is 15.0 mm in the right lung [E1].", LARGEST,
     "does not open with it"),
    ("What is the slice thickness?", "Yes, slice thickness is 5 mm [E1].", THICKNESS, "do not settle"),
    ("Do the figures stated on the call match the report?", "No, the figures stated on the call match the report "
     "[E1].", CLAIMS, "after it says yes"),
    # the bench answers' kept-wrong drafts: per-side counts where the total was asked
    ("How many nodules are in the lungs?", "1 in the right lung, 0 in the left. [E1]", ONE_NODULE,
     "only as one side's part"),
])
def test_a_draft_that_leaves_out_or_garbles_what_was_asked_is_refused(question, answer, evidence, reason):
    assert reason in (check_grounding(answer, question, evidence) or "kept")


@pytest.mark.parametrize("question, answer, evidence", [
    ("How many nodules are in the lungs?", "There are 2 lung nodules, 1 in the right lung and 1 in the left [E1].",
     COUNT),
    ("How many nodules are in the lungs?", "Two nodules were found, one in each lung [E1].", COUNT),
    # what the built decoder wrote in the app: the count has no unit, though "under 3 mm" shares its number
    ("How many nodules are in the lungs?", "3 lung nodules are in the lungs. [E1]", COUNT_OF_3),
    ("How large is the largest nodule and in which lung?", "The largest nodule, in the right lung, is 15.0 mm "
     "across [E1].", LARGEST),
    ("Is the largest nodule in the right lung?", "Yes, nodule 1 is in the right lung and measures 15 mm [E1].",
     LARGEST),
    ("Do the figures stated on the call match the report?", "No, the call said revenue grew 18% but the report "
     "shows +10.0% [E1][E2].", CLAIMS),
    ("What is the slice thickness?", "Slice thickness is 5 mm [E1].", THICKNESS),
])
def test_a_draft_that_answers_what_was_asked_is_kept(question, answer, evidence):
    assert check_grounding(answer, question, evidence) is None


@pytest.mark.parametrize("question, verdict", [
    ("Do the figures stated on the call match the report?", "No"),
    ("Does the call contradict the report?", "Yes"),
    ("Is what management said consistent with the report? Answer yes or no.", "No"),
    ("Did revenue grow?", "Yes"),
    ("Did revenue decline?", "No"),
    ("How did revenue change?", None),
])
def test_yes_or_no_is_decided_by_the_findings(question, verdict):
    from r1mm.decoder.verdict import decide

    assert decide(question, [e.finding for e in CLAIMS]) == verdict


@pytest.mark.parametrize("question, verdict", [
    ("Are there any nodules?", "Yes"), ("Is the largest nodule in the left lung?", "No"),
    ("Is the largest nodule larger than 10 mm?", "Yes"), ("Is the largest nodule smaller than 10 mm?", "No"),
    ("Is the largest nodule in the right lung and over 20 mm?", "No"), ("Which lung is it in?", None),
])
def test_yes_or_no_about_a_nodule(question, verdict):
    from r1mm.decoder.verdict import decide

    assert decide(question, [e.finding for e in LARGEST]) == verdict


@pytest.mark.parametrize("question, unit, verdict", [
    # the probes of issue 36: the threshold was read as its leading digits, without its unit
    ("Was revenue above 2,000?", "USD millions", "No"),
    ("Was revenue more than 1,300 in Q3 2026?", "USD millions", "No"),
    ("Was revenue above 1.2 billion?", "USD millions", "Yes"),
    ("Was revenue above $1.3bn?", "USD millions", "No"),
    ("Is the largest nodule larger than 2 cm?", "mm", "No"),
    ("Is the largest nodule larger than 1 cm?", "mm", "Yes"),
    ("Was it above 40%?", "%", "No"),
    ("Was it above 30 percent?", "%", "Yes"),
    # a unit the finding's does not convert to: no verdict rather than a guess
    ("Is the largest nodule larger than 10%?", "mm", None),
    ("Was it above $30?", "%", None),
    ("Was revenue above 2 cm?", "USD millions", None),
])
def test_a_threshold_is_read_as_a_number_in_the_findings_unit(question, unit, verdict):
    from r1mm.decoder.verdict import decide

    value = {"USD millions": 1284.6, "mm": 15.0, "%": 38.2}[unit]
    finding = Finding("finance.figure" if unit != "mm" else "ct.nodule", value, unit, f"It measured {value} {unit}.",
                      Locator("x"))
    assert decide(question, [finding]) == verdict


def test_the_findings_answer_opens_with_the_verdict():
    from r1mm.decoder.extractive import answer_from_findings

    claims = [e.finding for e in CLAIMS]
    claims[0].locator = Locator(source="call.wav", start_s=12.0, end_s=15.0)
    answer = answer_from_findings("Do the figures on the call match the report?", claims, lambda: [])
    assert answer.text.startswith("No. From the measured findings")
    answer = answer_from_findings("How many nodules are there?", [e.finding for e in COUNT], lambda: [])
    assert answer.text.startswith("From the measured findings")


def test_generation_stops_at_the_end_of_the_first_sentence():
    from r1mm.decoder.grounded import _SENTENCE_END

    assert _SENTENCE_END.match("Revenue was 52.3 USD millions [E1]. The").group(1) == \
        "Revenue was 52.3 USD millions [E1]."
    assert _SENTENCE_END.match("Revenue was 52.3 USD millions. [E1] It").group(1) == \
        "Revenue was 52.3 USD millions. [E1]"
    assert _SENTENCE_END.match("Revenue was 52.") is None and _SENTENCE_END.match("Revenue was 52.3 USD") is None
    assert _SENTENCE_END.match("It is 5 mm. [") is None  # a citation may still follow


def test_generation_never_repeats_a_run_of_tokens():
    from r1mm.decoder.grounded import _banned_repeats

    assert _banned_repeats([5, 6, 7, 8, 9, 5, 6, 7, 8], 5) == {9}
    assert _banned_repeats([5, 6, 7, 8, 9, 5, 6, 7, 1], 5) == set()


@pytest.mark.slow
def test_the_built_decoder_on_a_real_ct_slice_states_what_was_asked_and_no_identifier():
    """pydicom's CT_small.dcm, asked what a clinician asked: the shown answer has the slice thickness,
    and never the patient's name (removed on ingest), whoever wrote it."""
    import pydicom
    from pydicom.data import get_testdata_file

    from r1mm.decoder import load_grounded

    path = get_testdata_file("CT_small.dcm")
    name = str(pydicom.dcmread(path).PatientName)
    ws = Workspace(decoder=load_grounded())
    assert ws.add(path).ok
    thickness = next(f for f in ws.findings() if f.kind == "ct.slice_thickness").value
    for question in ("What is the patient's name and the slice thickness?", "How thick are the slices?"):
        stream = ws.ask_stream(question)
        text = "".join(stream)
        shown = stream.answer.text
        assert f"{thickness:g} mm" in shown, (question, shown, stream.replaced)
        assert name.split("^")[0].lower() not in (text + shown).lower()


def test_the_screened_output_head_writes_what_the_full_head_writes(tiny_decoder):
    """Greedy decoding through the int8 screen gives the full fp32 head's tokens, and times the first one."""
    prompt = "Evidence:\n[E1] Revenue, Q3 2026: 1,284.6 USD millions\nQuestion: What was revenue?\nAnswer:"
    texts = []
    for screened in (True, False):
        tiny_decoder.screened_head = screened
        draft = Draft()
        texts.append("".join(tiny_decoder.complete(prompt, draft, max_new_tokens=24, stop_at_newline=False)))
        assert draft.tokens == 24 and 0 < draft.first_token_seconds <= draft.seconds
    tiny_decoder.screened_head = True
    assert texts[0] == texts[1] and texts[0].strip()


def test_the_api_streams_a_refused_draft_outside_the_content(tiny_decoder, samples, tmp_path):
    """A client that joins the streamed `content` gets the checked answer only: the untrained
    decoder's draft (refused: it cites nothing) streams in the `draft` field, never as content."""
    import json

    from r1mm.api.chat import answer_events
    from r1mm.api.openai_format import Envelope

    ws = Workspace(tmp_path / "ws", decoder=tiny_decoder)
    ws.add(samples / "quarterly_report.pdf")
    stream = ws.ask_stream("What was revenue in Q3 2026?")
    answered = []
    events = [json.loads(e[len("data: "):]) for e in answer_events(Envelope("r1mm"), stream, answered.append)
              if e.startswith("data: {")]
    content = "".join(e["choices"][0]["delta"].get("content") or "" for e in events)
    drafted = "".join(e.get("draft") or "" for e in events)
    assert stream.replaced and drafted.strip() and drafted.strip() not in content
    assert content == answered[0].text == events[-1]["answer"] and "draft was not used" in content
    assert events[-1]["draft_refused"] == stream.replaced and events[-1]["choices"][0]["finish_reason"] == "stop"
