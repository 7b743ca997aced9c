"""Audio findings: the transcript with timestamps, who spoke when (voices told apart by speaker
embeddings, `diarization.py`), spoken financial claims and risk mentions; speech spans and tone
in seconds.
"""
from __future__ import annotations

import functools
import itertools
import logging
import re

import numpy as np

from r1mm.types import Finding, Item, Locator

log = logging.getLogger(__name__)

TOP_DB = 35.0  # a frame quieter than the loudest by this much counts as silence
FRAME_S, HOP_S = 0.064, 0.016
MIN_SEGMENT_S, MERGE_GAP_S = 0.3, 0.5


def _sounding(samples: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """(start_s, end_s) of each run of frames within TOP_DB of the loudest frame."""
    frame, hop = int(FRAME_S * rate), int(HOP_S * rate)
    if samples.size < frame:
        return []
    frames = np.lib.stride_tricks.sliding_window_view(samples, frame)[::hop]
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-10) / max(rms.max(), 1e-10))
    loud = np.concatenate([[False], db > -TOP_DB, [False]])
    edges = np.flatnonzero(np.diff(loud.astype(np.int8)))
    return [(start * hop / rate, ((end - 1) * hop + frame) / rate) for start, end in zip(edges[::2], edges[1::2])]


def speech_segments(samples: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """(start_s, end_s) of non-silent spans, from frame RMS energy; pauses under 0.5 s merged."""
    merged: list[list[float]] = []
    for s, e in _sounding(samples, rate):
        if merged and s - merged[-1][1] < MERGE_GAP_S:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(float(s), float(e)) for s, e in merged if e - s >= MIN_SEGMENT_S]


def pauses(samples: np.ndarray, rate: int, min_pause_s: float = 0.3) -> list[tuple[float, float]]:
    """(start_s, end_s) of the silences of ``min_pause_s`` or more between sounds."""
    spans = _sounding(samples, rate)
    return [(float(a[1]), float(b[0])) for a, b in itertools.pairwise(spans) if b[0] - a[1] >= min_pause_s]


PITCH_FRAME, PITCH_HOP = 1024, 256
VOICED_DB = 25.0  # a frame within this many dB of the loudest is taken as voiced


