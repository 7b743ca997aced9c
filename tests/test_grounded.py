"""Answers written by a decoder are kept only when the evidence supports them."""
from __future__ import annotations

import re

import pytest
import torch

from r1mm import Workspace
from r1mm.decoder.grounded import GroundedDecoder, check_grounding, prompt_for
from r1mm.types import Evidence, Locator

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


def test_numbers_from_the_question_may_be_repeated():
    assert check_grounding("In Q3 2026 revenue was 1,284.5 USD millions [E1].", "Revenue in Q3 2026?",
                           EVIDENCE) is None


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
    # Whatever the decoder wrote, what is shown is supported: every number is in the evidence.
    shown_numbers = {n.replace(",", "") for n in re.findall(r"\d[\d,]*\.\d+", answer.text)}
    evidence_numbers = {n.replace(",", "") for e in answer.evidence for n in re.findall(r"\d[\d,]*\.\d+", e.text)}
    assert shown_numbers <= evidence_numbers | {"3", "2026"}
    assert "1,284.6" in answer.text or "1284.6" in answer.text
    layers = answer.routing["layers"]
    assert len(layers) == 18
    assert all(1 <= l["experts_per_token"] <= answer.routing["num_experts"] for l in layers)
    assert answer.timings["tokens_per_s"] > 0
