"""Extractive summaries: the few most relevant, non-redundant sentences, in the order they occur.

A question no finding answers ("What are they talking about?", "Summarise the risks") is answered
with sentences of the files themselves, each cited. They are chosen by maximal marginal relevance
(Carbonell and Goldstein, 1998) over sentence embeddings: each pick maximises
``λ·relevance − (1 − λ)·(its highest similarity to a sentence already picked)``, so a second
sentence saying the same thing in other words loses to one that adds something.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from r1mm.types import Finding, Locator

# A question that asks for the gist rather than a fact: relevance then includes how central a
# sentence is to the whole text (its similarity to the mean of all sentences).
SUMMARY_INTENT = re.compile(
    r"\bsummar|\boverview\b|\bgist\b|\bmain (points?|topics?|themes?|ideas?)\b|\bkey (points?|takeaways?|messages?)\b|"
    r"\b(talk(ing|ed)?|speak(ing)?|discuss(ing|ed)?) about\b|\bwhat (is|was|are|were) (this|it|these|the|they)( \w+)? about\b|"
    r"\bwhat (is|was) (said|discussed)\b|\bin (short|brief)\b|\btl;?dr\b")
LAMBDA = 0.5  # relevance against novelty (the value Carbonell and Goldstein found best for summaries)
# A sentence less similar than this to a question (not a summary), sharing none of its words, is
# unrelated to it: MiniLM gives 0.2–0.34 to unrelated pairs of short sentences about money.
MIN_SIMILARITY = 0.35
MIN_WORDS = 4  # shorter pieces ("Thank you.") say nothing on their own
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[A-Z0-9“\"(])")


@dataclass
class Sentence:
    text: str
    locator: Locator
    finding: Finding | None
    order: tuple  # sorts sentences in the order they occur (file, page, time, passage, sentence)
    prior: float = 0.0  # added to its relevance: how high retrieval ranked its passage
    quoted: bool = False  # the file's own words (shown in quotes), not a finding about it

    def shown(self) -> str:
        return f"“{self.text}”" if self.quoted else self.text


def asks_for_summary(question: str) -> bool:
    return bool(SUMMARY_INTENT.search(question.lower()))


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph; an abbreviation may split one in two, which MMR tolerates."""
    pieces = [p.strip() for p in _SENTENCE_END.split(" ".join(text.split()))]
    return [p for p in pieces if len(p.split()) >= MIN_WORDS]


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, lam: float = LAMBDA) -> list[int]:
    """Indexes of up to k rows chosen by maximal marginal relevance (rows of ``vectors`` are unit)."""
    chosen: list[int] = []
    left = list(range(len(relevance)))
    similarity = vectors @ vectors.T
    while left and len(chosen) < k:
        redundancy = similarity[np.ix_(left, chosen)].max(axis=1) if chosen else np.zeros(len(left))
        scores = lam * relevance[left] - (1 - lam) * redundancy
        best = left[int(np.argmax(scores))]
        chosen.append(best)
        left.remove(best)
    return chosen


def summarise(question: str, sentences: list[Sentence], k: int = 3) -> list[tuple[Sentence, float]]:
    """The k sentences that best answer the question without repeating each other, with their
    relevance (cosine similarity), in the order they occur."""
    from r1mm.latent.index import embed_passages

    unique = list({s.text.lower(): s for s in sentences}.values())
    if not unique:
        return []
    vectors = embed_passages([question] + [s.text for s in unique])
    if vectors is None:  # no sentence model: the first k, in order
        return [(s, 0.0) for s in sorted(unique, key=lambda s: s.order)[:k]]
    query, rows = vectors[0], vectors[1:]
    relevance = rows @ query + np.array([s.prior for s in unique])
    if asks_for_summary(question):
        centre = rows.mean(axis=0)
        relevance = relevance + rows @ (centre / max(float(np.linalg.norm(centre)), 1e-9))
    else:  # unrelated sentences are no evidence, however few are left
        from r1mm.latent.index import tokenize

        asked = set(tokenize(question))
        keep = [n for n, s in enumerate(unique) if rows[n] @ query >= MIN_SIMILARITY or asked & set(tokenize(s.text))]
        unique, rows, relevance = [unique[n] for n in keep], rows[keep], relevance[keep]
    picked = mmr(relevance, rows, k)
    return sorted(((unique[n], float(rows[n] @ query)) for n in picked), key=lambda pair: pair[0].order)
