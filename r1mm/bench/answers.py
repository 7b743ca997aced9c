"""Who writes the answers, the R1 decoder or the findings, and can the user trust what is shown?

Generated CT phantoms (1–4 nodules), plates with a dent, and quarterly reports with an earnings
call (some figures misstated on the call), asked the ways clinicians, engineers and analysts ask:
totals, sizes with and without "and in which lung", yes/no questions that expect "Yes" or "No"
first, periods and last year, percent changes, margins, whether the call matches the report. For
each question the same workspace answers twice in one run: from the findings alone, and with the
decoder writing a draft that the grounding check keeps or refuses (then the findings answer is
shown). Each shown answer is scored against the planted truth.

Goals: the decoder's "kept and wrong" stays 0, and "shown right" with the decoder is at least the
findings-only "shown right".
"""
from __future__ import annotations

import collections
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from r1mm.numbers import numbers_in
from r1mm.types import CITATION

Check = Callable[[str], bool]
Question = tuple[str, Check]


# ---- how a shown answer is scored ------------------------------------------------------------

def without_refusal_note(text: str) -> str:
    """The answer without the note that the decoder's draft was refused: what is scored is what the
    answer states (the note no longer quotes the draft's reason; older answers did)."""
    return re.sub(r" \(the language model's draft was not used(?:: .*?)?\): ", ": ", text, count=1, flags=re.DOTALL)


def has(value: float, tolerance: float) -> Check:
    """The answer states ``value`` (within ``tolerance``) somewhere, ignoring evidence ids: for
    questions that ask for several numbers at once (a part's dimensions)."""
    return lambda t: any(abs(float(n) - abs(value)) <= tolerance for n in numbers_in(CITATION.sub("", t)))


_NUMBER_WORDS = {w: k for k, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}
_STATED = r"(?<![\w.])(\d[\d,]*(?:\.\d+)?|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b)"
# numbers that name, date or qualify something rather than state the value asked: "Nodule 1", "slices
# 12-18", "Q3", "FY2025", "2025-12-31", a side's part ("1 in the right lung"), a caveat ("under 3 mm")
_NOT_STATED = re.compile(r"\b(?:nodules?|slices?|page|table|row|column|col)\s*\d[\d,.]*(?:\s*[-–]\s*\d+)?|"
                         r"\b(?:Q[1-4]|H[12])\b|\bFY\s?\d{2,4}\b|\b(?:19|20)\d{2}(?:-\d{2}){0,2}\b|"
                         r"(?<![\w.])\w+ in the (?:left|right)\b|\b(?:under|below|over|above)\s+\d[\d,.]*",
                         re.IGNORECASE)


def stated_value(text: str, unit: str | None = None) -> float | None:
    """The value an answer states: the first number written before ``unit`` (a regex: "mm",
    "(lung )?nodules?", "%"), else the first number that does not name, date or qualify something;
    number words count ("Two nodules")."""
    text = _NOT_STATED.sub(" ", CITATION.sub("", text))
    m = re.search(_STATED + r"\s*(?:" + unit + r")(?!\w)", text, re.IGNORECASE) if unit else None
    m = m or re.search(_STATED, text, re.IGNORECASE)
    if m is None:
        return None
    word = m.group(1).lower()
    return float(_NUMBER_WORDS[word]) if word in _NUMBER_WORDS else float(word.replace(",", ""))


def states(value: float, tolerance: float, unit: str | None = None) -> Check:
    """The value the answer states (`stated_value`) is ``value``, within ``tolerance``: another number
    that happens to be near it elsewhere in the answer does not count ("candidates under 3 mm")."""
    def check(t: str) -> bool:
        got = stated_value(t, unit)
        return got is not None and abs(abs(got) - abs(value)) <= tolerance
    return check


def side(right_side: str) -> Check:
    """The answer names the right side, and never the other one."""
    other = "left" if right_side == "right" else "right"
    return lambda t: right_side in t.lower() and other not in t.lower()


def not_other_side(right_side: str) -> Check:
    other = "left" if right_side == "right" else "right"
    return lambda t: f"{other} lung" not in t.lower() or f"{right_side} lung" in t.lower()


