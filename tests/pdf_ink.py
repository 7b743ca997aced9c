"""Where a text is inked on a PDF page, read independently of the reader under test (PDFium's
tight glyph boxes), for tests that check an outline sits on the cited cell."""
from __future__ import annotations

from pathlib import Path


def ink_boxes(pdf: Path, page: int, printed: str) -> list[tuple[float, float, float, float]]:
    """(x0, top, x1, bottom) in points from the page's top-left, each time `printed` is printed on `page`."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        height, text = doc[page - 1].get_height(), doc[page - 1].get_textpage()
        searcher, boxes = text.search(printed, match_case=True), []
        while (found := searcher.get_next()) is not None:
            glyphs = [text.get_charbox(k) for k in range(found[0], found[0] + found[1])]
            boxes.append((min(g[0] for g in glyphs), height - max(g[3] for g in glyphs),
                          max(g[2] for g in glyphs), height - min(g[1] for g in glyphs)))
        return boxes
    finally:
        doc.close()
