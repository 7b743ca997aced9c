"""A 100-page contract read whole by the decoder against answering from retrieved clauses.

Each question needs two clauses pages apart: the obligation it asks about, and the definition
that clause cites ("... the Warranty Period of clause 31.7"), which holds the number. Four ways
to give the decoder the contract, the same question and answer start each time:

- block memory: the decoder reads the whole contract once (about 67K tokens), then each
  question is asked from a copy of what it kept;
- recall and re-read: the same read; each prompt is answered from the blocks it recalls, read
  again as a short prompt (recall.py);
- retrieval only: the workspace's hybrid index (BM25 + MiniLM) picks the four clauses closest
  to the question, and the decoder reads just those;
- retrieval + cited clauses: those four, and the clauses they cite.

And two ways to answer: in one pass (the question and the answer's start), or by quoting and
resolving: the decoder first quotes the clause that answers ("... within the Payment Term set
out in clause 33.45"), and when the quote names a defined term it is asked for the term
("33.45 The Payment Term is"), from the same read cache or from the clauses retrieved for the
term; a quote naming no term leaves the one-pass answer. Reported per way: answers with the
right number, seconds per question (reading or retrieval included), and for retrieval how often
both needed clauses were in the first prompt.
"""
from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable

import torch
from tqdm import tqdm

from r1mm.cases.contract import Contract, cited, contract

RETRIEVED = 4
ANSWER_TOKENS, QUOTE_TOKENS, TERM_TOKENS = 8, 24, 5
QUOTE = "{question}\nThe clause that answers this reads:"
# A term and the clause that defines it: "the Payment Term set out in clause 33.45", "the renewal
# term of clause 16.7", "the Confidentiality Term (see clause 19.39"; else a capitalised term of
# two words or more ("the Retention Sum"; one word is mostly a party: "the Buyer").
_TERM_AND_CLAUSE = re.compile(r"\bthe ((?:[a-z-]+ ){0,3}?[a-z-]+)(?: \(see| set out in| defined in| of| in|"
                              r" under| given in| described in)? \(?clause (\d+\.\d+)(?!\d)", re.I)
_CAPITALISED_TERM = re.compile(r"\b[Tt]he ((?:[A-Z][a-z]+ )+[A-Z][a-z]+)")


def run(pages: int = 100) -> dict:
    from r1mm.decoder.build import load

    model, tokenizer = load()
    model.set_routing("dense")
    return contract_task(model, tokenizer, pages=pages)


def defined_term(text: str) -> tuple[str, str | None] | None:
    """(term in title case, the clause cited for it or None) that a text names, if any."""
    match = _TERM_AND_CLAUSE.search(text)
    if match:
        return match.group(1).title(), match.group(2)
    terms = _CAPITALISED_TERM.findall(text)
    return (terms[-1], None) if terms else None


def quote_then_term(ask: Callable[[str, int], str], ask_term: Callable[[str, str | None], str], question: str,
                    one_pass: str) -> str:
    """The answer by quoting the clause that answers ``question`` and asking for the term it names;
    ``one_pass`` when the quote names none."""
    term = defined_term(_first_line(ask(QUOTE.format(question=question), QUOTE_TOKENS)))
    return one_pass if term is None else _first_line(ask_term(*term))


def _first_line(text: str) -> str:
    return text.strip().split("\n")[0]


def _term_prompt(term: str, clause: str | None) -> str:
    return f"{clause} The {term} is" if clause else f"The {term} is"