def opens_with(word: str) -> Check:
    return lambda t: re.match(rf"\W*{word}\b", t, re.IGNORECASE) is not None


def every(*checks: Check) -> Check:
    return lambda t: all(c(t) for c in checks)


# ---- cases -----------------------------------------------------------------------------------

def ct_case(seed: int, folder: Path) -> tuple[Path, list[Question]]:
    from r1mm.bench.ct import make_case
    from r1mm.cases.ct import nodule_side, phantom_volume, write_dicom_series

    case = make_case(seed)
    while not case.phantom.nodules:
        seed += 1000
        case = make_case(seed)
    ph = case.phantom
    write_dicom_series(phantom_volume(ph), ph.spacing_mm, folder, seed=seed, patient_id=f"P{seed}")
    largest = max(ph.nodules, key=lambda n: n.diameter_mm)
    where = nodule_side(ph, largest)
    other = "left" if where == "right" else "right"
    limit = 10.0 if abs(largest.diameter_mm - 10.0) > 1.0 else 20.0
    count = states(len(ph.nodules), 0, r"(?:lung )?nodules?")
    return folder, [
        ("How many nodules are in the lungs?", count),
        ("How many lung nodules are there in total?", count),
        ("What is the total number of nodules in both lungs?", count),
        ("How large is the largest nodule and in which lung?",
         every(states(largest.diameter_mm, 0.5, "mm"), side(where))),
        ("What is the diameter of the largest nodule, in mm?",
         every(states(largest.diameter_mm, 0.5, "mm"), not_other_side(where))),
        ("Which lung has the largest nodule?", side(where)),
        ("Are there any nodules?", opens_with("yes")),
        (f"Is the largest nodule in the {other} lung?", opens_with("no")),
        (f"Is the largest nodule in the {where} lung?", opens_with("yes")),
        (f"Is the largest nodule larger than {limit:g} mm?",
         opens_with("yes" if largest.diameter_mm > limit else "no")),
        ("What is the slice thickness?", states(case.thickness_mm, 1e-6, "mm")),
        ("How many slices are there?", states(ph.shape[0], 0, "slices")),
    ]


def plate_case(seed: int, folder: Path) -> tuple[Path, list[Question]]:
    from r1mm.cases.parts import plate_with_dent, write_ply

    rng = np.random.default_rng(seed)
    depth = float(rng.uniform(0.8, 2.5))
    path = folder.with_suffix(".ply")
    write_ply(path, plate_with_dent(40_000, dent_centre=(rng.uniform(20, 100), rng.uniform(15, 65)),
                                    dent_depth=depth, seed=seed))
    limit = 1.5 if abs(depth - 1.5) > 0.1 else 2.0
    return path, [
        ("How deep is the deepest dent?", states(depth, 0.05, "mm")),
        ("What is the depth of the dent in mm?", states(depth, 0.05, "mm")),
        ("What are the part's dimensions?", every(has(120.0, 0.5), has(80.0, 0.5))),
        ("Is there a dent?", opens_with("yes")),
        (f"Is the deepest dent deeper than {limit:g} mm?", opens_with("yes" if depth > limit else "no")),
    ]


