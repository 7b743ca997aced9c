"""Audio tower: the encoder of Whisper base (MIT), run by CTranslate2 through faster-whisper.

Whisper's encoder sees 30 s windows as 1500 frames of 20 ms; frames are mean-pooled over each
span (a transcript utterance, or fixed 5 s chunks) into one 512-d token located by its times.
"""
from __future__ import annotations

import numpy as np

from r1mm.types import Item, Locator

NAME = "Whisper base encoder (faster-whisper int8, MIT)"
DIM = 512
WINDOW_S, FRAME_S, CHUNK_S = 30.0, 0.02, 5.0


def frames(samples: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """(n_frames, 512) encoder states for the whole recording, 20 ms apart."""
    import ctranslate2
    from faster_whisper.feature_extractor import FeatureExtractor

    from r1mm.analysis.asr import recognizer

    whisper = recognizer()
    extractor = FeatureExtractor(feature_size=whisper.model.n_mels)
    window = int(WINDOW_S * sample_rate)
    out = []
    for start in range(0, max(1, len(samples)), window):
        chunk = samples[start:start + window].astype(np.float32)
        mel = extractor(np.pad(chunk, (0, window - len(chunk))))[:, :3000]
        encoded = whisper.model.encode(ctranslate2.StorageView.from_array(mel[None].astype(np.float32)), to_cpu=True)
        states = np.array(encoded)[0]                          # (1500, 512)
        keep = int(np.ceil(len(chunk) / sample_rate / FRAME_S))
        out.append(states[:keep])
    return np.concatenate(out).astype(np.float32)


def features(item: Item, spans: list[tuple[float, float]] | None = None) -> tuple[np.ndarray, list[Locator]]:
    rate = item.meta.get("sample_rate", 16000)
    states = frames(item.data, rate)
    duration = len(item.data) / rate
    if not spans:
        spans = [(s, min(duration, s + CHUNK_S)) for s in np.arange(0, duration, CHUNK_S)]
    vectors, locators = [], []
    for start, end in spans:
        a, b = int(start / FRAME_S), max(int(start / FRAME_S) + 1, int(np.ceil(end / FRAME_S)))
        if a >= len(states):
            continue
        vectors.append(states[a:b].mean(0))
        locators.append(Locator(item.source, start_s=round(float(start), 2), end_s=round(float(end), 2)))
    return np.stack(vectors).astype(np.float32), locators
