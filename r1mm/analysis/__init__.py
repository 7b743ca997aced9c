"""Findings per modality: measurements and extractions, each with the locator it came from."""
from __future__ import annotations

import logging

from r1mm.modalities import modality_spec
from r1mm.types import Finding, Item

log = logging.getLogger(__name__)


def analyze(item: Item) -> list[Finding]:
    """The findings of every analysis of the item's modality whose domain the item is in (a text that
    is no financial report gets none of the finance analysis); modules are imported on first use."""
    findings: list[Finding] = []
    for analysis in modality_spec(item.modality).analyses_for(item):
        findings += analysis.run(item)
    return findings
