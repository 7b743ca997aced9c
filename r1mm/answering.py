"""Answering a question from a workspace: evidence first, then the decoder, else the findings.

    answerer = Answerer(repo, decoder)
    stream = answerer.stream("How large is the largest nodule?")
    for piece in stream: ...          # text as it is written
    stream.answer                      # the Answer, with its evidence

The evidence is chosen first: findings that a rule says answer the question, else retrieval over
findings and document passages (BM25 fused with sentence embeddings) and the media tokens nearest
the question in the shared space. The indexes are kept in memory and caught up from the store
when its generation moves (a file added or removed here or by another process), so a question
embeds only itself.
"""
from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from r1mm.analysis.charts import chart_checks
from r1mm.analysis.calls import cross_check
from r1mm.decoder.extractive import NO_MODEL_NOTE, answer_from_findings
from r1mm.decoder.grounded import NO_CITATION, Draft, GroundedDecoder, check_grounding, evidence_holding_numbers
from r1mm.errors import R1Error
from r1mm.latent.index import HybridIndex, Passage
from r1mm.latent.summary import Sentence, asks_for_summary, split_sentences, summarise
from r1mm.modalities import specs
from r1mm.store import Repository
from r1mm.types import Answer, Finding, Locator, Modality

log = logging.getLogger(__name__)

# Cosine similarity above which a media token is offered as evidence for a question no finding answers.
MEDIA_MIN_SIMILARITY = 0.5


@dataclass
class Match:
    """A token found by cross-modal search."""
    score: float  # cosine similarity in the shared space
    modality: Modality
    locator: Locator
    vector: np.ndarray | None = field(default=None, repr=False)  # the token in the shared space


class EvidenceCache:
    """A workspace's findings, passage index and media tokens, kept in memory and caught up from
    the store by id whenever its generation moves."""

    def __init__(self, repo: Repository):
        self.repo = repo
        self.index = HybridIndex()
        self._lock = threading.Lock()
        self._generation = -1
        self._item_files: dict[int, int] = {}
        self._findings: dict[int, list[tuple[int, Finding]]] = {}  # item id -> (finding id, finding)
        self._slots: dict[int, list[int]] = {}  # item id -> its passages' slots in the index
        self._last = {"finding": 0, "passage": 0, "token": 0}
        self._tokens: list[tuple[int, Modality, Locator]] = []  # (item id, modality, locator) per row
        self._token_vectors = np.zeros((0, 0), np.float32)

    def refresh(self) -> None:
        """Catch up with the store: drop removed items, add what was saved since the last look."""
        generation = self.repo.generation()
        if generation == self._generation:
            return
        self._index_older_items()
        generation = self.repo.generation()
        item_files = self.repo.item_files()
        gone = set(self._item_files) - set(item_files)
        for item_id in gone:
            self.index.remove(self._slots.pop(item_id, []))
            self._findings.pop(item_id, None)
        for finding_id, item_id, finding in self.repo.findings_after(self._last["finding"]):
            self._findings.setdefault(item_id, []).append((finding_id, finding))
            self._last["finding"] = finding_id
        stored = [p for p in self.repo.passages_after(self._last["passage"]) if p.item_id in item_files]
        if stored:
            dense = all(p.vector is not None for p in stored)
            slots = self.index.add([Passage(p.text, p.locator, p.finding) for p in stored],
                                   np.stack([p.vector for p in stored]) if dense else None)
            for p, slot in zip(stored, slots):
                self._slots.setdefault(p.item_id, []).append(slot)
            self._last["passage"] = stored[-1].id
        self._catch_up_tokens(gone, item_files)
        self._item_files, self._generation = item_files, generation

    def _index_older_items(self) -> None:
        """Workspaces saved before passages were kept get theirs once, embedded now."""
        from r1mm import pipeline

        for rec in self.repo.unindexed_items():
            try:
                item = pipeline.load_item(rec)
            except (KeyError, OSError, ValueError):
                item = None
            findings = self.repo.findings(item_id=rec.id)
            self.repo.save_passages(rec.id, pipeline.passages_for(item, findings))

    def _catch_up_tokens(self, gone: set[int], item_files: dict[int, int]) -> None:
        keep = [k for k, (item_id, _, _) in enumerate(self._tokens) if item_id not in gone]
        if len(keep) < len(self._tokens):
            self._tokens = [self._tokens[k] for k in keep]
            self._token_vectors = self._token_vectors[keep]
        new = [t for t in self.repo.tokens_after(self._last["token"]) if t.item_id in item_files]
        if new:
            vectors = np.stack([t.vector for t in new])
            self._token_vectors = vectors if not len(self._tokens) else np.concatenate([self._token_vectors, vectors])
            self._tokens += [(t.item_id, t.modality, t.locator) for t in new]
            self._last["token"] = new[-1].id

    def findings(self, file_ids: list[int] | None = None) -> list[Finding]:
        """Findings in the order they were saved, of the given files or of all."""
        with self._lock:
            self.refresh()
            rows = [row for item_id, rows in self._findings.items() if self._in(item_id, file_ids) for row in rows]
        return [f for _, f in sorted(rows, key=lambda row: row[0])]

    def retrieve(self, question: str, extra: list[Passage], file_ids: list[int] | None,
                 k: int = 8) -> list[tuple[Passage, float, int]]:
        """The best passages for the question, with their score and slot (slots grow in the order
        passages occur); ``extra`` (findings made for this question, such as claim checks across
        files) are searched with the kept ones."""
        with self._lock:
            self.refresh()
            allowed = None
            if file_ids is not None:
                allowed = {slot for item_id, slots in self._slots.items() if self._in(item_id, file_ids)
                           for slot in slots}
            added = self.index.add(extra)
            try:
                if allowed is not None:
                    allowed |= set(added)
                return [(self.index.passages[slot], score, slot)
                        for slot, score in self.index.ranked(question, k=k, allowed=allowed)]
            finally:
                self.index.remove(added)

    def words(self, question: str, file_ids: list[int] | None, k: int = 30,
              central: bool = True) -> list[tuple[Passage, int]]:
        """The files' own words (document paragraphs, transcript utterances) most relevant to the
        question (and, when ``central``, most central to the text), with their slots: what an
        open question is summarised from."""
        from r1mm.latent.index import embed_passages

        spoken = words_kinds()
        with self._lock:
            self.refresh()
            slots = [slot for item_id, item_slots in self._slots.items() if self._in(item_id, file_ids)
                     for slot in item_slots]
            slots = [slot for slot in slots if _is_words(self.index.passages[slot], spoken)]
            if len(slots) <= k:
                return [(self.index.passages[slot], slot) for slot in sorted(slots)]
            vectors = self.index.vectors(slots)
            passages = [self.index.passages[slot] for slot in slots]
        if vectors is None:
            return [(p, slot) for p, slot in zip(passages[:k], slots[:k])]
        centre = vectors.mean(axis=0)
        score = vectors @ embed_passages([question])[0]
        if central:
            score = score + vectors @ (centre / max(float(np.linalg.norm(centre)), 1e-9))
        best = sorted(np.argsort(-score)[:k].tolist())
        return [(passages[n], slots[n]) for n in best]

    def nearest_tokens(self, question: str, k: int, file_ids: list[int] | None) -> list[Match]:
        from r1mm.encoders.text import embed

        with self._lock:
            self.refresh()
            rows = [n for n, (item_id, _, _) in enumerate(self._tokens) if self._in(item_id, file_ids)]
            if not rows:
                return []
            vectors = self._token_vectors[rows]
            tokens = [self._tokens[n] for n in rows]
        scores = vectors @ embed([question])[0]
        best = np.argsort(-scores)[:k]
        return [Match(float(scores[i]), tokens[i][1], tokens[i][2], vectors[i]) for i in best]

    def _in(self, item_id: int, file_ids: list[int] | None) -> bool:
        return file_ids is None or self._item_files.get(item_id) in file_ids


