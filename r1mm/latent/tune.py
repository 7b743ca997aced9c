"""Fine-tune the projectors on a user's own questions about their media files.

``align.py`` binds each modality to text with generated data and fixed descriptions ("a dent
in a flat surface"). Users ask in their own words ("Where is the gouge?"). Each of their
answers names a place: its numbers match a finding (or it cites one), and that finding has a
locator. The tokens of the same file whose locators overlap that place are the positives for the
question. The other tokens are its negatives. A copy of each projector is trained with InfoNCE
from the question to its positives. A second term keeps every token near where the original
projector put it, so the descriptions that already worked keep working.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from r1mm.encoders.projector import Projector
from r1mm.numbers import values_in
from r1mm.types import CITATION, Evidence, Finding, Locator

TEMPERATURE = 0.07
KEEP_WEIGHT = 1.0          # weight of "stay near the original projection" against InfoNCE
STEPS_PER_EPOCH = 40


@dataclass
class GroundedQuestion:
    """A question, and which tokens of one media item hold its answer."""
    tower: str                # the item's encoder tower: image, audio, ct or pointcloud
    question: str
    item_key: object          # identifies the item (its features are shared between its questions)
    positives: np.ndarray     # bool, one per token of the item


@dataclass
class TowerReport:
    questions: int
    tokens: int
    top1_before: float        # share of questions whose nearest token of their item is a positive
    top1_after: float
    similarity_before: float  # mean cosine of question and its best positive
    similarity_after: float

    def to_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


# ---- where an answer points -----------------------------------------------------------------

def most_numbers_shared(answer: str, texts: list[str]) -> int | None:
    """Index of the text sharing most of the answer's numbers (within 2%: people round, and measure
    a little differently); None when the answer has no numbers or no text shares one."""
    wanted = values_in(CITATION.sub("", answer))

    def shared(text: str) -> int:
        have = values_in(text)
        return sum(any(abs(w - h) <= max(0.02 * abs(h), 0.005) for h in have) for w in wanted)

    scores = [shared(t) for t in texts] if wanted else []
    best = max(range(len(scores)), key=scores.__getitem__, default=None)
    return best if best is not None and scores[best] > 0 else None


def answer_place(answer: str, evidence: list[Evidence], findings: list[Finding]) -> Locator | None:
    """Where an answer points: the evidence it cites, else the evidence or finding sharing most of
    its numbers; None when nothing does."""
    cited = CITATION.findall(answer)
    by_id = {e.id: e for e in evidence}
    if cited and cited[0] in by_id:
        return by_id[cited[0]].locator
    candidates = [(e.text, e.locator) for e in evidence] + [(f.text, f.locator) for f in findings]
    best = most_numbers_shared(answer, [text for text, _ in candidates])
    return None if best is None else candidates[best][1]


def _interval_share(a0: float, a1: float, b0: float, b1: float, tol: float) -> float:
    """How much of [a0, a1] lies in [b0, b1], 0..1; ``tol`` widens both for flat extents."""
    inside = min(a1, b1) - max(a0, b0) + tol
    return float(np.clip(inside / (a1 - a0 + tol), 0.0, 1.0))


def overlap(token: Locator, place: Locator) -> float:
    """How much of a token lies in the place an answer points at, 0..1 (0 when they cannot be compared)."""
    if token.region is not None and place.region is not None:
        a, b = np.asarray(token.region, float), np.asarray(place.region, float)
        tol = 0.01 * float(np.max(a[3:] - a[:3]))
        return float(np.prod([_interval_share(a[i], a[i + 3], b[i], b[i + 3], tol) for i in range(3)]))
    if token.start_s is not None and place.start_s is not None:
        end = place.end_s if place.end_s is not None else place.start_s
        return _interval_share(token.start_s, token.end_s or token.start_s, place.start_s, end, 0.1)
    if token.bbox_mm is not None and place.bbox_mm is not None:
        a, b = token.bbox_mm, place.bbox_mm
        in_plane = _interval_share(a[0], a[2], b[0], b[2], 0.5) * _interval_share(a[1], a[3], b[1], b[3], 0.5)
        slices_apart = abs((token.slice or 0) - (place.slice or 0)) if place.slice is not None else 0
        return in_plane / (1.0 + (slices_apart / 8.0) ** 2)  # a CT token stands for a slab around its slice
    if token.bbox_px is not None and place.bbox_px is not None:
        a, b = token.bbox_px, place.bbox_px
        return _interval_share(a[0], a[2], b[0], b[2], 1.0) * _interval_share(a[1], a[3], b[1], b[3], 1.0)
    return 0.0


def positives_for(locators: list[Locator], place: Locator) -> np.ndarray | None:
    """The tokens that overlap the place most (at least half the best overlap); None when none does."""
    scores = np.array([overlap(loc, place) for loc in locators])
    if scores.size == 0 or scores.max() <= 0:
        return None
    return scores >= 0.5 * scores.max()


# ---- training ------------------------------------------------------------------------------

def _top1_and_similarity(projector: Projector, features: torch.Tensor, questions: torch.Tensor,
                         positives: list[torch.Tensor]) -> tuple[float, float]:
    with torch.no_grad():
        sims = questions @ projector(features).t()
    hits, best = [], []
    for row, pos in zip(sims, positives):
        own = pos >= 0  # -1 marks tokens of other items
        hits.append(bool(pos[own][row[own].argmax()] > 0))
        best.append(float(row[pos > 0].max()))
    return float(np.mean(hits)), float(np.mean(best))


def tune_projectors(questions: list[GroundedQuestion], features: dict[object, np.ndarray],
                    base: dict[str, Projector], epochs: int = 5, seed: int = 0,
                    progress=None) -> tuple[dict[str, Projector], dict[str, TowerReport]]:
    """Copies of the projectors of every tower the questions touch, trained on them.

    ``features`` maps each ``item_key`` to its tokens' features before projection. Each question is
    contrasted with every token of every item of its tower (its positives against the rest).
    """
    from r1mm.encoders.text import embed

    tuned: dict[str, Projector] = {}
    reports: dict[str, TowerReport] = {}
    for tower in sorted({q.tower for q in questions}):
        mine = [q for q in questions if q.tower == tower]
        keys = list(dict.fromkeys(q.item_key for q in mine))
        offsets = np.cumsum([0] + [len(features[k]) for k in keys])
        x = torch.from_numpy(np.concatenate([features[k] for k in keys]))
        # per question: 1 = positive, 0 = other token of its item, -1 = token of another item
        marks = []
        for q in mine:
            row = torch.full((len(x),), -1)
            start = int(offsets[keys.index(q.item_key)])
            row[start:start + len(q.positives)] = torch.from_numpy(q.positives.astype(np.int64))
            marks.append(row)
        target = torch.stack(marks)
        text = torch.from_numpy(embed([q.question for q in mine]))
        original = base[tower]
        with torch.no_grad():
            anchor = original(x)
        before = _top1_and_similarity(original, x, text, marks)
        torch.manual_seed(seed)
        projector = copy.deepcopy(original).train()
        optimizer = torch.optim.AdamW(projector.parameters(), lr=1e-3, weight_decay=1e-2)
        for step in range(epochs * STEPS_PER_EPOCH):
            optimizer.zero_grad()
            z = projector(x)
            logits = text @ z.t() / TEMPERATURE
            positive = logits.masked_fill(target <= 0, float("-inf"))
            nce = (torch.logsumexp(logits, 1) - torch.logsumexp(positive, 1)).mean()
            keep = ((z - anchor) ** 2).sum(1).mean()
            loss = nce + KEEP_WEIGHT * keep
            loss.backward()
            optimizer.step()
            if progress is not None and (step + 1) % STEPS_PER_EPOCH == 0:
                progress(f"projector {tower}: epoch {(step + 1) // STEPS_PER_EPOCH}/{epochs}, loss {loss.item():.3f}")
        projector.eval()
        after = _top1_and_similarity(projector, x, text, marks)
        tuned[tower] = projector
        reports[tower] = TowerReport(len(mine), len(x), before[0], after[0], before[1], after[1])
    return tuned, reports
