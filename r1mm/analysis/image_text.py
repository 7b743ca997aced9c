"""Text on an image (a label, a sign, a photographed page, a chart's words), read by OCR: one finding
per line with its pixel box, and the whole text in reading order; a chart's values read back
(`r1mm.analysis.charts`) from the same lines."""
from __future__ import annotations

import numpy as np

from r1mm.analysis.charts import findings_on_image
from r1mm.ingest.ocr import read_lines
from r1mm.types import Finding, Item, Locator

MAX_LINES = 300  # findings per image; the whole text keeps every line
QUOTE_CHARS = 600  # the whole-text finding quotes this much


def analyze(item: Item) -> list[Finding]:
    src = item.source
    rgb = np.asarray(item.data.convert("RGB"))
    lines = read_lines(rgb)
    found = findings_on_image(src, rgb, lines)
    if not lines:
        return found + [Finding("image.text_all", "", None, "No text was found on the image (PP-OCRv6).", Locator(src))]
    whole = "\n".join(line.text for line in lines)
    quoted = " / ".join(line.text for line in lines)
    if len(quoted) > QUOTE_CHARS:
        quoted = quoted[:QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
    x0, y0 = min(line.box[0] for line in lines), min(line.box[1] for line in lines)
    x1, y1 = max(line.box[2] for line in lines), max(line.box[3] for line in lines)
    out = [Finding("image.text_all", whole, None,
                   f'The image reads ({len(lines)} line{"s" if len(lines) != 1 else ""}): "{quoted}"',
                   Locator(src, bbox_px=(x0, y0, x1, y1)))]
    for k, line in enumerate(lines[:MAX_LINES], start=1):
        bx0, by0, bx1, by1 = line.box
        out.append(Finding("image.text", line.text, None,
                           f'Text line {k}: "{line.text}" (pixels x {bx0}–{bx1}, y {by0}–{by1}; '
                           f"OCR confidence {line.score:.0%}).", Locator(src, bbox_px=line.box)))
    return found + out