def _is_words(passage: Passage, spoken: set[str]) -> bool:
    """A paragraph of a document (not a table row) or a transcript's utterance."""
    if passage.finding is None:
        return passage.locator.table is None
    return passage.finding.kind in spoken


@functools.lru_cache(maxsize=1)
def words_kinds() -> frozenset[str]:
    return frozenset(kind for spec in specs() for kind in spec.words_kinds)


def _sentences(pool: list[tuple[Passage, int]], prior: bool = True) -> list[Sentence]:
    """Sentences of passages: a finding is one sentence (an utterance: its own words), a paragraph
    is split. With ``prior``, earlier-ranked passages weigh more. They sort by file (its first
    passage), page, time, passage and sentence."""
    spoken, out = words_kinds(), []
    first: dict[str, int] = {}
    for passage, slot in pool:
        first[passage.locator.source] = min(slot, first.get(passage.locator.source, slot))
    for rank, (passage, slot) in enumerate(pool):
        weight = 0.2 / (1 + rank) if prior else 0.0
        at = (first[passage.locator.source], passage.locator.page or 0, passage.locator.start_s or 0.0, slot)
        if passage.finding is not None and passage.finding.kind not in spoken:
            out.append(Sentence(passage.text, passage.locator, passage.finding, (*at, 0), weight))
            continue
        text = passage.finding.value if passage.finding is not None else passage.text
        for n, sentence in enumerate(split_sentences(str(text)) or [passage.text]):
            out.append(Sentence(sentence, passage.locator, passage.finding, (*at, n), weight, quoted=True))
    return out


