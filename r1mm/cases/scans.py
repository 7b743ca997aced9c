"""Scans of PDFs, as a flatbed scanner or a phone camera makes them: pages rendered to grey images
at a given resolution, turned a little, blurred, noisy and JPEG-compressed; a photo of a page is
also seen at an angle (perspective) under uneven light. Written as image-only PDFs."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def scan_pdf(pdf_path: Path, out: Path, dpi: int = 150, angle: float = 1.0, blur: float = 0.6,
             jpeg_quality: int = 80, photo: bool = False, quarter_turns: int = 0, seed: int = 0) -> None:
    """``quarter_turns``: the page fed into the scanner on its side (1, 3) or upside down (2)."""
    pages = scanned_pages(pdf_path, dpi, angle, blur, jpeg_quality, photo, quarter_turns, seed)
    pages[0].save(out, save_all=True, append_images=pages[1:], resolution=dpi)


def scanned_pages(pdf_path: Path, dpi: int = 150, angle: float = 1.0, blur: float = 0.6, jpeg_quality: int = 80,
                  photo: bool = False, quarter_turns: int = 0, seed: int = 0) -> list:
    """The pages of a PDF as a scanner gives them back: RGB images (PIL)."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    pages = []
    for page in pdfium.PdfDocument(str(pdf_path)):
        image = page.render(scale=dpi / 72).to_pil().convert("L")
        if photo:
            image = _at_an_angle(image, rng)
        image = image.rotate(angle, fillcolor=255, resample=Image.BILINEAR).filter(ImageFilter.GaussianBlur(blur))
        if quarter_turns:
            image = image.rotate(90 * quarter_turns, expand=True)
        grey = np.asarray(image, np.float32)
        if photo:  # light falling off towards one side
            grey = grey * np.linspace(1.0, rng.uniform(0.75, 0.9), grey.shape[1])[None, :]
        grey = np.clip(grey + rng.normal(0, 6, grey.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(grey).save(buffer, format="JPEG", quality=jpeg_quality)
        pages.append(Image.open(buffer).convert("RGB"))
    return pages


def partly_scanned_pdf(pdf_path: Path, out: Path, layout: str = "stamped", dpi: int = 150, seed: int = 0,
                       **scan) -> None:
    """A PDF whose text layer covers only part of each page, as document software writes them:
    ``stamped``, each page a scan with a typed line printed over its top and bottom margins (a filing
    stamp, a page footer); ``header``, a typed letterhead above the scan of the page, scaled down to fit.
    ``scan``: the scanner's settings (`scanned_pages`)."""
    from datetime import datetime, timezone

    import pypdfium2 as pdfium
    from fpdf import FPDF

    sizes = [page.get_size() for page in pdfium.PdfDocument(str(pdf_path))]
    pdf = FPDF(unit="pt", format=sizes[0])
    pdf.set_creation_date(datetime(2026, 10, 15, tzinfo=timezone.utc))
    pdf.set_auto_page_break(False)
    scans = scanned_pages(pdf_path, dpi=dpi, seed=seed, **{"angle": 0.8, **scan})
    for number, ((width, height), image) in enumerate(zip(sizes, scans), start=1):
        pdf.add_page(format=(width, height))
        pdf.set_font("helvetica", size=8)
        if layout == "stamped":
            pdf.image(image, x=0, y=0, w=width, h=height)
            pdf.text(24, 14, f"RECEIVED 2026-11-02 - Investor Relations - filed copy {number} of {len(sizes)}")
            pdf.text(24, height - 8, f"Confidential - scanned by the records office - page {number}")
        else:
            pdf.set_font("helvetica", "B", size=12)
            pdf.text(36, 30, "Northwind Holdings plc - Board pack, annex B (scanned)")
            pdf.set_font("helvetica", size=8)
            pdf.text(36, 44, f"Typed cover line for page {number}: the signed original follows below.")
            scale = (height - 60) / height
            pdf.image(image, x=(width - width * scale) / 2, y=56, w=width * scale, h=height * scale)
    pdf.output(str(out))


def _at_an_angle(image, rng: np.random.Generator):
    """The page seen from a little above its bottom edge: its top narrower than its bottom."""
    from PIL import Image

    w, h = image.size
    inset = rng.uniform(0.02, 0.05) * w  # how much narrower the top edge looks
    # PIL maps each output pixel back into the input: solve the 8 coefficients from 4 corners
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(inset, 0), (w - inset, 0), (w, h), (0, h)]
    rows = []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coefficients = np.linalg.solve(np.array(rows, float), np.array([c for p in src for c in p], float))
    return image.transform((w, h), Image.PERSPECTIVE, tuple(coefficients), Image.BILINEAR, fillcolor=255)
