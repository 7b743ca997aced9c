"""Audio: WAV, FLAC, OGG, MP3 (libsndfile), M4A (through ffmpeg where installed).

Decoded to float32 mono and resampled to 16 kHz, the rate speech models expect.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from r1mm.errors import IngestError, LimitExceeded
from r1mm.ingest.limits import Limits
from r1mm.types import Item, Modality

TARGET_RATE = 16_000


def load_audio(path: Path, source: str, fmt: str, limits: Limits) -> Item:
    if fmt == "m4a":
        samples, rate, channels = _decode_with_ffmpeg(path, source)
    else:
        samples, rate, channels = _decode_with_soundfile(path, source, fmt, limits)
    if samples.size == 0:
        raise IngestError(source, "holds no audio samples")
    if not np.isfinite(samples).all():
        raise IngestError(source, "holds non-finite audio samples (corrupt file)")
    duration = samples.shape[0] / rate
    if duration > limits.max_audio_s:
        raise LimitExceeded(source, f"lasts {duration:.0f} s; the limit is {limits.max_audio_s:.0f} s "
                                    "(R1MM_MAX_AUDIO_S)")
    if rate != TARGET_RATE:
        import librosa  # imported here: it is slow to import and only needed for resampling

        samples = librosa.resample(samples, orig_sr=rate, target_sr=TARGET_RATE, res_type="soxr_hq")
    meta = {"format": fmt, "duration_s": round(duration, 3), "sample_rate": TARGET_RATE,
            "original_sample_rate": int(rate), "channels": int(channels)}
    return Item(Modality.AUDIO, source, samples.astype(np.float32), meta)


def _decode_with_soundfile(path: Path, source: str, fmt: str, limits: Limits):
    try:
        info = sf.info(str(path))
        if info.frames / max(info.samplerate, 1) > limits.max_audio_s:
            raise LimitExceeded(source, f"lasts {info.duration:.0f} s; the limit is "
                                        f"{limits.max_audio_s:.0f} s (R1MM_MAX_AUDIO_S)")
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except IngestError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, MemoryError) as exc:
        raise IngestError(source, f"is not a readable {fmt.upper()} file ({exc})") from None
    return data.mean(axis=1), int(rate), data.shape[1]


def _decode_with_ffmpeg(path: Path, source: str):
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise IngestError(source, "is M4A/AAC audio, which needs ffmpeg (not installed); "
                                  "convert it to WAV, FLAC or MP3")
    cmd = [ffmpeg, "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1",
           "-ar", str(TARGET_RATE), "pipe:1"]
    proc = subprocess.run(cmd, capture_output=True, timeout=600, check=False)
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["unknown error"]
        raise IngestError(source, f"is not a readable M4A file ({reason[0]})")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy(), TARGET_RATE, 1
