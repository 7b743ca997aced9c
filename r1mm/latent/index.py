"""Retrieval over a workspace's evidence: findings and document passages, each with its locator.

Hybrid: BM25 with light stemming, fused with sentence-embedding similarity (the text tower).
The BM25 here is our own (an inverted index of a few dozen lines) rather than `bm25s`: a
workspace adds and removes passages one file at a time and `bm25s` builds its index from the
whole corpus in one call, so each upload would re-index everything (`bench retrieval` measures the
kept index at 3 ms a question over 3,600 passages).
"""
from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from r1mm.types import Finding, Locator

DIM = 384  # the text tower's width (all-MiniLM-L6-v2)

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_STOP = frozenset("a an and are as at be by did do does for from has have how i in is it its of on or "
                  "the this that to was were what when where which who why with me show tell".split())


def tokenize(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOP]
    return [_stem(w) for w in words]


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s", "ing", "ed"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


@dataclass
class Passage:
    text: str
    locator: Locator
    finding: Finding | None = None


class KeywordIndex:
    """BM25 (k1=1.5, b=0.75) over an inverted index: a query reads only the postings of its terms,
    and passages are added and removed in place, so the index is kept, never rebuilt."""

    def __init__(self, passages: list[Passage] = ()):
        self.passages: dict[int, Passage] = {}  # slot -> passage; slots grow with each addition
        self._postings: dict[str, dict[int, int]] = {}  # term -> {slot: term count}
        self._lengths: dict[int, int] = {}
        self._total_length = 0
        self._next_slot = 0
        self.add(passages)

    def add(self, passages: list[Passage]) -> list[int]:
        slots = []
        for passage in passages:
            slot, self._next_slot = self._next_slot, self._next_slot + 1
            counts = Counter(tokenize(passage.text))
            for term, tf in counts.items():
                self._postings.setdefault(term, {})[slot] = tf
            self.passages[slot] = passage
            self._lengths[slot] = sum(counts.values())
            self._total_length += self._lengths[slot]
            slots.append(slot)
        return slots

    def remove(self, slots: list[int]) -> None:
        for slot in slots:
            passage = self.passages.pop(slot, None)
            if passage is None:
                continue
            for term in set(tokenize(passage.text)):
                posting = self._postings[term]
                del posting[slot]
                if not posting:
                    del self._postings[term]
            self._total_length -= self._lengths.pop(slot)

    def ranked(self, query: str, k: int = 5, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """(slot, score) of the best passages, ties in the order they were added."""
        n = len(self.passages)
        avg = max(self._total_length / max(n, 1), 1)
        scores: dict[int, float] = {}
        for term in tokenize(query):
            posting = self._postings.get(term)
            if not posting:
                continue
            idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
            for slot, tf in posting.items():
                if allowed is None or slot in allowed:
                    scores[slot] = scores.get(slot, 0.0) + \
                        idf * tf * 2.5 / (tf + 1.5 * (0.25 + 0.75 * self._lengths[slot] / avg))
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def search(self, query: str, k: int = 5) -> list[tuple[Passage, float]]:
        return [(self.passages[slot], score) for slot, score in self.ranked(query, k)]


class HybridIndex:
    """BM25 and sentence-embedding rankings fused by reciprocal rank (k=60).

    The dense half finds passages that say the same thing in other words ("how much money did
    they make" -> revenue); the keyword half keeps exact names and numbers on top. Passages come
    with their vectors where they were embedded before (a workspace embeds them once, when the
    file is added); the others are embedded here.
    """

    def __init__(self, passages: list[Passage] = (), vectors: np.ndarray | None = None):
        self.keyword = KeywordIndex()
        self._dense = True
        self._vectors = np.zeros((0, DIM), np.float32)  # row = slot; rows of removed slots are zero
        self._alive = np.zeros(0, bool)
        self.add(list(passages), vectors)

    @property
    def passages(self) -> dict[int, Passage]:
        return self.keyword.passages

    def add(self, passages: list[Passage], vectors: np.ndarray | None = None) -> list[int]:
        slots = self.keyword.add(passages)
        if not slots:
            return slots
        if vectors is None:
            vectors = embed_passages([p.text for p in passages])
        if vectors is None:
            self._dense = False
        else:
            grown = np.zeros((slots[-1] + 1, DIM), np.float32)
            grown[:len(self._vectors)] = self._vectors
            grown[slots] = vectors
            alive = np.zeros(slots[-1] + 1, bool)
            alive[:len(self._alive)] = self._alive
            alive[slots] = True
            self._vectors, self._alive = grown, alive
        return slots

    def vectors(self, slots: list[int]) -> np.ndarray | None:
        """The kept unit vectors of these passages; None when retrieval is by keywords only."""
        return self._vectors[slots] if self._dense else None

    def remove(self, slots: list[int]) -> None:
        self.keyword.remove(slots)
        live = [s for s in slots if s < len(self._alive)]
        self._alive[live] = False
        self._vectors[live] = 0.0

    def ranked(self, query: str, k: int = 5, rrf_k: int = 60,
               allowed: set[int] | None = None) -> list[tuple[int, float]]:
        scores: dict[int, float] = {}
        for rank, (slot, _) in enumerate(self.keyword.ranked(query, k=50, allowed=allowed)):
            scores[slot] = 1.0 / (rrf_k + rank + 1)
        if self._dense and self._alive.any():
            query_vector = embed_passages([query])
            if query_vector is not None:
                candidates = np.flatnonzero(self._alive)
                if allowed is not None:
                    candidates = candidates[np.isin(candidates, list(allowed))]
                similarity = self._vectors[candidates] @ query_vector[0]
                for rank, n in enumerate(np.argsort(-similarity, kind="stable")[:50]):
                    if similarity[n] > 0.2:  # below this the passage is unrelated
                        slot = int(candidates[n])
                        scores[slot] = scores.get(slot, 0.0) + 1.0 / (rrf_k + rank + 1)
        return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:k]

    def search(self, query: str, k: int = 5, rrf_k: int = 60,
               allowed: set[int] | None = None) -> list[tuple[Passage, float]]:
        return [(self.passages[slot], score) for slot, score in self.ranked(query, k, rrf_k, allowed)]


def embed_passages(texts: list[str]) -> np.ndarray | None:
    """Unit vectors of the text tower; None when its package is missing (retrieval is then by keywords)."""
    try:
        from r1mm.encoders.text import embed

        return embed(texts)
    except ImportError as exc:
        log.warning("dense retrieval off (%s); using keywords only", exc)
        return None
