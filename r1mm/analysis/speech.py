"""Audio findings: duration and the spans where someone is speaking, in seconds.

Speech recognition (transcript, claims) is not wired in yet; until it is, the findings say
where speech is, not what was said.
"""
from __future__ import annotations

import numpy as np

from r1mm.types import Finding, Item, Locator

TOP_DB = 35.0  # a frame quieter than the loudest by this much counts as silence
FRAME_S, HOP_S = 0.064, 0.016
MIN_SEGMENT_S, MERGE_GAP_S = 0.3, 0.5


def speech_segments(samples: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """(start_s, end_s) of non-silent spans, from frame RMS energy; pauses under 0.5 s merged."""
    frame, hop = int(FRAME_S * rate), int(HOP_S * rate)
    if samples.size < frame:
        return []
    frames = np.lib.stride_tricks.sliding_window_view(samples, frame)[::hop]
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-10) / max(rms.max(), 1e-10))
    loud = np.concatenate([[False], db > -TOP_DB, [False]])
    edges = np.flatnonzero(np.diff(loud.astype(np.int8)))
    merged: list[list[float]] = []
    for start, end in zip(edges[::2], edges[1::2]):
        s, e = start * hop / rate, ((end - 1) * hop + frame) / rate
        if merged and s - merged[-1][1] < MERGE_GAP_S:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(float(s), float(e)) for s, e in merged if e - s >= MIN_SEGMENT_S]


def prosody(samples: np.ndarray, rate: int, window_s: float = 1.0) -> list[dict[str, float | None]]:
    """Tone over time: loudness (dB below the loudest window) and median pitch (Hz) per window.

    Pitch is the YIN estimate over frames loud enough to be speech; None in pauses.
    """
    import librosa

    step, hop, frame = int(window_s * rate), 256, 1024
    if samples.size < max(step, frame):
        return []
    windows = samples[: samples.size // step * step].reshape(-1, step)
    rms = np.sqrt(np.mean(windows.astype(np.float64) ** 2, axis=1))
    loudness = 20 * np.log10(np.maximum(rms, 1e-10) / max(rms.max(), 1e-10))
    f0 = librosa.yin(samples, fmin=60, fmax=400, sr=rate, frame_length=frame, hop_length=hop, center=False)
    frames = np.lib.stride_tricks.sliding_window_view(samples, frame)[::hop][: f0.size]
    frame_db = 10 * np.log10(np.maximum(np.mean(frames.astype(np.float64) ** 2, axis=1), 1e-20))
    voiced = frame_db > frame_db.max() - 25.0
    frame_t = np.arange(f0.size) * hop / rate
    out = []
    for k, db in enumerate(loudness):
        pick = voiced & (frame_t >= k * window_s) & (frame_t < (k + 1) * window_s)
        pitch = float(np.median(f0[pick])) if pick.sum() >= 3 else None
        out.append({"t_s": k * window_s, "loudness_db": round(float(db), 1),
                    "pitch_hz": round(pitch, 1) if pitch is not None else None})
    return out


def analyze(item: Item) -> list[Finding]:
    rate = item.meta["sample_rate"]
    duration = item.meta["duration_s"]
    src = item.source
    out = [Finding("audio.duration", duration, "s", f"The recording lasts {duration:.1f} s.",
                   Locator(src, start_s=0.0, end_s=duration))]
    segments = speech_segments(item.data, rate)
    voiced = sum(e - s for s, e in segments)
    out.append(Finding("audio.speech_time", round(voiced, 2), "s",
                       f"Sound is present for {voiced:.1f} s of {duration:.1f} s in {len(segments)} "
                       "segments (no transcript: speech recognition is not loaded).",
                       Locator(src, start_s=0.0, end_s=duration)))
    for k, (s, e) in enumerate(segments[:200], start=1):
        out.append(Finding("audio.segment", round(e - s, 2), "s",
                           f"Segment {k}: {s:.1f}–{e:.1f} s.", Locator(src, start_s=round(s, 2), end_s=round(e, 2))))
    return out
