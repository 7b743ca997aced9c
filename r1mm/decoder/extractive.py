"""Answers from findings alone, for when no language model is loaded.

It never pretends: the answer says it was composed from measured findings, states each
number with its unit, and cites every finding it uses as [E1], [E2], …
"""
from __future__ import annotations

import re
from collections.abc import Callable

from r1mm.analysis.finance import metric_and_period
from r1mm.decoder.verdict import decide
from r1mm.types import Answer, Evidence, Finding

MODEL_NAME = "findings only (no language model loaded)"
NO_MODEL_NOTE = "no language model is loaded"
PREFIX = f"From the measured findings ({NO_MODEL_NOTE}): "
# The score of a finding chosen by a rule to answer the question; retrieved evidence scores below it
# (fused reciprocal ranks, cosine similarities), so the grounding check can tell them apart.
ANSWERING_SCORE = 1.0

Rule = tuple[re.Pattern, Callable[[str, list[Finding]], list[Finding]]]


def _kinds(*kinds: str) -> Callable[[str, list[Finding]], list[Finding]]:
    return lambda q, fs: [f for f in fs if f.kind in kinds]


def _largest(*kinds: str) -> Callable[[str, list[Finding]], list[Finding]]:
    def pick(q: str, fs: list[Finding]) -> list[Finding]:
        found = [f for f in fs if f.kind in kinds and isinstance(f.value, (int, float))]
        return sorted(found, key=lambda f: f.value, reverse=True)[:1]
    return pick


def _claims(q: str, fs: list[Finding]) -> list[Finding]:
    """Claim checks (for the metric named, if any), each followed by the report figure it was held against."""
    checks = [f for f in fs if f.kind == "finance.claim_check"]
    named = [f for f in checks if f.value["metric"] in q]
    chosen = named or checks
    out: list[Finding] = []
    for check in chosen:
        out.append(check)
        where = check.value.get("report_locator")
        figure = next((f for f in fs if f.kind in ("finance.figure", "finance.change")
                       and where and f.locator.to_dict() == where), None)
        if figure is not None and figure not in out:
            out.append(figure)
    return out


def _metric(q: str, fs: list[Finding]) -> list[Finding]:
    """Financial figures whose metric name appears in the question; change rows first if asked."""
    q_low = q.lower()
    figures = [f for f in fs if f.kind.startswith("finance.")]
    named = [f for f in figures if _metric_name(f) and _metric_name(f) in q_low]
    if not named:
        return []
    longest = max(len(_metric_name(f)) for f in named)
    named = [f for f in named if len(_metric_name(f)) == longest]
    wants_change = re.search(r"chang|grow|increas|decreas|year over year|yoy|compared", q_low)
    wants_margin = "margin" in q_low
    if wants_margin:
        return [f for f in named if f.kind == "finance.margin"] or named[:2]
    if wants_change:
        return [f for f in named if f.kind == "finance.change"] or named[:2]
    figures = [f for f in named if f.kind == "finance.figure"]
    # "What was revenue in Q3 2025?": the column of the period named; "last year": the comparison column
    asked = re.sub(r"\s+", " ", q_low)
    in_period = [f for f in figures if (period := metric_and_period(f)[1].lower()) and period in asked]
    if in_period:
        return in_period[:1]
    if re.search(r"last year|prior (year|period|quarter)|a year (ago|earlier)|previous (year|quarter|period)", asked):
        earlier = [f for f in figures if f.locator.cell and f.locator.cell[1] > 1]
        return earlier[:1] or figures[:1]
    return figures[:1]


def _metric_name(f: Finding) -> str:
    m = re.match(r"(.+?)(?: \(| changed| margin)", f.text)
    return m.group(1).lower() if m else ""


RULES: list[Rule] = [
    (re.compile(r"\b(match|agree|consistent|contradict|line up|true that|accurate)|what .* said|(ceo|cfo|management)"
                r" (said|claim)"), _claims),
    (re.compile(r"\brisks?\b"), _kinds("finance.risk", "speech.risk")),
    (re.compile(r"transcript|what was said|who (spoke|said)"), _kinds("speech.utterance")),
    (re.compile(r"how many (lung )?nodules|number of nodules|nodule count|any nodules?"), _kinds("ct.nodule_count")),
    (re.compile(r"(largest|biggest|how (large|big)).*(nodule|lesion|mass)|(nodule|lesion|mass).*(size|large|big)|"
                r"slice with.*nodule|which lung"), _largest("ct.nodule", "ct.mass")),
    (re.compile(r"lung volume|how (big|large) (are|is) the lungs?|volume of the (left |right )?lungs?"),
     _kinds("ct.lung_volume_right", "ct.lung_volume_left")),
    (re.compile(r"\bbones?\b"), _kinds("ct.bone_volume")),
    (re.compile(r"slice thickness|how thick"), _kinds("ct.slice_thickness")),
    (re.compile(r"pixel spacing|in-plane resolution"), _kinds("ct.pixel_spacing")),
    (re.compile(r"how many slices|number of slices"), _kinds("ct.slices")),
    (re.compile(r"study date|when was .*(scan|study|taken|acquired)"), _kinds("ct.study_date")),
    (re.compile(r"scanner|manufacturer"), _kinds("ct.scanner")),
    (re.compile(r"body part"), _kinds("ct.body_part")),
    (re.compile(r"\bmodality\b"), _kinds("ct.modality")),
    (re.compile(r"dimension|how (big|large) is the (part|object|scan)|size of the part"),
     _kinds("pointcloud.dimensions")),
    (re.compile(r"how deep|deepest|dent"), _largest("pointcloud.dent")),
    (re.compile(r"defect|damage|bump|flaw"), _kinds("pointcloud.defect_count", "pointcloud.dent", "pointcloud.bump")),
    (re.compile(r"how long|duration|length of the (call|recording|audio)"), _kinds("audio.duration")),
    (re.compile(r"how many points|point count"), _kinds("pointcloud.points")),
    (re.compile(r"image size|resolution of the image|how many pixels"), _kinds("image.size")),
]


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
    for pattern, pick in RULES:
        if pattern.search(q):
            chosen = pick(q, findings)
            if chosen:
                break
    if not chosen:
        chosen = _metric(q, findings)
    if chosen:
        evidence = [Evidence(f"E{i}", f.text, f.locator, ANSWERING_SCORE, f)
                    for i, f in enumerate(chosen[:8], start=1)]
        verdict = decide(question, chosen[:8])  # a yes/no question gets the findings' yes or no first
        text = (f"{verdict}. " if verdict else "") + PREFIX + " ".join(f"{e.text} [{e.id}]" for e in evidence)
        return Answer(text, evidence, model=MODEL_NAME)
    retrieved = retrieve()
    if not retrieved:
        return Answer("Nothing in the workspace matches this question. Add files, or ask about what the "
                      "findings list shows.", [], model=MODEL_NAME)
    evidence = [Evidence(f"E{i}", text, loc, score, finding, *latent)
                for i, (text, loc, score, finding, *latent) in enumerate(retrieved[:3], start=1)]
    lines = " ".join(f"[{e.id}] {e.text}" for e in evidence)
    return Answer(f"No finding answers this directly; the most relevant evidence ({NO_MODEL_NOTE}): {lines}",
                  evidence, model=MODEL_NAME)