@torch.no_grad()
def contract_task(model, tokenizer, seed: int = 0, pages: int = 100) -> dict:
    from r1mm.bench.decoder import ask
    from r1mm.decoder.memory import memory_bytes, transformers_cache_bytes
    from r1mm.decoder.recall import RecallReader
    from r1mm.latent.index import HybridIndex, Passage
    from r1mm.types import Locator

    doc = contract(seed, pages=pages)
    ids = torch.tensor([[tokenizer.bos_token_id] + tokenizer(doc.text(), add_special_tokens=False).input_ids])
    rows = {}

    # Block memory: read once, ask everything from a copy of the cache.
    cache = model.new_cache("blocks")
    started = time.perf_counter()
    model.prefill(ids, cache)
    read = time.perf_counter() - started

    def from_memory(text: str, tokens: int, query: str | None = None) -> str:
        return ask(model, tokenizer, copy.deepcopy(cache), text, tokens)

    rows["block_memory"] = {**_answered(doc, from_memory, "block memory"), "read_s": round(read, 1),
                            "kv_mib_in_ram_peak": round(memory_bytes(cache)["peak_ram"] / 2**20, 1),
                            "transformers_cache_mib": round(transformers_cache_bytes(model.config, ids.shape[1]) / 2**20, 1)}

    # The same read, each prompt answered from the blocks it recalls, read again (recall.py).
    reader = RecallReader(model, tokenizer).read(ids, cache)
    rows["recall_reread"] = _answered(doc, lambda text, tokens, query=None: reader.ask(text, tokens).answer,
                                      "recall and re-read")

    # Retrieval: the workspace's index over the clauses, built once (the app does it when a file is added).
    clauses = [c for c in doc.clauses if "." in c.number]  # headings are not clauses
    started = time.perf_counter()
    index = HybridIndex([Passage(c.text, Locator("contract.pdf", page=c.page)) for c in clauses])
    index_s = time.perf_counter() - started
    for way, follow in (("retrieval_only", False), ("retrieval_and_cited_clauses", True)):
        def from_clauses(text: str, tokens: int, query: str) -> str:
            prompt = "\n".join(doc.clause(n).text for n in _retrieve(index, clauses, doc, query, follow))
            return ask(model, tokenizer, model.new_cache(), f"{prompt}\n\n{text}", tokens, bos=True)

        both = sum({q.defining, q.citing} <= set(_retrieve(index, clauses, doc, q.question, follow))
                   for q in doc.questions)
        rows[way] = {**_answered(doc, from_clauses, way.replace("_", " ")),
                     "both_clauses_in_first_prompt": f"{both}/{len(doc.questions)}"}
    return {"pages": doc.pages, "tokens": ids.shape[1], "clauses": len(clauses), "questions": len(doc.questions),
            "index_s": round(index_s, 1), "retrieved_clauses": RETRIEVED, **rows}


def _answered(doc: Contract, answer: Callable[..., str], name: str) -> dict:
    """Each question in one pass and by quoting and resolving; ``answer(text, tokens, query)``
    continues ``text`` after the contract or the clauses retrieved for ``query``."""
    one, resolved, one_s, resolved_s = [], [], [], []
    for q in tqdm(doc.questions, desc=f"contract, {name}", unit="question"):
        started = time.perf_counter()
        one.append(_first_line(answer(f"{q.question} {q.stem}", ANSWER_TOKENS, q.question)))
        one_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        resolved.append(quote_then_term(lambda text, tokens: answer(text, tokens, q.question),
                                        lambda term, clause: answer(_term_prompt(term, clause), TERM_TOKENS,
                                                                    f"The {term} is"),
                                        q.question, one[-1]))
        resolved_s.append(time.perf_counter() - started)
    return {"one_pass": _scored(doc.questions, one, one_s), "quote_then_term": _scored(doc.questions, resolved, resolved_s)}


def _retrieve(index, clauses, doc: Contract, query: str, follow: bool) -> list[str]:
    """Clause numbers for the prompt, in contract order: the best ``RETRIEVED`` for the query and,
    with ``follow``, the clauses they cite."""
    numbers = [clauses[slot].number for slot, _ in index.ranked(query, k=RETRIEVED)]
    if follow:
        numbers += [n for c in list(numbers) for n in cited(doc.clause(c).text) if n not in numbers]
    order = {c.number: k for k, c in enumerate(doc.clauses)}
    return sorted(set(numbers), key=order.__getitem__)


def _scored(questions, answers: list[str], seconds: list[float]) -> dict:
    # the value as a number of its own: "18" in "18 months", not in "180" or "clause 18.2"
    right = [re.search(rf"(?<![\d.]){q.answer}(?!\d|\.\d)", a) is not None for q, a in zip(questions, answers)]
    return {"right": f"{sum(right)}/{len(questions)}", "accuracy": round(sum(right) / len(questions), 3),
            "answer_s_median": _median(seconds),
            "wrong": [f"{q.citing}->{q.defining}: {a!r} for {q.answer}" for q, a, ok in zip(questions, answers, right)
                      if not ok]}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[len(ordered) // 2], 2) if ordered else 0.0
