"""Recordings: WAV, FLAC, OGG, MP3 and M4A. Decoded to 16 kHz mono; transcribed with word times,
voices told apart, spoken figures and risks found; shown as the player at the span."""
from __future__ import annotations

from pathlib import Path

from r1mm.modalities import Analysis, ModalitySpec, kinds, loader, rule
from r1mm.modalities.storage import ARRAYS
from r1mm.types import Modality


def sniff(head: bytes, path: Path) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
                                   and head[1] & 0x06 != 0):
        return "mp3"
    if head[4:8] == b"ftyp" and head[8:12] in (b"M4A ", b"M4B ", b"mp42", b"isom", b"dash"):
        return "m4a"
    return None


SPEC = ModalitySpec(
    modality=Modality.AUDIO,
    name="recording",
    formats={"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3", "m4a": "M4A"},
    sniff=sniff,
    load=loader("r1mm.ingest.audio:load_audio"),
    analyses=(Analysis("speech", "r1mm.analysis.speech"),),
    storage=ARRAYS,
    view="r1mm.ui.evidence:show_audio",
    tower="audio",
    rules=(rule(30, r"transcript|what was said|who (spoke|said)", kinds("speech.utterance")),
           rule(180, r"how long|duration|length of the (call|recording|audio)", kinds("audio.duration"))),
    words_kinds=("speech.utterance",),
    binary_suffixes={".wav": "wav", ".flac": "flac", ".ogg": "ogg", ".mp3": "mp3", ".m4a": "m4a"},
)
