"""Reports and calls with known figures: extraction, transcript, contradictions, answers.

Each case is a report PDF (varied layout: page of the table, periods, currency and scale,
number format, negative values) and a call spoken by espeak-ng at a varied speed and voice,
stating some of the report's figures, a few of them deliberately wrong.
"""
from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from r1mm.analysis import analyze, asr
from r1mm.analysis.calls import cross_check
from r1mm.analysis.finance import canonical_metric, metric_and_period
from r1mm.ingest import load
from r1mm.cases.finance import write_call_audio, write_report_pdf
from r1mm.workspace import Workspace

LAYOUTS = [  # (unit phrase, unit as extracted, number format)
    ("(in millions of USD, unaudited)", "USD millions", "{:,.1f}"),
    ("(in thousands of EUR)", "EUR thousands", "{:,.0f}"),
    ("USD millions", "USD millions", "$ {:,.2f}"),
    ("(in thousands of euros)", "EUR thousands", "{:,.1f}"),
]
METRICS = ["Revenue", "Cost of revenue", "Gross profit", "Operating expenses", "Operating income", "Net income"]
SPOKEN = {"Revenue": "revenue", "Net income": "net income", "Operating expenses": "operating expenses",
          "Gross profit": "gross profit"}
# Metric names as a recognizer gets them slightly wrong, planted into the real transcripts.
MISHEARD = {"net income": ["let income", "net in come", "net incomes"], "revenue": ["reve new", "revenues"],
            "gross profit": ["gross prophet", "cross profit"], "operating expenses": ["operating expensive"]}


def make_case(seed: int) -> dict:
    rng = random.Random(seed)
    unit_phrase, unit, fmt = LAYOUTS[seed % len(LAYOUTS)]
    revenue = rng.uniform(200, 5000)
    cost = revenue * rng.uniform(0.4, 0.7)
    opex = revenue * rng.uniform(0.15, 0.35)
    current = {"Revenue": revenue, "Cost of revenue": cost, "Gross profit": revenue - cost,
               "Operating expenses": opex, "Operating income": revenue - cost - opex}
    current["Net income"] = current["Operating income"] * rng.uniform(0.6, 0.85)
    decimals = 0 if "{:,.0f}" in fmt else 1
    current = {k: round(v, decimals) for k, v in current.items()}
    previous = {k: round(v * rng.uniform(0.8, 1.1), decimals) for k, v in current.items()}
    year = rng.choice([2025, 2026])
    quarter = rng.randint(1, 4)
    periods = (f"Q{quarter} {year}", f"Q{quarter} {year - 1}")
    stated = rng.sample(list(SPOKEN), 3)
    wrong = set(rng.sample(stated, rng.randint(0, 2)))
    script = [("Operator", "Good morning everyone, and thank you for joining our quarterly results call.")]
    currency = "dollars" if unit.startswith("USD") else "euros"
    for metric in stated:
        value = current[metric] * (rng.choice([0.85, 1.15]) if metric in wrong else 1.0)
        script.append(("CFO" if len(script) % 2 else "CEO",
                       f"{SPOKEN[metric].capitalize()} for the quarter was {spoken_amount(value, unit)} {currency}."))
    script.append(("CFO", "We see pricing pressure and supply constraints as risks for next year."))
    return {"rows": [(m, current[m], previous[m]) for m in METRICS], "periods": periods, "unit": unit,
            "unit_phrase": unit_phrase, "format": fmt, "script": script, "wrong": wrong, "stated": stated,
            "speed": rng.choice([140, 160, 180]), "intro_pages": rng.randint(1, 3)}


def spoken_amount(value: float, unit: str) -> str:
    """How a manager says a figure: '3.62 billion', '657 million', '2.71 million', '845 thousand'."""
    scale = {"millions": 1e6, "thousands": 1e3}[unit.split()[1]]
    amount = value * scale
    for word, size in (("billion", 1e9), ("million", 1e6), ("thousand", 1e3)):
        if amount >= size:
            shown = amount / size
            return f"{shown:.2f} {word}" if shown < 10 else f"{shown:,.0f} {word}"
    return f"{amount:,.0f}"


# espeak-ng voices whose median pitch lies within 98–109 Hz at one pitch setting: the pitch rule
# cannot tell them apart (measured), so a call between them tests the speaker embeddings. Left out:
# en-us+m2 beside en-us, one synthesizer's two settings that GE2E cannot tell apart either
# (similarity 0.83 between them, 0.88 within each; it put 3 of 12 calls' speakers together).
SIMILAR_VOICES = [("en-us+m7", "45"), ("en-us+klatt", "45"), ("en-us+edward", "45"), ("en-us+antonio", "45"),
                  ("en-us", "45")]
