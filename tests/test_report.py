"""The analysis exported as PDF prints what the findings say, in any script."""
from __future__ import annotations

import io

import pdfplumber
import pytest

from r1mm.report import CJK_FONT, markdown_to_pdf


def test_the_pdf_export_prints_symbols_and_chinese_as_written():
    if not CJK_FONT.exists():
        pytest.fail(f"{CJK_FONT} is missing: `make` installs Debian's fonts-wqy-microhei")
    markdown = "# 胸部CT 报告\n\n## Findings\n- Nodule 1: 12.5 × 9.0 mm, volume 820 mm³, “solid” — right lung\n"
    with pdfplumber.open(io.BytesIO(markdown_to_pdf(markdown))) as pdf:
        text = pdf.pages[0].extract_text()
    assert "胸部CT 报告" in text and "12.5 × 9.0 mm, volume 820 mm³, “solid” — right lung" in text
    assert "?" not in text
