"""Findings per modality: measurements and extractions, each with the locator it came from."""
from __future__ import annotations

import importlib
import logging

from r1mm.types import Finding, Item, Modality

log = logging.getLogger(__name__)

_ANALYZERS: dict[Modality, str] = {
    Modality.TEXT: "r1mm.analysis.finance",
    Modality.IMAGE: "r1mm.analysis.vision",
    Modality.AUDIO: "r1mm.analysis.speech",
    Modality.CT: "r1mm.analysis.medical",
    Modality.POINTCLOUD: "r1mm.analysis.geometry",
}


def analyze(item: Item) -> list[Finding]:
    """All findings for one item (imports the modality's module on first use)."""
    module = importlib.import_module(_ANALYZERS[item.modality])
    return module.analyze(item)
