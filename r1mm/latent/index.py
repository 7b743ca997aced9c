"""Retrieval over a workspace's evidence: findings and document passages, each with its locator.

Hybrid: BM25 with light stemming, fused with sentence-embedding similarity (the text tower).
"""
from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from r1mm.types import Document, Finding, Item, Locator, Modality

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


def passages_of(item: Item) -> list[Passage]:
    """Text spans worth retrieving besides findings: document paragraphs and table rows."""
    if item.modality is not Modality.TEXT:
        return []
    document: Document = item.data
    out = []
    for page in document.pages:
        for paragraph in page.paragraphs:
            out.append(Passage(paragraph, Locator(item.source, page=page.number)))
        for table in page.tables:
            for r, row in enumerate(table.rows):
                text = " | ".join(c for c in row if c)
                if text:
                    out.append(Passage(text, Locator(item.source, page=page.number, table=table.index,
                                                     cell=(r, 0), sheet=table.sheet)))
    return out


class KeywordIndex:
    """BM25 over passages (k1=1.5, b=0.75)."""

    def __init__(self, passages: list[Passage]):
        self.passages = passages
        self._docs = [Counter(tokenize(p.text)) for p in passages]
        self._lengths = [sum(d.values()) for d in self._docs]
        self._avg = sum(self._lengths) / max(len(self._lengths), 1)
        df: Counter[str] = Counter()
        for d in self._docs:
            df.update(d.keys())
        n = len(passages)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def search(self, query: str, k: int = 5) -> list[tuple[Passage, float]]:
        terms = tokenize(query)
        scored = []
        for passage, doc, length in zip(self.passages, self._docs, self._lengths):
            score = 0.0
            for t in terms:
                tf = doc.get(t, 0)
                if tf:
                    score += self._idf[t] * tf * 2.5 / (tf + 1.5 * (0.25 + 0.75 * length / max(self._avg, 1)))
            if score > 0:
                scored.append((passage, score))
        scored.sort(key=lambda ps: ps[1], reverse=True)
        return scored[:k]


class HybridIndex:
    """BM25 and sentence-embedding rankings fused by reciprocal rank (k=60).

    The dense half finds passages that say the same thing in other words ("how much money did
    they make" -> revenue); the keyword half keeps exact names and numbers on top.
    """

    def __init__(self, passages: list[Passage]):
        self.passages = passages
        self.keyword = KeywordIndex(passages)
        self._vectors = None
        if passages:
            try:
                from r1mm.encoders.text import embed

                self._vectors = embed([p.text for p in passages])
            except ImportError as exc:  # the text tower's package is missing: keywords alone
                log.warning("dense retrieval off (%s); using keywords only", exc)

    def search(self, query: str, k: int = 5, rrf_k: int = 60) -> list[tuple[Passage, float]]:
        ranked = self.keyword.search(query, k=50)
        scores: dict[int, float] = {}
        ids = {id(p): n for n, p in enumerate(self.passages)}
        for rank, (p, _) in enumerate(ranked):
            scores[ids[id(p)]] = 1.0 / (rrf_k + rank + 1)
        if self._vectors is not None:
            from r1mm.encoders.text import embed

            similarity = self._vectors @ embed([query])[0]
            for rank, n in enumerate(np.argsort(-similarity)[:50]):
                if similarity[n] > 0.2:  # below this the passage is unrelated
                    scores[int(n)] = scores.get(int(n), 0.0) + 1.0 / (rrf_k + rank + 1)
        best = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:k]
        return [(self.passages[n], s) for n, s in best]
