"""The charts among a PDF's images, read when it was loaded (`r1mm.ingest.document` renders each
image and `r1mm.analysis.charts` reads it): their findings, each box in PDF points on its page."""
from __future__ import annotations

from r1mm.types import Finding, Item


def analyze(item: Item) -> list[Finding]:
    return [Finding.from_dict(found) for page in item.data.pages for found in page.figures]