CALL_SENTENCES = [
    "Good morning everyone, and thank you for joining the call.", "Revenue grew in every region this quarter.",
    "We expect margins to improve in the second half of the year.", "Could you talk about pricing in Europe?",
    "Pricing held up well, and we gained share with our larger customers.", "Next question, please.",
    "What are you seeing in the supply chain?", "Component costs eased, and lead times are back to normal.",
    "How should we think about hiring next year?", "We will keep operating expenses flat.",
    "Thanks, that is helpful.", "Our backlog is the strongest it has been in three years.",
    "Can you say more about the new product line?", "Shipments start in the first quarter.",
]


def diarization_calls(count: int, seed: int) -> list[tuple[list[tuple[str, str]], dict[str, tuple[str, str]]]]:
    """Scripts of calls between two or three speakers of similar pitch, turns of one or two
    sentences, the speaker order varied."""
    rng = random.Random(seed)
    calls = []
    for k in range(count):
        speakers = [f"S{n + 1}" for n in range(2 + k % 2)]
        voices = dict(zip(speakers, rng.sample(SIMILAR_VOICES, len(speakers))))
        script, previous = [], None
        for _ in range(rng.randint(6, 9)):
            who = rng.choice([s for s in speakers if s != previous])
            script.append((who, " ".join(rng.sample(CALL_SENTENCES, rng.randint(1, 2)))))
            previous = who
        calls.append((script, voices))
    return calls


def diarization(count: int = 24, seed: int = 0) -> dict:
    """Diarization error rate (collar 0.25 s) of the speaker embeddings and of the pitch rule, on
    the same transcribed utterances of generated calls; a voice's utterances under 0.5 s apart make
    one turn, as the reference's sound spans do."""
    from r1mm.analysis.diarization import cluster_voices, diarization_error_rate, speaker_turns, voice_embeddings
    from r1mm.analysis.speech import assign_voices, pauses, utterance_pitch

    rows = []
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-der-") as tmp:
        for k, (script, voices) in enumerate(diarization_calls(count, seed)):
            wav = Path(tmp) / f"call{k}.wav"
            turns = write_call_audio(wav, script, voices=voices, gap_s=random.Random(seed + k).uniform(0.3, 0.8))
            call = load(wav)[0]
            rate = call.meta["sample_rate"]
            utterances = asr.split_at_pauses(asr.transcribe(call.data, prompt=None), pauses(call.data, rate))  # as `speech.analyze` does
            spans = [(u.start_s, u.end_s) for u in utterances]
            pitches = [utterance_pitch(call.data, rate, a, b) for a, b in spans]
            reference = _voiced_turns(turns, call.data, rate)
            by_embedding = cluster_voices(voice_embeddings(call.data, rate, spans), pitches, [b - a for a, b in spans])
            by_pitch = assign_voices(pitches)
            rows.append({"speakers": len(voices), "turns": len(turns), "seconds": round(call.meta["duration_s"], 1),
                         "der_embeddings": round(diarization_error_rate(reference, speaker_turns(spans, by_embedding)), 4),
                         "der_pitch": round(diarization_error_rate(reference, speaker_turns(spans, by_pitch)), 4),
                         "voices_found": max(by_embedding, default=0), "voices_found_by_pitch": max(by_pitch, default=0)})

    def mean(key: str) -> float:
        return round(sum(r[key] for r in rows) / len(rows), 4)

    return {"calls": len(rows), "speakers_per_call": [r["speakers"] for r in rows],
            "der_mean": mean("der_embeddings"), "der_max": round(max(r["der_embeddings"] for r in rows), 4),
            "der_mean_pitch_only": mean("der_pitch"),
            "speaker_count_right": f"{sum(r['voices_found'] == r['speakers'] for r in rows)}/{len(rows)}",
            "speaker_count_right_pitch_only": f"{sum(r['voices_found_by_pitch'] == r['speakers'] for r in rows)}/{len(rows)}",
            "per_call": rows}


def _voiced_turns(turns: list[dict], samples, rate: int) -> list[tuple[float, float, str]]:
    """Reference speech: each turn's spans with sound (pauses between its sentences are no one's
    speech, as in NIST's references)."""
    from r1mm.analysis.speech import speech_segments

    out = []
    for t in turns:
        clip = samples[int(t["start_s"] * rate): int(t["end_s"] * rate)]
        out += [(t["start_s"] + a, t["start_s"] + b, t["speaker"]) for a, b in speech_segments(clip, rate)]
    return out


