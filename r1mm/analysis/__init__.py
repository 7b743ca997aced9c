"""Findings per modality: measurements and extractions, each with the locator it came from."""
from __future__ import annotations

import logging

from r1mm.modalities import modality_spec
from r1mm.types import Finding, Item

log = logging.getLogger(__name__)


def analyze(item: Item, models: dict | None = None) -> list[Finding]:
    """The findings of every analysis of the item's modality whose domain the item is in (a text that
    is no financial report gets none of the finance analysis), and of those that need a model of the
    workspace's (``models``: e.g. its line inspector) when it has one; modules are imported on first use."""
    findings: list[Finding] = []
    for analysis in modality_spec(item.modality).analyses_for(item, models):
        findings += analysis.run(item, models)
    return findings
