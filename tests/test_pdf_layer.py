"""PDFium's characters and drawings handed to pdfplumber (`r1mm/ingest/pdf_layer.py`): the same
words and tables as pdfminer's parse on real filings, and better where pdfminer fails."""
from __future__ import annotations

from pathlib import Path

import pdfplumber
import pytest

from r1mm.bench.filings import filings_dir
from r1mm.ingest.pdf_layer import PdfiumLayer

PDFS = filings_dir() / "pdf"
pytestmark = pytest.mark.skipif(not PDFS.is_dir(), reason="../shared/filings is not here")


def _both(path: Path, page: int):
    """The page's words and tables with some text (not a decoration's empty cells), parsed by
    pdfminer, then from PDFium's objects."""
    out = []
    with pdfplumber.open(path) as pdf, PdfiumLayer(path) as layer:
        for filled in (False, True):
            p = pdf.pages[page - 1]
            p.flush_cache()
            if hasattr(p, "_objects"):
                del p._objects
            assert not filled or layer.fill(p)
            tables = [t.extract() for t in p.find_tables()]
            out.append(([w["text"] for w in p.extract_words()], [t for t in tables if any(map(any, t))], p))
    return out


@pytest.mark.parametrize("name, page, ruled", [("EBAY_2023Q2_EARNINGS.pdf", 8, 0),  # the income statement
                                               ("BOSTONPROPERTIES_2015_10K.pdf", 8, 0),  # spaces PDFium calls its own
                                               ("EBAY_2023Q2_10Q.pdf", 5, 1),  # statements with shaded rows
                                               ("PG_E_2018_10K.pdf", 17, 7)])  # ruled tables
def test_pdfium_gives_pdfplumber_the_words_and_tables_pdfminer_does(name, page, ruled):
    (miner_words, miner_tables, _), (words, tables, filled) = _both(PDFS / name, page)
    assert words == miner_words and tables == miner_tables and len(tables) == ruled
    assert filled.chars and all(c["x0"] <= c["x1"] and c["top"] <= c["bottom"] for c in filled.chars)


def test_pdfium_reads_ligatures_pdfminer_loses():
    """Oracle's 10-K sets "ti" as one glyph that pdfminer reads as U+0000 ("Corpora\\x00on")."""
    (miner_words, _, _), (words, _, _) = _both(PDFS / "ORACLE_2023_10K.pdf", 1)
    assert "Corpora\x00on" in miner_words and "Corporation" in words and not any("\x00" in w for w in words)


def test_a_turned_page_is_left_to_pdfminer(tmp_path):
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(PDFS / "EBAY_2023Q2_EARNINGS.pdf"))
    doc[0].set_rotation(90)
    doc.save(str(tmp_path / "turned.pdf"))
    doc.close()
    with pdfplumber.open(tmp_path / "turned.pdf") as pdf, PdfiumLayer(tmp_path / "turned.pdf") as layer:
        assert not layer.fill(pdf.pages[0]) and layer.fill(pdf.pages[1])
        assert "eBay" in pdf.pages[0].extract_text()  # read by pdfminer, as before