def run(cases: int = 20, seed: int = 0, diarization_calls: int = 24) -> dict:
    from tqdm import tqdm

    figures_total = figures_exact = 0
    tp = fp = fn = 0
    misses: list[str] = []
    wers, answers_ok, answers_total, asr_seconds, audio_seconds = [], 0, 0, 0.0, 0.0
    misheard = {"claims": 0, "kept": 0, "kept_exact_names_only": 0}
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-fin-") as tmp:
        for k in tqdm(range(seed, seed + cases), desc="reports and calls", unit="case"):
            case = make_case(k)
            pdf, wav = Path(tmp) / f"report{k}.pdf", Path(tmp) / f"call{k}.wav"
            write_report_pdf(pdf, case["rows"], case["periods"], unit_phrase=case["unit_phrase"],
                             number_format=case["format"], intro_pages=case["intro_pages"])
            turns = write_call_audio(wav, case["script"], words_per_minute=case["speed"])
            report_findings = analyze(load(pdf)[0])
            extracted = {metric_and_period(f): (f.value, f.unit) for f in report_findings
                         if f.kind == "finance.figure"}
            for metric, cur, prev in case["rows"]:
                for period, value in zip(case["periods"], (cur, prev)):
                    figures_total += 1
                    figures_exact += extracted.get((metric, period)) == (value, case["unit"])
            call = load(wav)[0]
            t0 = time.perf_counter()
            call_findings = analyze(call)
            asr_seconds += time.perf_counter() - t0
            audio_seconds += call.meta["duration_s"]
            said = " ".join(f.value for f in call_findings if f.kind == "speech.utterance")
            wers.append(asr.word_error_rate(_words(" ".join(t["text"] for t in turns)), _words(said)))
            for key, value in _misheard_claims(said, k).items():
                misheard[key] += value
            checks = cross_check(report_findings + call_findings)
            flagged = {c.value["metric"] for c in checks if c.value["verdict"] == "disagrees"}
            planted = {canonical_metric(m) for m in case["wrong"]}
            misses += [f"case {k}: {c.text}" for c in checks
                       if (c.value["verdict"] == "disagrees") != (c.value["metric"] in planted)]
            tp += len(flagged & planted)
            fp += len(flagged - planted)
            fn += len(planted - flagged)
            ws = Workspace()
            ws.add(pdf)
            answer = ws.ask("What was revenue this quarter?")
            answers_total += 1
            first = answer.evidence[0].finding if answer.evidence else None
            # a figure's value, or a computed answer's (finance.answer: {"value", "formula", …})
            stated = first.value.get("value") if first is not None and isinstance(first.value, dict) else \
                (first.value if first is not None else None)
            answers_ok += stated == case["rows"][0][1]
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {
        "cases": cases,
        "figures_exact": f"{figures_exact}/{figures_total} ({figures_exact / figures_total:.1%})",
        "word_error_rate_mean": round(sum(wers) / len(wers), 4),
        "word_error_rate_max": round(max(wers), 4),
        "contradictions": {"precision": round(precision, 3), "recall": round(recall, 3),
                           "f1": round(2 * precision * recall / (precision + recall), 3) if precision + recall else 0.0,
                           "planted": tp + fn, "wrong_verdicts": misses},
        "answer_accuracy": f"{answers_ok}/{answers_total}",
        "misheard_metric_names": {
            "claims": misheard["claims"],
            "kept": f"{misheard['kept']}/{misheard['claims']}",
            "kept_with_exact_names_only": f"{misheard['kept_exact_names_only']}/{misheard['claims']}"},
        "speech_real_time_factor": round(asr_seconds / audio_seconds, 3),
        "diarization": diarization(diarization_calls, seed=seed),
    }


def _misheard_claims(transcript: str, seed: int) -> dict[str, int]:
    """Claims of the real transcript, with each metric name replaced by a mishearing of it: how many are
    still found with the same metric and value, with and without matching misheard names."""
    import re

    from r1mm.analysis.calls import claims_in

    rng = random.Random(seed)
    out = {"claims": 0, "kept": 0, "kept_exact_names_only": 0}
    for sentence in re.split(r"(?<=[.!?])\s+", transcript):
        truth = {(c["metric"], c["value"]) for c in claims_in(sentence)}
        names = [n for n in MISHEARD if re.search(rf"\b{n}\b", sentence, re.IGNORECASE)]
        if not truth or not names:
            continue
        planted = sentence
        for name in names:
            planted = re.sub(rf"\b{name}\b", rng.choice(MISHEARD[name]), planted, flags=re.IGNORECASE)
        planted_truth = {(m, v) for m, v in truth if m in {canonical_metric(n) for n in names}}
        out["claims"] += len(planted_truth)
        out["kept"] += len(planted_truth & {(c["metric"], c["value"]) for c in claims_in(planted)})
        out["kept_exact_names_only"] += len(planted_truth & {(c["metric"], c["value"])
                                                             for c in claims_in(planted, misheard=False)})
    return out


def _words(text: str) -> str:
    """Words without the figures: the script spells numbers as digits, which espeak reads and Whisper
    writes back in its own style ($1,234 vs 1,234 dollars); figures are scored by the claim checks."""
    return " ".join(w for w in text.lower().split() if not any(c.isdigit() for c in w)
                    and w.strip(".,") not in ("dollars", "euros", "million", "thousand"))
