"""Images and audio: formats, EXIF orientation, resampling, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from r1mm.errors import IngestError, LimitExceeded
from r1mm.ingest import Limits, load
from r1mm.ingest.audio import TARGET_RATE
from r1mm.types import Modality


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("JPEG", ".jpg"), ("TIFF", ".tif"), ("WEBP", ".webp")])
def test_image_formats(tmp_path, fmt, suffix):
    path = tmp_path / f"photo{suffix}"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path, format=fmt)
    (item,) = load(path)
    assert item.modality is Modality.IMAGE and item.data.size == (40, 30)
    assert item.meta["format"] == {"JPEG": "jpeg", "TIFF": "tiff", "WEBP": "webp", "PNG": "png"}[fmt]


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), "white")
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    img.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    (item,) = load(tmp_path / "phone.jpg")
    assert item.data.size == (20, 40)
    assert item.meta["exif_orientation"] == 6 and item.meta["original_size"] == [40, 20]


def test_truncated_image_is_reported(tmp_path):
    Image.new("RGB", (200, 200), "blue").save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match="cut.png: is not a readable PNG"):
        load(tmp_path / "cut.png")


def test_decompression_bomb_is_refused(tmp_path):
    Image.new("L", (3000, 3000)).save(tmp_path / "big.png")
    with pytest.raises(LimitExceeded, match="big.png: has more than"):
        load(tmp_path / "big.png", limits=Limits(max_image_pixels=1_000_000))


def _tone(rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 440 * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize("fmt,suffix", [("WAV", ".wav"), ("FLAC", ".flac"), ("OGG", ".ogg"), ("MP3", ".mp3")])
def test_audio_formats_are_decoded_resampled_and_timed(tmp_path, fmt, suffix):
    path = tmp_path / f"call{suffix}"
    sf.write(path, _tone(44100, 2.0, channels=2), 44100, format=fmt)
    (item,) = load(path)
    assert item.modality is Modality.AUDIO
    assert item.meta["sample_rate"] == TARGET_RATE and item.meta["channels"] == 2
    assert item.meta["duration_s"] == pytest.approx(2.0, abs=0.06)  # MP3 pads a frame
    assert item.data.ndim == 1 and item.data.dtype == np.float32
    assert abs(len(item.data) / TARGET_RATE - 2.0) < 0.06


def test_truncated_wav_is_reported_or_shortened(tmp_path):
    sf.write(tmp_path / "full.wav", _tone(16000, 1.0), 16000)
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:30])
    with pytest.raises(IngestError, match="cut.wav"):
        load(tmp_path / "cut.wav")


def test_audio_length_limit(tmp_path):
    sf.write(tmp_path / "long.wav", _tone(8000, 3.0), 8000)
    with pytest.raises(LimitExceeded, match="long.wav: lasts 3 s"):
        load(tmp_path / "long.wav", limits=Limits(max_audio_s=2.0))


def test_m4a_without_ffmpeg_says_what_to_do(tmp_path, monkeypatch):
    m4a = tmp_path / "memo.m4a"
    m4a.write_bytes(b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 200)
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(IngestError, match="memo.m4a: .*needs ffmpeg"):
        load(m4a)
