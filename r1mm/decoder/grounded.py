"""Answers written by the R1 decoder from numbered evidence, and checked against it.

The decoder sees the question and the evidence lines ([E1] …), plus the latent tokens of the
files' encoders when a projector is given, and writes a short answer citing evidence ids.
Before the answer is shown as the decoder's, every number in it must appear in the evidence
it cites (or in the question), as written or correctly rounded to at least 3 significant digits,
on the same side (left/right) and with the same unit as there, and every cited id must exist;
otherwise the caller falls back to the findings-only answer and says why. A 270M model
paraphrases well and copies numbers well, but this check is what lets a user trust the numbers.
"""
from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from r1mm.decoder.head import head_samples, mask_banned
from r1mm.decoder.step import ring_windows
from r1mm.numbers import NUMBER, numbers_in
from r1mm.types import CITATION, Evidence

if TYPE_CHECKING:
    from r1mm.decoder.step import Int8Layers

MAX_NEW_TOKENS = 64
INSTRUCTION = "Answer the question from the evidence only, in one sentence, citing evidence ids like [E1].\n\n"
EXAMPLE = ("Evidence:\n[E1] Net income, Q2 2026: 52.3 USD millions (page 2, table 1)\n"
           "[E2] Net income, Q2 2025: 47.0 USD millions (page 2, table 1)\n"
           "Question: What was net income in Q2 2026?\n"
           "Answer: Net income in Q2 2026 was 52.3 USD millions [E1].\n\n")
NO_CITATION = "the decoder cited no evidence"
# A number's clause: what a side word or a unit next to it refers to.
_CLAUSE = re.compile(r"[,;()]|\b(?:and|but|while|whereas)\b", re.IGNORECASE)
_SIDE = re.compile(r"\b(left|right)\b", re.IGNORECASE)
_WORD_AFTER = re.compile(r"\s*([^\s\d.,;:()\[\]\"'“”‘’]+)")
UNITS = {"mm", "mm²", "mm³", "cm", "m", "ml", "hu", "%", "s", "ms", "min", "usd", "eur", "gbp", "nodule", "slice",
         "dent", "bump", "point", "face", "voxel", "pixel", "px", "in", "inch", "deg", "°"}


def prompt_for(question: str, evidence: list[Evidence], media: bool = False, lead: str = "") -> str:
    """The decoder's prompt; with ``media``, each evidence line holding a media token ends in a
    marker where its soft token goes (see soft.py). ``lead`` opens the answer for the decoder
    (the findings' "Yes," or "No,"), so it continues from there."""
    from r1mm.decoder.soft import MARKER

    lines = "\n".join(f"[{e.id}] {e.text}" + (f" {MARKER}" if media and e.latent is not None else "")
                      for e in evidence)
    return f"{INSTRUCTION}{EXAMPLE}Evidence:\n{lines}\nQuestion: {question}\nAnswer:" + (f" {lead}" if lead else "")


def lead_for(question: str, evidence: list[Evidence]) -> str:
    """How the answer must open: "Yes," or "No," when the findings settle a yes/no question, else nothing."""
    from r1mm.decoder.verdict import decide

    verdict = decide(question, [e.finding for e in answering(evidence)])
    return f"{verdict}," if verdict else ""


# A sentence ends at ".", "!" or "?" (not a decimal point), after any citations that follow it, where
# the next word begins; the draft is cut there.
_SENTENCE_END = re.compile(r"^(.*?[.!?](?:\s*\[E\d+\]\.?)*)\s+[^\s\[]", re.DOTALL)
NO_REPEAT_TOKENS = 6  # a run of this many generated tokens is never generated twice


def first_sentence(text: str) -> str | None:
    """``text`` cut after its first sentence (and the citations right after it), once the next
    sentence has begun; None while the first sentence may still go on."""
    end = _SENTENCE_END.match(text)
    return end.group(1) if end else None