class Answerer:
    """Evidence, decoder and fallback for one workspace; `remember` keeps each answer given."""

    def __init__(self, repo: Repository, decoder: GroundedDecoder | None = None):
        self.repo = repo
        self.decoder = decoder
        self.cache = EvidenceCache(repo)

    def stream(self, question: str, file_ids: list[int] | None = None) -> AnswerStream:
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        t0 = time.perf_counter()
        findings = self.cache.findings(file_ids)
        # spoken claims and chart values against report figures, across files
        checks = cross_check(findings) + chart_checks(findings)
        findings += checks
        retrieval_s = 0.0

        def retrieve():
            nonlocal retrieval_s
            start = time.perf_counter()
            extra = [Passage(f.text, f.locator, f) for f in checks]
            if asks_for_summary(question):  # the gist: central sentences of the files' own words
                summary = summarise(question, _sentences(self.cache.words(question, file_ids)), k=4)
            else:  # the retrieved passages, and the sentences of paragraphs closest to the question
                pool = [(p, slot) for p, _, slot in self.cache.retrieve(question, extra, file_ids)]
                words = self.cache.words(question, file_ids, k=10, central=False)
                summary = summarise(question, _sentences(pool) + _sentences(words, prior=False), k=3)
            # a score below a rule's ANSWERING_SCORE: the grounding check tells them apart
            hits = [(s.shown(), s.locator, min(score, 0.99), s.finding) for s, score in summary]
            # Media regions close to the question in the shared space come first when they are close
            # enough; documents are ranked by the hybrid keyword + embedding index.
            media = [(f"A {m.modality.value} region that matches the question (similarity {m.score:.2f})",
                      m.locator, m.score, None, m.vector)
                     for m in self.search(question, k=2, file_ids=file_ids) if m.score >= MEDIA_MIN_SIMILARITY]
            retrieval_s = time.perf_counter() - start
            return media + hits

        t1 = time.perf_counter()
        base = answer_from_findings(question, findings, retrieve)
        t2 = time.perf_counter()
        base.timings = {"gather_s": round(t1 - t0, 4), "retrieve_s": round(retrieval_s, 4),
                        "evidence_s": round(t2 - t1 - retrieval_s, 4), "total_s": round(t2 - t0, 4)}
        return AnswerStream(question, base, self.decoder, self.repo.remember)

    def search(self, question: str, k: int = 5, file_ids: list[int] | None = None) -> list[Match]:
        """The media tokens (image cells, audio spans, CT cells, point-cloud regions) nearest to a
        question in the shared space, best first, with cosine similarity."""
        return self.cache.nearest_tokens(question, k, file_ids)


def _states_absence(answer: Answer) -> bool:
    """The findings say the file has no such value ("no line for goodwill"): that is the answer, and
    a language model is not asked to word a number around it."""
    first = answer.evidence[0].finding if answer.evidence else None
    return first is not None and first.kind.endswith(".missing")


class AnswerStream:
    """Text pieces of an answer as they are written; ``answer`` is set (and kept) once they end."""

    def __init__(self, question: str, base: Answer, decoder: GroundedDecoder | None,
                 remember: Callable[[str, Answer], None]):
        self.question, self._base, self._decoder, self._remember = question, base, decoder, remember
        self.answer: Answer | None = None
        self.replaced: str | None = None  # why a decoder draft was not used, if it was not
        self.cited_for_decoder: str | None = None  # the evidence id added to a draft that cited none

    def __iter__(self) -> Iterator[str]:
        base, decoder = self._base, self._decoder
        if decoder is None or not base.evidence or _states_absence(base):
            yield from re.findall(r"[^.!?]+[.!?]?\s*(?:\[E\d+\]\s*)?", base.text) or [base.text]
            self._finish(base)
            return
        draft, failure = Draft(), None
        try:
            yield from decoder.stream(self.question, base.evidence, draft)
        except R1Error as exc:  # a decoder server down or failing: the findings still answer
            log.warning("decoder failed: %s", exc)
            failure = f"the decoder failed: {exc}"
        timings = dict(base.timings, decode_s=round(draft.seconds, 3), first_token_s=round(draft.first_token_seconds, 3),
                       total_s=round(base.timings["total_s"] + draft.seconds, 3),
                       tokens_per_s=round(draft.tokens / draft.seconds, 2) if draft.seconds else 0.0)
        reason = failure or check_grounding(draft.text, self.question, base.evidence)
        if reason == NO_CITATION:
            # A sentence whose numbers all stand in one evidence line is cited to that line, then
            # checked like any other (sides and units included); a 270M model often omits the id.
            source = evidence_holding_numbers(draft.text, self.question, base.evidence)
            if source is not None:
                cited = f"{draft.text.rstrip()} [{source.id}]"
                reason = check_grounding(cited, self.question, base.evidence)
                if reason is None:
                    yield cited[len(draft.text):]
                    draft.text, self.cited_for_decoder = cited, source.id
        if reason is None:
            self._finish(Answer(draft.text, base.evidence, draft.routing, timings, decoder.name))
        else:
            self.replaced = reason
            log.info("decoder draft not used: %s", reason)
            # the reason (which may quote the draft's numbers) is kept apart (``replaced``), never in the
            # answer's text: a refused draft's numbers are not shown as part of an answer
            note = "the language model's draft was not used"
            self._finish(Answer(base.text.replace(NO_MODEL_NOTE, note), base.evidence, draft.routing, timings,
                                f"findings only ({decoder.name} draft rejected)"))

    def _finish(self, answer: Answer) -> None:
        self.answer = answer
        self._remember(self.question, answer)
