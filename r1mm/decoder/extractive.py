"""Answers from findings alone, for when no language model is loaded.

It never pretends: the answer says it was composed from measured findings, states each
number with its unit, and cites every finding it uses as [E1], [E2], …
"""
from __future__ import annotations

from collections.abc import Callable

from r1mm.decoder.verdict import decide
from r1mm.modalities import answer_rules
from r1mm.types import Answer, Evidence, Finding

MODEL_NAME = "findings only (no language model loaded)"
NO_MODEL_NOTE = "no language model is loaded"
PREFIX = f"From the measured findings ({NO_MODEL_NOTE}): "
SUFFIX = f"from the measured findings; {NO_MODEL_NOTE}"
# Findings that are a whole answer, worded with its verdict and value first ("Yes. For FY2025, free
# cash flow (12,434) exceeds …", "The filing has no line for inventories; …"): computed from cited cells
STATES_ITS_ANSWER = frozenset({"finance.answer", "finance.missing"})
# The score of a finding chosen by a rule to answer the question; retrieved evidence scores below it
# (fused reciprocal ranks, cosine similarities), so the grounding check can tell them apart.
ANSWERING_SCORE = 1.0

# (text, locator, score, finding[, media vector]), best first
Retrieved = list[tuple]


def answer_from_findings(question: str, findings: list[Finding], retrieve: Callable[[], Retrieved]) -> Answer:
    """Compose an answer: a matching rule's findings, else the best retrieved evidence.

    Args:
        question: the user's question.
        findings: every finding of the workspace.
        retrieve: runs the retrieval, called only when no rule answers (it may load a model).
    """
    q = question.lower()
    chosen: list[Finding] = []
    for rule in answer_rules():  # every modality's rules, in their order; the first that picks answers
        if rule.pattern.search(q):
            chosen = rule.pick(q, findings)
            if chosen:
                break
    if chosen:
        evidence = [Evidence(f"E{i}", f.text, f.locator, ANSWERING_SCORE, f)
                    for i, f in enumerate(chosen[:8], start=1)]
        lines = " ".join(f"{e.text} [{e.id}]" for e in evidence)
        if chosen[0].kind in STATES_ITS_ANSWER:  # its first words are the answer: they stay first
            return Answer(f"{lines} ({SUFFIX})", evidence, model=MODEL_NAME)
        verdict = decide(question, chosen[:8])  # a yes/no question gets the findings' yes or no first
        text = (f"{verdict}. " if verdict else "") + PREFIX + lines
        return Answer(text, evidence, model=MODEL_NAME)
    retrieved = retrieve()
    if not retrieved:
        return Answer("Nothing in the workspace matches this question: no finding answers it and no passage is "
                      "close to it. Ask about what the findings list shows, or add the file that holds the answer.",
                      [], model=MODEL_NAME)
    evidence = [Evidence(f"E{i}", text, loc, score, finding, *latent)
                for i, (text, loc, score, finding, *latent) in enumerate(retrieved[:5], start=1)]
    lines = " ".join(f"{e.text} [{e.id}]" for e in evidence)
    return Answer(f"No finding answers this directly; the most relevant passages, in the order they occur "
                  f"({NO_MODEL_NOTE}): {lines}", evidence, model=MODEL_NAME)