def voiced_pitch(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YIN pitch per frame (Hz), whether each frame is loud enough to be speech, and frame times (s)."""
    import librosa

    f0 = librosa.yin(samples, fmin=60, fmax=400, sr=rate, frame_length=PITCH_FRAME, hop_length=PITCH_HOP,
                     center=False)
    frames = np.lib.stride_tricks.sliding_window_view(samples, PITCH_FRAME)[::PITCH_HOP][: f0.size]
    frame_db = 10 * np.log10(np.maximum(np.mean(frames.astype(np.float64) ** 2, axis=1), 1e-20))
    return f0, frame_db > frame_db.max() - VOICED_DB, np.arange(f0.size) * PITCH_HOP / rate


def prosody(samples: np.ndarray, rate: int, window_s: float = 1.0) -> list[dict[str, float | None]]:
    """Tone over time: loudness (dB below the loudest window) and median pitch (Hz) per window.

    Pitch is the YIN estimate over frames loud enough to be speech; None in pauses.
    """
    step = int(window_s * rate)
    if samples.size < max(step, PITCH_FRAME):
        return []
    windows = samples[: samples.size // step * step].reshape(-1, step)
    rms = np.sqrt(np.mean(windows.astype(np.float64) ** 2, axis=1))
    loudness = 20 * np.log10(np.maximum(rms, 1e-10) / max(rms.max(), 1e-10))
    f0, voiced, frame_t = voiced_pitch(samples, rate)
    out = []
    for k, db in enumerate(loudness):
        pick = voiced & (frame_t >= k * window_s) & (frame_t < (k + 1) * window_s)
        pitch = float(np.median(f0[pick])) if pick.sum() >= 3 else None
        out.append({"t_s": k * window_s, "loudness_db": round(float(db), 1),
                    "pitch_hz": round(pitch, 1) if pitch is not None else None})
    return out


def utterance_pitch(samples: np.ndarray, rate: int, start_s: float, end_s: float) -> float | None:
    """Median pitch (Hz) of the loud frames of one utterance."""
    clip = samples[int(start_s * rate): int(end_s * rate)]
    if clip.size < 2 * PITCH_FRAME:
        return None
    f0, voiced, _ = voiced_pitch(clip, rate)
    return float(np.median(f0[voiced])) if voiced.sum() >= 3 else None


# Share of the sound's duration the transcript must cover; below it the call is heard again
# without the earnings-call prompt, which makes Whisper skip speech that is not about money (on a
# real two-reader recording it kept 9 s of 25 s; without the prompt, all of it).
MIN_COVERAGE = 0.6


def transcribe(samples: np.ndarray, rate: int, voiced_s: float):
    """Whisper's utterances, heard again without the finance prompt if it skipped speech, split
    where the sound pauses."""
    from r1mm.analysis import asr

    utterances = asr.transcribe(samples)
    heard = sum(u.end_s - u.start_s for u in utterances)
    if voiced_s > 0 and heard < MIN_COVERAGE * voiced_s:
        plain = asr.transcribe(samples, prompt=None)
        if sum(u.end_s - u.start_s for u in plain) > heard:
            log.info("transcript without the finance prompt covers more speech; using it")
            utterances = plain
    return asr.split_at_pauses(utterances, pauses(samples, rate))


def tell_voices_apart(item: Item, utterances) -> list[int]:
    """A voice number per utterance: speaker embeddings clustered, pitch for the short ones; pitch
    alone when the embedding model is not installed."""
    from r1mm.analysis import diarization

    rate = item.meta["sample_rate"]
    pitches = [utterance_pitch(item.data, rate, u.start_s, u.end_s) for u in utterances]
    try:
        embeddings = diarization.voice_embeddings(item.data, rate, [(u.start_s, u.end_s) for u in utterances])
    except ImportError as exc:
        log.warning("%s: speaker embeddings unavailable (%s); voices told apart by pitch only", item.source, exc)
        item.meta["voices_by"] = "pitch"
        return assign_voices(pitches)
    item.meta["voices_by"] = "speaker embeddings (GE2E)"
    return diarization.cluster_voices(embeddings, pitches, [u.end_s - u.start_s for u in utterances])


def assign_voices(pitches: list[float | None], tolerance: float = 0.18) -> list[int]:
    """Voice numbers (1, 2, …) by pitch: an utterance joins the first voice within ±18%. The
    baseline `bench finance` holds the embeddings against."""
    centres: list[float] = []
    voices = []
    for p in pitches:
        if p is None:
            voices.append(voices[-1] if voices else 1)
            continue
        match = next((k for k, c in enumerate(centres) if abs(p - c) / c <= tolerance), None)
        if match is None:
            centres.append(p)
            match = len(centres) - 1
        voices.append(match + 1)
    return voices


# VADER's lexicon is general-purpose; these finance words carry tone on a call (VADER's -4..+4 scale)
FINANCE_LEXICON = {"grew": 1.5, "growth": 1.5, "increase": 1.0, "increased": 1.0, "record": 1.5, "strong": 1.8,
                   "beat": 1.5, "exceeded": 1.5, "improved": 1.5, "expansion": 1.0, "declined": -1.5,
                   "decline": -1.5, "decreased": -1.0, "headwinds": -1.5, "constraints": -1.0, "risks": -1.0,
                   "missed": -1.5, "shortfall": -1.8, "impairment": -2.0, "weak": -1.8, "slowdown": -1.5}


@functools.lru_cache(maxsize=1)
def _tone_analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(FINANCE_LEXICON)
    return analyzer


def text_tone(text: str) -> float:
    """Tone of a sentence from -1 (negative) to +1 (positive): VADER's compound score."""
    return float(_tone_analyzer().polarity_scores(text)["compound"])


def analyze(item: Item) -> list[Finding]:
    from r1mm.analysis.calls import claims_in, states_amount
    from r1mm.analysis.finance import risk_sentences

    rate = item.meta["sample_rate"]
    duration = item.meta["duration_s"]
    src = item.source
    out = [Finding("audio.duration", duration, "s", f"The recording lasts {duration:.1f} s.",
                   Locator(src, start_s=0.0, end_s=duration))]
    segments = speech_segments(item.data, rate)
    voiced = sum(e - s for s, e in segments)
    out.append(Finding("audio.speech_time", round(voiced, 2), "s",
                       f"Sound is present for {voiced:.1f} s of {duration:.1f} s in {len(segments)} segments.",
                       Locator(src, start_s=0.0, end_s=duration)))
    try:
        utterances = transcribe(item.data, rate, voiced)
    except Exception as exc:  # a missing or broken model must not lose the file's other findings
        log.warning("%s: speech recognition unavailable: %s", src, exc)
        out.append(Finding("speech.unavailable", str(exc), None,
                           f"No transcript: speech recognition is unavailable ({exc}).", Locator(src)))
        return out
    voices = tell_voices_apart(item, utterances)
    item.meta["voices"] = max(voices, default=0)
    for u, voice in zip(utterances, voices):
        loc = Locator(src, start_s=u.start_s, end_s=u.end_s)
        out.append(Finding("speech.utterance", u.text, None,
                           f"Voice {voice}, {u.start_s:.1f}–{u.end_s:.1f} s: “{u.text}”", loc))
        tone = text_tone(u.text)
        mood = "positive" if tone >= 0.05 else "negative" if tone <= -0.05 else "neutral"
        rate_wps = len(u.words) / max(u.end_s - u.start_s, 0.1)
        out.append(Finding("speech.tone", round(tone, 3), None,
                           f"Tone of voice {voice} at {u.start_s:.1f}–{u.end_s:.1f} s: {mood} ({tone:+.2f}), "
                           f"speaking at {rate_wps:.1f} words/s.", loc))
    # claims and risks are read per sentence: the recognizer may split one sentence over utterances
    words = [w for u in utterances for w in u.words]
    for sentence, start, end, voice in sentences_of(utterances, voices):
        s_start, s_end = _sentence_span(sentence, words, start, end)  # the utterances' span may hold more
        claims = claims_in(sentence)
        if claims:
            _hear_figures_again(item, claims, s_start, s_end)
        elif states_amount(sentence):  # an amount with no metric heard: the name may be misheard beyond repair
            claims = _hear_sentence_again(item, sentence, s_start, s_end)
        for claim in claims:
            c_start, c_end = _span_of(claim["said"], words, s_start, s_end)
            out.append(Finding("finance.claim", claim, claim["unit"],
                               f"Said by voice {voice} at {c_start:.1f}–{c_end:.1f} s: {claim['said']}.",
                               Locator(src, start_s=c_start, end_s=c_end)))
        loc = Locator(src, start_s=start, end_s=end)
        for risk in risk_sentences(sentence):
            out.append(Finding("speech.risk", risk, None,
                               f"Risk mentioned by voice {voice} at {start:.1f} s: “{risk}”", loc))
    return out


def _hear_figures_again(item: Item, claims: list[dict], start_s: float, end_s: float) -> None:
    """Attach the second model's hearing of each claim (same metric and kind, in order) as
    claim['heard_again']; the cross-check trusts a disagreement only when both hearings agree."""
    from r1mm.analysis import asr
    from r1mm.analysis.calls import claims_in

    try:
        again = claims_in(asr.hear_again(item.data, item.meta["sample_rate"], start_s, end_s))
    except Exception as exc:  # the first hearing still stands
        log.warning("%s: second hearing unavailable: %s", item.source, exc)
        return
    for claim in claims:
        match = next((c for c in again if c["metric"] == claim["metric"] and c["kind"] == claim["kind"]), None)
        if match is not None:
            again.remove(match)
            claim["heard_again"] = {k: match[k] for k in ("value", "unit", "decimals", "said")}


def _hear_sentence_again(item: Item, sentence: str, start_s: float, end_s: float) -> list[dict]:
    """Claims of a sentence whose first hearing states an amount but names no metric ("Ramanu for the
    quarter was $3.53 billion"): the second model hears the whole sentence again, and when it names
    one metric, the first hearing's amounts are given to it (the first model hears figures better)."""
    from r1mm.analysis import asr
    from r1mm.analysis.calls import claims_in
    from r1mm.analysis.finance import canonical_metric

    try:
        heard = asr.hear_again(item.data, item.meta["sample_rate"], start_s, end_s)
    except Exception as exc:
        log.warning("%s: second hearing unavailable: %s", item.source, exc)
        return []
    again = claims_in(heard)
    metrics = {c["metric"] for c in again} | ({canonical_metric(heard)} - {None})
    if len(metrics) != 1:
        return []
    metric = metrics.pop()
    claims = claims_in(f"{metric} {sentence}")
    for claim in claims:
        claim["first_heard"] = sentence.strip()
        match = next((c for c in again if c["kind"] == claim["kind"]), None)
        if match is not None:
            claim["heard_again"] = {k: match[k] for k in ("value", "unit", "decimals", "said")}
    return claims


def _sentence_span(sentence: str, words, start: float, end: float) -> tuple[float, float]:
    """The time span of a sentence's words (letters and digits matched, so "Ramanu" split into word
    pieces still counts); the given span when they cannot be found."""
    letters, owner = [], []
    for k, w in enumerate(words):
        for c in w.text.lower():
            if c.isalnum():
                letters.append(c)
                owner.append(k)
    wanted = "".join(c for c in sentence.lower() if c.isalnum())
    at = "".join(letters).find(wanted) if wanted else -1
    if at < 0:
        return start, end
    return words[owner[at]].start_s, words[owner[at + len(wanted) - 1]].end_s


def _span_of(said: str, words, start: float, end: float) -> tuple[float, float]:
    """The time span of a claim's words within a sentence, from the recognizer's word timestamps."""
    # Compared without spaces and points: the claim's "526,000" may be the words "526" ",000".
    wanted = re.sub(r"[\s.,]", "", said.lower())
    inside = [w for w in words if start - 0.01 <= w.start_s <= end + 0.01]
    texts = [re.sub(r"[\s.,]", "", w.text.lower()) for w in inside]
    for k in range(len(texts)):
        joined = ""
        for m in range(k, len(texts)):
            joined += texts[m]
            if joined == wanted:
                return inside[k].start_s, inside[m].end_s
            if not wanted.startswith(joined):
                break
    return start, end


def sentences_of(utterances, voices: list[int]) -> list[tuple[str, float, float, int]]:
    """(sentence, start s, end s, voice of its first utterance) over the whole transcript."""
    out, parts, start, voice = [], [], None, 1
    for u, v in zip(utterances, voices):
        for piece in re.split(r"(?<=[.!?])\s+", u.text):
            if not piece:
                continue
            if start is None:
                start, voice = u.start_s, v
            parts.append(piece)
            if piece.rstrip().endswith((".", "!", "?")):
                out.append((" ".join(parts), start, u.end_s, voice))
                parts, start = [], None
    if parts:
        out.append((" ".join(parts), start, utterances[-1].end_s, voice))
    return out