def report_case(seed: int, folder: Path) -> tuple[list[Path], list[Question]]:
    from r1mm.bench.finance import make_case
    from r1mm.cases.finance import write_call_audio, write_report_pdf

    case = make_case(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pdf, wav = folder / "report.pdf", folder / "call.wav"
    write_report_pdf(pdf, case["rows"], case["periods"], unit_phrase=case["unit_phrase"],
                     number_format=case["format"], intro_pages=case["intro_pages"])
    write_call_audio(wav, case["script"], words_per_minute=case["speed"])
    rows = {metric: (cur, prev) for metric, cur, prev in case["rows"]}
    now, before = case["periods"]
    revenue, revenue_before = rows["Revenue"]
    change = 100.0 * (revenue - revenue_before) / abs(revenue_before)
    margin = 100.0 * rows["Gross profit"][0] / revenue
    step = 1.0 if "{:,.0f}" in case["format"] else 0.1
    return [pdf, wav], [
        (f"What was revenue in {now}?", states(revenue, step / 2)),
        ("What was net income last year?", states(rows["Net income"][1], step / 2)),
        ("By what percent did revenue change?", states(change, 0.051, "%")),
        (f"Did revenue grow from {before} to {now}?", opens_with("yes" if change > 0 else "no")),
        ("What was the gross profit margin?", states(margin, 0.051, "%")),
        ("Do the figures stated on the call match the report?", opens_with("no" if case["wrong"] else "yes")),
    ]


# ---- the run ---------------------------------------------------------------------------------

def run(cases: int = 4, seed: int = 300) -> dict:
    """``cases`` each of CT phantoms, plates, and reports with calls; every question answered from the
    findings alone and by the decoder, in the same workspace."""
    from tqdm import tqdm

    from r1mm.decoder import load_grounded
    from r1mm.workspace import Workspace

    decoder = load_grounded()
    tally = {"findings": collections.Counter(), "decoder": collections.Counter()}
    reasons: collections.Counter = collections.Counter()
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    wrong: list[dict] = []
    findings_wrong: list[dict] = []
    shown_wrong: list[dict] = []
    examples: list[dict] = []
    makers = (("ct", ct_case), ("plate", plate_case), ("report", report_case))
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-answers-") as tmp:
        for k, (kind, make) in tqdm([(k, m) for k in range(cases) for m in makers], desc="answers", unit="case"):
            paths, questions = make(seed + k, Path(tmp) / f"{kind}{k}")
            ws = Workspace()
            if not all(ws.add(p).ok for p in (paths if isinstance(paths, list) else [paths])):
                tally["decoder"]["file_failed"] += 1
                continue
            for question, right in questions:
                ws.decoder = None
                findings_answer = ws.ask(question)
                ws.decoder = decoder
                stream = ws.ask_stream(question)
                for _ in stream:
                    pass
                shown = without_refusal_note(stream.answer.text)
                tally["findings"]["questions"] += 1
                tally["findings"]["shown_right"] += right(findings_answer.text)
                if not right(findings_answer.text):
                    findings_wrong.append({"question": question, "answer": findings_answer.text})
                t = tally["decoder"]
                t["questions"] += 1
                t["shown_right"] += right(shown)
                if not right(shown):
                    shown_wrong.append({"question": question, "answer": stream.answer.text})
                by_kind[kind]["questions"] += 1
                by_kind[kind]["findings_shown_right"] += right(findings_answer.text)
                by_kind[kind]["decoder_shown_right"] += right(shown)
                if stream.replaced:
                    reasons[_reason_kind(stream.replaced)] += 1
                    continue
                t["kept"] += 1
                if right(shown):
                    t["kept_right"] += 1
                    if len(examples) < 8:
                        examples.append({"question": question, "answer": shown.strip()})
                else:
                    t["kept_wrong"] += 1
                    wrong.append({"question": question, "answer": shown.strip()})
            ws.close()
    n = tally["decoder"]["questions"] or 1
    d, f = tally["decoder"], tally["findings"]
    return {"questions": d["questions"], "decoder": decoder.name,
            "findings_only": {"shown_right": f["shown_right"], "shown_right_share": round(f["shown_right"] / n, 3)},
            "with_decoder": {"shown_right": d["shown_right"], "shown_right_share": round(d["shown_right"] / n, 3),
                             "kept": d["kept"], "kept_right": d["kept_right"], "kept_wrong": d["kept_wrong"],
                             "kept_share": round(d["kept"] / n, 3), "refused_because": dict(reasons.most_common())},
            "by_kind": {k: dict(v) for k, v in by_kind.items()},
            "kept_wrong_answers": wrong, "findings_only_wrong_answers": findings_wrong,
            "shown_wrong_with_decoder": shown_wrong, "examples": examples}


def _reason_kind(reason: str) -> str:
    """A refusal reason without its particulars: "the decoder left out 2 (E1), …" → "the decoder left out"."""
    head = re.split(r"[;(“]|\d", reason)[0]
    return re.sub(r"\s+", " ", head).strip(" ,")