def _rounds_to(written: str, exact: str) -> bool:
    """``written`` is ``exact`` correctly rounded (half up) and keeps at least 3 significant digits:
    84.8 for 84.81 and 1,285 for 1,284.6 pass; 1.68 for 1.689, and 1 for 1.4, do not."""
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

    try:
        w, e = Decimal(written), Decimal(exact)
    except InvalidOperation:
        return False
    if w == e:
        return True
    digits = written.replace(".", "").lstrip("0")
    places = -w.as_tuple().exponent
    if len(digits) < 3 or places >= -e.as_tuple().exponent:
        return False
    return e.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP) == w


_PERIOD_NUMBER = re.compile(
    r"\b(?:Q|H)([1-4])\b|\bFY\s?'?(\d{2}(?:\d{2})?)\b|(?<![\d,.])((?:19|20)\d{2})(?![\d,]|\.\d)|"
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? (\d{1,2})\b", re.IGNORECASE)


def unsupported_numbers(answer: str, question: str, evidence: list[str]) -> list[str]:
    """The numbers ``answer`` states that no evidence text holds (as written, or correctly rounded).
    Of the question's numbers only those naming a period may be restated: "Was revenue 2,000?" is
    not answered "Revenue was 2,000" unless the evidence says so."""
    supported = period_numbers(question).union(*(numbers_in(text) for text in evidence))
    return sorted(n for n in numbers_in(answer) if _standing_for(n, supported) is None)


def period_numbers(question: str) -> set[str]:
    """The numbers of a question that name a period: years ("2024", not "2,024"), quarters and halves
    ("Q3", "H1"), fiscal years ("FY24") and days of a month ("June 30")."""
    return {n for match in _PERIOD_NUMBER.finditer(question) for n in match.groups() if n}


def _standing_for(written: str, supported: set[str]) -> str | None:
    """The supported number ``written`` states: itself, or the one it correctly rounds."""
    if written in supported:
        return written
    return next((n for n in sorted(supported) if _rounds_to(written, n)), None)


def evidence_holding_numbers(answer: str, question: str, evidence: list[Evidence]) -> Evidence | None:
    """The first evidence line holding every number the answer states beyond the question's; None
    when the answer states none, or no line holds them all."""
    wanted = numbers_in(CITATION.sub("", answer)) - period_numbers(question)
    if not wanted:
        return None
    return next((e for e in evidence if all(_standing_for(n, numbers_in(e.text)) for n in wanted)), None)


def _claims(text: str) -> list[tuple[str, str | None, str | None]]:
    """(number, the side named in its clause, the unit right after it) for each number in ``text``."""
    out = []
    for clause in _CLAUSE.split(CITATION.sub("", text)):
        sides = {m.lower() for m in _SIDE.findall(clause)}
        side = sides.pop() if len(sides) == 1 else None
        for m in NUMBER.finditer(clause):
            word = _WORD_AFTER.match(clause, m.end())
            unit = word.group(1).lower() if word else None
            unit = unit[:-1] if unit and unit.endswith("s") and unit[:-1] in UNITS else unit
            out.append((m.group().replace(",", "").rstrip("."), side, unit if unit in UNITS else None))
    return out


def _misplaced(answer: str, cited: list[Evidence]) -> str | None:
    """A number the answer ties to a side the cited evidence never states with it ("1 in the right
    lung" where the evidence says "1 in the left"), or to another unit than every place the
    evidence has it; None when none is."""
    where: dict[str, list[tuple[str | None, str | None]]] = {}
    for e in cited:
        for number, side, unit in _claims(e.text):
            where.setdefault(number, []).append((side, unit))
    for number, side, unit in _claims(answer):
        places = where.get(_standing_for(number, set(where)) or number)
        if not places:
            continue  # from the question
        sides = {s for s, _ in places}
        if side and side not in sides:  # strict: a side must be stated with the number, not inferred
            named = sorted(s for s in sides if s)
            return (f"the decoder put {number} on the {side} side; the cited evidence "
                    + (f"has it on the {named[0]}" if named else "names no side for it"))
        units = {u for _, u in places}
        if unit == "%" and "%" not in units:  # a percent is never another unit's number
            return f"the decoder wrote {number}%; the cited evidence has no {number}%"
        if unit and unit not in units and None not in units:
            return f"the decoder wrote {number} {unit}; the cited evidence has {number} {units.pop()}"
    return None


def check_grounding(answer: str, question: str, evidence: list[Evidence]) -> str | None:
    """None if the answer is supported and answers what was asked; otherwise the reason it is not.

    The numbers, sides and units it states must stand in the evidence it cites; what the question
    asks for (the value, its unit, the side, the period, yes or no) must be stated when the
    findings hold it; and it must read as one finished sentence that neither repeats itself nor
    restates the question.
    """
    if not answer.strip():
        return "the decoder wrote nothing"
    ids = {e.id for e in evidence}
    cited = CITATION.findall(answer)
    if not cited:
        return NO_CITATION
    unknown = [c for c in cited if c not in ids]
    if unknown:
        return f"the decoder cited evidence that does not exist ({', '.join(unknown)})"
    cited_evidence = [e for e in evidence if e.id in cited]
    unsupported = unsupported_numbers(CITATION.sub("", answer), question, [e.text for e in cited_evidence])
    if unsupported:
        return f"the decoder wrote numbers not in the cited evidence ({', '.join(unsupported)})"
    unanswered = _financial_value_unanswered(answer, question, evidence)
    if unanswered:
        return unanswered
    return (_misplaced(answer, cited_evidence) or _unsupported_side(answer, cited_evidence)
            or _restated(answer, question) or _repeated(answer) or _unfinished(answer)
            or _wrong_verdict(answer, question, evidence) or _missing(answer, question, evidence))


def _financial_value_unanswered(answer: str, question: str, evidence: list[Evidence]) -> str | None:
    """A question about a financial metric that no line item answered: a number the draft takes from
    a retrieved passage must stand in a line that names the metric and the year asked ("cash
    proceeds of $772 million" is not capital expenditure, whatever numbers they share)."""
    from r1mm.analysis.metrics import metrics_asked

    asked = {m.name for _, m in metrics_asked(question)}
    if answering(evidence) or not asked:
        return None
    years = _years_named(question)
    cited = {m.group(1) for m in CITATION.finditer(answer)}
    lines = [e.text for e in evidence if e.id in cited]
    for number in sorted(numbers_in(CITATION.sub("", answer)) - numbers_in(question)):
        holding = [t for t in lines if any(_rounds_to(number, n) for n in numbers_in(t))]
        if not any(asked & {m.name for _, m in metrics_asked(t)} and (not years or years & _years_named(t))
                   for t in holding):
            return (f"the draft states {number} from a line that is not the metric or year asked "
                    f"({', '.join(sorted(asked))}{', ' + ', '.join(map(str, sorted(years))) if years else ''})")
    return None


def _years_named(text: str) -> set[int]:
    """Years a text names: 2018, FY2018, FY18, fiscal 2018."""
    years = {int(y) for y in re.findall(r"\b((?:19|20)\d\d)\b", text)}
    years |= {2000 + int(y) for y in re.findall(r"\bFY'?(\d\d)\b", text, flags=re.I)}
    years |= {int(y) for y in re.findall(r"\bFY ?((?:19|20)\d\d)\b", text, flags=re.I)}
    return years


# ---- what the question asks for must be in the draft ---------------------------------------

_ASKS_SIDE = re.compile(r"\b(which|what|where|left or right)\b.*\b(lung|side|lobe)\b|\bwhere\b|\bleft or right\b",
                        re.IGNORECASE)
PERIOD = re.compile(r"\b(?:Q[1-4]|H[12]|FY|9M)\s?\d{4}\b", re.IGNORECASE)
_NUMBER_WORDS = {w: str(k) for k, w in enumerate("zero one two three four five six seven eight nine ten eleven "
                                                 "twelve".split())}
# How many of the findings answer's lines must have their values in the draft: the first lines are
# what the question asked for; later ones are context the draft may leave out.
REQUIRED_LINES = 2


def answering(evidence: list[Evidence]) -> list[Evidence]:
    """The evidence lines that are findings chosen to answer the question, not retrieved."""
    from r1mm.decoder.extractive import ANSWERING_SCORE

    return [e for e in evidence if e.finding is not None and e.score >= ANSWERING_SCORE]


def _values(e: Evidence) -> list[float]:
    value = e.finding.value if e.finding is not None else None
    if isinstance(value, dict):  # a computed answer or a line item: its number
        value = value.get("value", value.get("amount"))
    values = value if isinstance(value, (list, tuple)) else [value]
    return [abs(float(v)) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _written_for(value: float, text: str) -> str | None:
    """How ``text`` (an evidence line) writes ``value``: the number in it that equals or rounds to it."""
    return next((n for n in sorted(numbers_in(text)) if _close(float(n), value)), None)


def _close(written: float, value: float) -> bool:
    """``written`` is ``value`` as a finding's text shows it: to 0.1, or to 3 significant digits for
    values of 1,000 and more ("1,765 mL" for 1765.3)."""
    return abs(written - value) <= 0.051 * max(1.0, 10 ** (len(str(int(abs(value)))) - 3))


def _missing(answer: str, question: str, evidence: list[Evidence]) -> str | None:
    """What the question asks for and the findings hold, but the draft leaves out."""
    lines = answering(evidence)
    if not lines:
        return None
    body = _words_as_digits(CITATION.sub("", answer))
    stated = numbers_in(body)
    claims = _claims(body)
    for e in [e for e in lines if _values(e)][:REQUIRED_LINES]:
        for value in _values(e):
            exact = _written_for(value, e.text)
            if exact is None:
                continue
            written = _standing_for_any(exact, stated)
            if written is None:
                return f"the decoder left out {exact} ({e.id}), which the question asks for"
            # one side's part ("1 in the right lung, 0 in the left") does not state a whole the line
            # writes apart from its parts ("1 lung nodule (1 in the right lung, …)")
            if _only_as_part(written, body) and not _only_as_part(exact, e.text):
                return f"the decoder wrote {written} only as one side's part, not the {exact} ({e.id}) asked for"
            # the finding's own unit, where the line writes the value with it ("15.0 mm"; a count's
            # "3 lung nodules" has none, even when "under 3 mm" stands in the same line)
            want = {u for n, _, u in _claims(e.text) if n == exact and u} & {_unit_word(e.finding.unit)}
            got = {u for n, _, u in claims if n == written}
            if want and not want & got:
                return f"the decoder wrote {written} without its unit ({want.pop()})"
    if _ASKS_SIDE.search(question):
        sides = {s.lower() for s in _SIDE.findall(lines[0].text)}
        if len(sides) == 1 and sides.pop() not in body.lower():
            return f"the decoder did not say which side ({lines[0].id} names it)"
    held = " ".join(e.text for e in lines)
    for period in PERIOD.findall(question):
        if _norm(period) in _norm(held) and _norm(period) not in _norm(body):
            return f"the decoder left out the period asked for ({period})"
    for period in PERIOD.findall(body):
        if _norm(period) not in _norm(" ".join(e.text for e in evidence)) and _norm(period) not in _norm(question):
            return f"the decoder named a period the evidence does not have ({period})"
    return None


_PART = r"\s+in the (?:left|right)\b"


def _only_as_part(number: str, text: str) -> bool:
    """Whether every time ``text`` writes ``number`` it is a side's part ("1 in the right lung")."""
    at = [m for m in re.finditer(rf"(?<![\d.,]){re.escape(number)}(?![\d,]|\.\d)", text.replace(",", ""))]
    return bool(at) and all(re.match(_PART, text.replace(",", "")[m.end():]) for m in at)


def _unit_word(unit: str | None) -> str | None:
    """A finding's unit as the grounding check reads units after a number: "USD millions" → "usd"."""
    return unit.split()[0].lower() if unit else None


def _standing_for_any(exact: str, stated: set[str]) -> str | None:
    """The number of ``stated`` that writes ``exact`` (as is, or correctly rounded)."""
    return next((n for n in sorted(stated) if _rounds_to(n, exact)), None)


def _words_as_digits(text: str) -> str:
    return re.sub(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", lambda m: _NUMBER_WORDS[m.group(1).lower()], text,
                  flags=re.IGNORECASE)


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text.lower())


def _wrong_verdict(answer: str, question: str, evidence: list[Evidence]) -> str | None:
    """A yes/no answer must open with the findings' verdict, and only then."""
    from r1mm.decoder.verdict import decide

    verdict = decide(question, [e.finding for e in answering(evidence)])
    first = re.match(r"\W*(\w+)", answer)
    opens = first.group(1).capitalize() if first else ""
    if verdict and opens != verdict:
        return f"the findings answer {verdict.lower()}; the decoder's draft does not open with it"
    if not verdict and opens in ("Yes", "No"):
        return f"the decoder answered {opens.lower()}, which the findings do not settle"
    if verdict == "No" and _echoes(answer, question) and not _NEGATION.search(answer[len(first.group(0)):]):
        return "the findings answer no; the decoder's sentence after it says yes"
    return None


_NEGATION = re.compile(r"\b(not|no|never|none|neither|nor|disagree\w*|differ\w*|contradict\w*|mismatch\w*)\b|n't",
                       re.IGNORECASE)


def _echoes(answer: str, question: str, run: int = 4) -> bool:
    """The answer repeats ``run`` words in a row of the question."""
    asked, said = _words(question), " ".join(_words(answer))
    return any(" ".join(asked[k:k + run]) in said for k in range(len(asked) - run + 1))


# ---- the draft must read as one finished sentence -----------------------------------------

_INTERROGATIVES = {"what", "which", "how", "where", "when", "who", "whose", "why"}
REPEAT_NGRAM = 4  # words


def _unfinished(answer: str) -> str | None:
    body = CITATION.sub("", answer).strip()
    if not re.search(r"[.!][\s\"'”)]*$", body):  # a draft cut off at the token limit ends mid-phrase
        return "the decoder's draft stops mid-sentence"
    return None


def _words(text: str) -> list[str]:
    """Words and numbers, lower-cased, without citations and punctuation."""
    return re.findall(r"\d[\d,.]*\d|\d|[^\W\d_]+|%", CITATION.sub("", text).lower())


def _repeated(answer: str) -> str | None:
    words = _words(answer)
    seen = set()
    for k in range(len(words) - REPEAT_NGRAM + 1):
        gram = tuple(words[k:k + REPEAT_NGRAM])
        if gram in seen:
            return f"the decoder repeated a phrase (“{' '.join(gram)}”)"
        seen.add(gram)
    return None


def _restated(answer: str, question: str) -> str | None:
    if "?" in answer:
        return "the decoder restated the question"
    asked, said = _words(question), " ".join(_words(answer))
    for a, b in zip(asked, asked[1:]):
        if a in _INTERROGATIVES and f"{a} {b}" in said:
            return f"the decoder restated the question (“{a} {b}”)"
    return None


def _unsupported_side(answer: str, cited: list[Evidence]) -> str | None:
    """A side the draft names that no cited line names."""
    named = {s.lower() for s in _SIDE.findall(CITATION.sub("", answer))}
    held = {s.lower() for e in cited for s in _SIDE.findall(e.text)}
    extra = sorted(named - held)
    if extra:
        return f"the decoder named the {extra[0]} side; the cited evidence does not"
    return None


@dataclass
class Draft:
    """A decoder answer being written; ``text`` grows while ``pieces`` is consumed."""
    text: str = ""
    routing: dict = field(default_factory=dict)
    seconds: float = 0.0
    first_token_seconds: float = 0.0  # the prompt read and the first token chosen
    tokens: int = 0


class GroundedDecoder:
    """Wraps a loaded R1ForCausalLM and its tokenizer for evidence-grounded answers."""

    def __init__(self, model, tokenizer, name: str, folder=None):
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.folder = folder  # where a built decoder keeps its soft-token projector
        self._soft = None
        self._lock = threading.Lock()  # one answer at a time: routing traces live on the model
        self.screened_head = True  # False: every token from the full fp32 head (bench decoder compares)
        self.int8_layers = True    # False: answer tokens from the fp32 layers (bench decoder compares)
        self._int8: Int8Layers | None = None

    def soft_projector(self):
        """Media latents → input embeddings, fitted on first use and cached beside the decoder."""
        if self._soft is None:
            from r1mm.decoder.soft import SoftProjector

            self._soft = SoftProjector.for_model(self.model, self.tokenizer, self.folder)
        return self._soft

    @functools.cached_property
    def _head_samples(self) -> torch.Tensor:
        return head_samples(self.tokenizer)

    def warm_up(self) -> GroundedDecoder:
        """Build now what the first answer would wait for: the output head's int8 screen (about 3 s)
        and the int8 layers (under 1 s)."""
        self.model.screened_head(self._head_samples)
        self._step_layers()
        return self

    def _step_layers(self) -> Int8Layers | None:
        """The int8 layers answer tokens come from (rebuilt after the weights change), or None: fp32."""
        from r1mm.decoder.step import Int8Layers

        if not self.int8_layers or not Int8Layers.fit(self.model.config):
            return None
        if self._int8 is None or self._int8.model is not self.model or self._int8.stale():
            self._int8 = Int8Layers(self.model)
        return self._int8

    def describe(self) -> str:
        c = self.model.config
        return (f"{self.name}: {c.base_model}, 1 shared + {c.moe_num_experts} routed experts, "
                f"{c.moe_routing} routing")

    def stream(self, question: str, evidence: list[Evidence], draft: Draft) -> Iterator[str]:
        """Yield text pieces as they are decoded (greedy); fills ``draft`` as it goes. Media
        evidence (image cells, audio spans, CT cells, point-cloud regions) also enters as soft tokens."""
        prompt, soft, lead = self._prompt(question, evidence)
        if lead:
            yield lead
        yield from self.complete(prompt, draft, soft=soft, one_sentence=True, lead=lead)

    def _prompt(self, question: str, evidence: list[Evidence]) -> tuple[str, torch.Tensor | None, str]:
        """(prompt text, one soft token per media marker in it or None, the answer's lead already in it)."""
        latents = [e.latent for e in evidence if e.latent is not None]
        soft = self.soft_projector()(np.stack(latents)) if latents else None
        lead = lead_for(question, evidence)
        return prompt_for(question, evidence, media=bool(latents), lead=lead), soft, lead

    def input_embeddings(self, question: str, evidence: list[Evidence]) -> torch.Tensor:
        """What ``stream`` feeds the model for this question, as input embeddings [1, tokens, hidden]."""
        prompt, soft, _ = self._prompt(question, evidence)
        return self._embed(prompt, soft)

    def _embed(self, prompt: str, soft: torch.Tensor | None) -> torch.Tensor:
        if soft is None:
            return self.model.get_input_embeddings()(self.tokenizer(prompt, return_tensors="pt").input_ids)
        from r1mm.decoder.soft import prompt_embeddings

        return prompt_embeddings(self.model, self.tokenizer, prompt, soft)

    def complete(self, prompt: str, draft: Draft, max_new_tokens: int = MAX_NEW_TOKENS,
                 stop_at_newline: bool = True, soft: torch.Tensor | None = None, one_sentence: bool = False,
                 lead: str = "") -> Iterator[str]:
        """Continue ``prompt`` greedily, piece by piece (what the model server streams), never
        generating the same run of ``NO_REPEAT_TOKENS`` tokens twice; ``soft`` holds one input
        embedding per media marker in the prompt. With ``one_sentence`` it stops at the end of the
        first sentence; ``lead`` is the text the prompt already put at the start of the answer
        (kept in ``draft.text``)."""
        with self._lock:
            yield from self._stream(prompt, draft, max_new_tokens, stop_at_newline, soft, one_sentence, lead)

    @torch.no_grad()
    def _stream(self, prompt: str, draft: Draft, max_new_tokens: int, stop_at_newline: bool,
                soft: torch.Tensor | None = None, one_sentence: bool = False, lead: str = "") -> Iterator[str]:
        started = time.perf_counter()
        tok = self.tokenizer
        self.model.record_routing(True)
        traces: list[list] = []
        cache = self.model.new_cache()
        embeds = self._embed(prompt, soft)
        prompt_tokens = embeds.shape[1]
        logits = self.model.prefill(None, cache, inputs_embeds=embeds)
        ring_windows(cache)  # answer tokens overwrite the oldest window entries instead of copying
        traces.append(self.model.routing_trace())
        generated: list[int] = []
        shown = ""
        eos = self.model.config.eos_token_id
        stops = {tok.eos_token_id, tok.pad_token_id, *(eos if isinstance(eos, (list, tuple)) else [eos])} - {None}
        head = self.model.screened_head(self._head_samples) if self.screened_head else None
        layers = self._step_layers() or self.model  # what turns a token into a hidden state
        hidden = None
        for step in range(max_new_tokens):
            banned = _banned_repeats(generated, NO_REPEAT_TOKENS)
            if logits is None:
                next_id, _ = head.argmax(hidden, banned)
            else:  # the prompt's last token (its logits came with the prompt), or no screen
                next_id = int(mask_banned(logits, banned).argmax(-1))
            if step == 0:
                draft.first_token_seconds = time.perf_counter() - started
            if next_id in stops:
                break
            generated.append(next_id)
            text = tok.decode(generated, skip_special_tokens=True)
            sentence = first_sentence(text) if one_sentence else None
            if (stop_at_newline and "\n" in text) or sentence is not None:
                text = sentence if sentence is not None else text.split("\n")[0]
                piece = text[len(shown):]
                if piece:
                    yield piece
                shown = text
                break
            if not text.endswith("\ufffd"):          # wait for whole characters
                piece, shown = text[len(shown):], text
                draft.text = f"{lead}{shown}".strip()
                if piece:
                    yield piece
            hidden = layers.hidden_step(torch.tensor([[next_id]]), cache)
            logits = None if head else self.model.lm_head(hidden)
            traces.append(self.model.routing_trace())
        self.model.record_routing(False)
        draft.text = f"{lead}{shown}".strip()
        draft.tokens = len(generated)
        draft.seconds = time.perf_counter() - started
        draft.routing = summarise_routing(traces, self.model.config, prompt_tokens, cache)
        draft.routing["answer_weights"] = "fp32" if layers is self.model else "int8"


def _banned_repeats(generated: list[int], n: int) -> set[int]:
    """Every token that would complete a run of ``n`` generated tokens seen before."""
    if len(generated) < n:
        return set()
    tail = tuple(generated[-(n - 1):])
    return {generated[k + n - 1] for k in range(len(generated) - n + 1) if tuple(generated[k:k + n - 1]) == tail}


def summarise_routing(traces: list[list], config, prompt_tokens: int, cache) -> dict:
    """Per layer: mean router entropy, experts per token, how often each expert fired; KV memory."""
    from r1mm.decoder.kv import full_attention_kv_bytes
    from r1mm.decoder.memory import memory_bytes
    from r1mm.decoder.moe import ffn_flops_per_token

    layers = []
    for i in range(config.num_hidden_layers):
        steps = [t[i] for t in traces if t[i] is not None]
        if not steps:
            continue
        chosen = torch.cat([s.chosen for s in steps])
        entropy = torch.cat([s.entropy for s in steps])
        layers.append({"layer": i, "entropy_mean": round(float(entropy.mean()), 3),
                       "experts_per_token": round(float(chosen.sum(-1).float().mean()), 2),
                       "expert_use": [round(float(v), 3) for v in chosen.float().mean(0)],
                       # The answer's own tokens (after the prompt), for the per-token view.
                       "answer_entropy": [round(float(v), 3) for v in entropy[prompt_tokens:]],
                       "answer_experts": [int(v) for v in chosen[prompt_tokens:].sum(-1)]})
    tokens = sum(int(t[0].chosen.shape[0]) for t in traces if t and t[0] is not None)
    experts = sum(l["experts_per_token"] for l in layers) / max(1, len(layers))
    dense = 3 * config.hidden_size * config.intermediate_size
    held = memory_bytes(cache)
    return {"layers": layers, "tokens": tokens, "prompt_tokens": prompt_tokens,
            "routing_mode": config.moe_routing, "num_experts": config.moe_num_experts,
            "ffn_flops_vs_dense": round(ffn_flops_per_token(config, experts) / dense, 3),
            "kv_memory": config.kv_memory, "kv_bytes": held["ram"], "kv_disk_bytes": held["disk"],
            "kv_local": config.kv_local, "kv_block": config.kv_block,
            "kv_bytes_full_attention": full_attention_kv_bytes(config, cache.get_seq_length())}
