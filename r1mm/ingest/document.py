"""Documents: PDF (text and tables, with page numbers and cell boxes), EDGAR's iXBRL HTML, DOCX, TXT/MD,
CSV, XLSX."""
from __future__ import annotations

import csv
import io
import logging
import re
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

from r1mm.errors import IngestError, LimitExceeded
from r1mm.ingest.limits import Limits
from r1mm.ingest.progress import step
from r1mm.ingest.statements import StatementPages, read_grid
from r1mm.types import Document, Item, Modality, Page, Table

log = logging.getLogger(__name__)

MIN_TEXT_LAYER_CHARS = 20  # a PDF page with less text than this (and no table) is taken for a scan
# A text layer whose fonts map glyphs to other codes (McDonald's Q4 2022 earnings release: "CAC?D
# ACJGF" for "TOTAL ASSETS", control codes among them) is read by OCR like a scan: on the 13 shared
# PDFs' other 1,400 pages no character is a control code; on that release's pages 5.6-72% are.
UNREADABLE_CONTROL_SHARE = 0.02
SCAN_DPI = 200  # scanned pages and the images on text pages are rendered at this resolution for OCR
MIN_FIGURE_PT = (144, 90)  # an image at least this large (2 × 1.25 inches) may be a chart or a scan
_YEARS = re.compile(r"\b(?:19|20)\d{2}\b")
OCR_PAGES_KEPT_S = 7 * 24 * 3600  # pages of an interrupted OCR are kept this long for a resume


def load_document(path: Path, source: str, fmt: str, limits: Limits) -> Item:
    reader = _READERS[fmt]
    document = reader(path, source, limits)
    for page in document.pages:
        page.paragraphs = paragraphs(page.text) if fmt not in ("csv", "xlsx") else []
    if not document.text.strip() and not any(p.tables for p in document.pages):
        reason = "is empty"
        if fmt == "pdf":
            reason = ("has no text, and OCR found none on its pages" if limits.max_ocr_pages else
                      "has no readable text layer (a scan, or fonts whose glyphs have no character codes), and "
                      "OCR is off (R1MM_MAX_OCR_PAGES=0)")
        raise IngestError(source, reason)
    n_tables = sum(len(p.tables) for p in document.pages)
    meta = {"format": fmt, "pages": len(document.pages), "tables": n_tables,
            "characters": len(document.text)}
    if any(page.scanned for page in document.pages):
        meta["scanned_pages"] = [page.number for page in document.pages if page.scanned]
    if any(page.scanned_regions for page in document.pages):
        meta["pages_with_scanned_parts"] = [page.number for page in document.pages if page.scanned_regions]
    return Item(Modality.TEXT, source, document, meta)


def _read_pdf(path: Path, source: str, limits: Limits) -> Document:
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect

    from r1mm.ingest.pdf_layer import PdfiumLayer

    pages, images, layer_lines = [], {}, {}
    statements = StatementPages()
    try:
        with pdfplumber.open(path) as pdf, PdfiumLayer(path) as layer:
            if len(pdf.pages) > limits.max_pdf_pages:
                raise LimitExceeded(source, f"has {len(pdf.pages)} pages; the limit is "
                                            f"{limits.max_pdf_pages} (R1MM_MAX_PDF_PAGES)")
            for number, page in enumerate(pdf.pages, start=1):
                layer.fill(page)  # the page's characters and drawings read by PDFium, not pdfminer
                text = page.extract_text() or ""
                # a report's period-headed tables from the words' positions; other tables by pdfplumber's
                # finder, which cuts unruled statements into one-row pieces
                tables = statements.read(page.extract_words(), text) if _YEARS.search(text) or statements.carrying \
                    else []
                if not tables:
                    tables = [_pdf_table(t, i) for i, t in enumerate(page.find_tables(), start=1)]
                pages.append(Page(number, text, [t for t in tables if t.rows], (float(page.width), float(page.height))))
                step(number, len(pdf.pages), f"page {number} of {len(pdf.pages)}: text and tables")
                boxes = [(float(im["x0"]), float(im["top"]), float(im["x1"]), float(im["bottom"]))
                         for im in page.images
                         if im["x1"] - im["x0"] >= MIN_FIGURE_PT[0] and im["bottom"] - im["top"] >= MIN_FIGURE_PT[1]]
                if boxes and limits.max_ocr_pages:  # read by OCR below, with the text layer's lines
                    images[number - 1] = boxes
                    layer_lines[number - 1] = [(line["x0"], line["top"], line["x1"], line["bottom"], line["text"])
                                               for line in page.extract_text_lines()]
    except IngestError:
        raise
    except PDFPasswordIncorrect:
        raise IngestError(source, "is an encrypted PDF; remove the password first") from None
    except Exception as exc:  # pdfminer raises many kinds on broken files
        raise IngestError(source, f"is not a readable PDF ({type(exc).__name__}: {exc})") from None
    scanned = [k for k, page in enumerate(pages)
               if (len(page.text.strip()) < MIN_TEXT_LAYER_CHARS and not page.tables) or unreadable(page.text)]
    for k in scanned:
        if unreadable(pages[k].text):  # never passed on as the page's text, OCR or not
            log.info("%s: page %d's text layer is unreadable (its fonts map glyphs to other codes)", source, k + 1)
            pages[k] = Page(pages[k].number, "", [], pages[k].size)
    if len(scanned) > limits.max_ocr_pages > 0:
        raise LimitExceeded(source, f"has {len(scanned)} pages without a text layer (a scan); OCR reads at most "
                                    f"{limits.max_ocr_pages} (R1MM_MAX_OCR_PAGES)")
    if not limits.max_ocr_pages:
        return Document("pdf", pages)
    with_images = [k for k in sorted(images) if k not in scanned]  # a scan's image is its page
    budget = limits.max_ocr_pages - len(scanned)
    if len(with_images) > budget:
        log.warning("%s: the images of %d pages are not read (OCR reads at most %d pages, R1MM_MAX_OCR_PAGES)",
                    source, len(with_images) - budget, limits.max_ocr_pages)
    wanted = {k: None for k in scanned} | {k: images[k] for k in with_images[:budget]}
    if wanted:
        _read_by_ocr(path, source, pages, dict(sorted(wanted.items())), layer_lines)
    return Document("pdf", pages)


def unreadable(text: str) -> bool:
    """A text layer of codes, not characters: control codes (or U+FFFD) among its visible characters."""
    visible = [c for c in text if not c.isspace()]
    odd = sum(1 for c in visible if ord(c) < 32 or c == "\ufffd")
    return bool(visible) and odd >= UNREADABLE_CONTROL_SHARE * len(visible)


def _read_by_ocr(path: Path, source: str, pages: list[Page], wanted: dict[int, list | None],
                 layer_lines: dict[int, list]) -> None:
    """OCR where a PDF's text layer does not reach, page by page with progress: whole pages without a
    text layer (a scan; ``wanted[k]`` None), and the images on the other pages (their boxes): a chart is
    read into values, any other image's text (a scanned body under a typed header, a pasted table) joins
    the page's text and tables. Each page read is kept in the cache until the whole file is, so a load
    that is interrupted (or fails) resumes where it stopped when the same file is added again."""
    import json

    import numpy as np
    import pypdfium2 as pdfium

    from r1mm.ingest.ocr import page_from_lines, read_lines, words_of
    from r1mm.store import dumps

    done_pages = _ocr_cache(path)
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise IngestError(source, f"is not a readable PDF ({exc})") from None
    what = "scanned pages" if all(boxes is None for boxes in wanted.values()) else "pages with scans or images"
    statements = StatementPages()  # a scanned page's period-headed tables, as a text layer's are read
    try:
        for n, (k, boxes) in enumerate(wanted.items(), start=1):
            kept = done_pages / f"{k + 1}.json"
            if kept.exists():
                pages[k] = Page.from_dict(json.loads(kept.read_text(encoding="utf-8")))
            else:
                if boxes is None:
                    image = pdf[k].render(scale=SCAN_DPI / 72).to_pil().convert("RGB")
                    log.info("%s: page %d of %d has no text layer; reading it by OCR", source, k + 1, len(pages))
                    lines = read_lines(np.asarray(image))
                    pages[k] = page_from_lines(lines, pages[k].number, pages[k].size, SCAN_DPI)
                    read = statements.read(words_of(lines, SCAN_DPI), pages[k].text) \
                        if _YEARS.search(pages[k].text) or statements.carrying else []
                    if read:
                        pages[k].tables = read
                    pages[k].scanned = True
                else:
                    _read_page_images(pdf[k], source, pages[k], boxes, layer_lines.get(k, []))
                partial = kept.with_suffix(".part")
                partial.write_text(dumps(asdict(pages[k])), encoding="utf-8")
                partial.replace(kept)  # whole or absent, whenever the load stops
            step(n, len(wanted), f"page {k + 1} read by OCR ({n} of {len(wanted)} {what})")
    finally:
        pdf.close()
    shutil.rmtree(done_pages, ignore_errors=True)  # all read: the workspace keeps the document


def _read_page_images(pdf_page, source: str, page: Page, boxes: list[tuple], layer: list[tuple]) -> None:
    """A text page's images, each rendered at SCAN_DPI and read by OCR once. A chart's findings are
    kept on the page (`r1mm.analysis.charts`; boxes in PDF points from the top). The text of any
    other image goes into the page's text where the image stands, and its rows and columns into the
    page's tables; lines the text layer already has (a stamp printed over a scan) are not read twice."""
    import numpy as np

    from r1mm.analysis.charts import findings_on_image
    from r1mm.ingest.ocr import centre_inside, page_from_lines, read_lines, rows
    from r1mm.types import Locator

    scale = SCAN_DPI / 72
    width, height = pdf_page.get_size()
    blocks, typed_over_scans = [], set()  # (top in points, text); the text-layer lines inside a read image
    typed = [line[:4] for line in layer]  # the text layer's line boxes, in points
    for x0, top, x1, bottom in boxes:
        left, upper = max(x0, 0), max(top, 0)
        crop = (left, max(height - bottom, 0), max(width - x1, 0), upper)
        rgb = np.asarray(pdf_page.render(scale=scale, crop=crop).to_pil().convert("RGB"))
        lines = read_lines(rgb)

        def on_page(box, number=page.number, left=left, upper=upper):
            return Locator(source, page=number, cell_bbox=None if box is None else
                           (left + box[0] / scale, upper + box[1] / scale,
                            left + box[2] / scale, upper + box[3] / scale))

        found = findings_on_image(source, rgb, lines, on_page)
        page.figures += [f.to_dict() for f in found]
        if any(f.kind in ("chart.value", "chart.summary") for f in found):
            log.info("%s: page %d has a chart; %d values read", source, page.number,
                     sum(f.kind == "chart.value" for f in found))
            continue  # its words are its labels, read into values above
        lines = [_moved(line, left * scale, upper * scale) for line in lines]
        lines = [line for line in lines if not centre_inside([v / scale for v in line.box], typed, slack=2)]
        if sum(len(line.text) for line in lines) < MIN_TEXT_LAYER_CHARS:
            continue  # a photo, a logo: no text worth a paragraph
        for table in page_from_lines(lines, page.number, page.size, SCAN_DPI).tables:
            table.index = len(page.tables) + 1
            page.tables.append(table)
        # the image's rows with the typed lines over it (a stamp) in the order they stand
        over = {i for i, box in enumerate(typed) if centre_inside(box, [(x0, top, x1, bottom)])}
        typed_over_scans |= over
        block = [(min(line.box[1] for line in row) / scale, " ".join(line.text for line in row)) for row in rows(lines)]
        block += [(layer[i][1], layer[i][4]) for i in over]
        blocks.append((upper, "\n".join(text for _top, text in sorted(block))))
        page.scanned_regions.append((left, upper, min(x1, width), min(bottom, height)))
        log.info("%s: page %d has a scanned or pictured text block; read by OCR", source, page.number)
    if page.scanned_regions:  # the page's text in reading order: each image's text where the image stands
        blocks += [(t, text) for i, (_a, t, _b, _d, text) in enumerate(layer) if i not in typed_over_scans]
        page.text = "\n".join(text for _top, text in sorted(blocks))


def _moved(line, dx: float, dy: float):
    """An OCR line of a cropped image placed on the whole page's image."""
    def shift(box):
        return None if box is None else (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)

    return replace(line, box=shift(line.box), upright=shift(line.upright), level=line.level + dy)


def _ocr_cache(path: Path) -> Path:
    """The folder that keeps a PDF's OCR'd pages while it is being read: named by the file's content
    (SHA-256), the resolution and the OCR's version, so only the same reading of the same file resumes."""
    from r1mm.builds import file_sha256
    from r1mm.config import cache_dir
    from r1mm.ingest.ocr import VERSION

    root = cache_dir() / "ocr-pages"
    folder = root / f"{file_sha256(path)[:32]}-{SCAN_DPI}dpi-{VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():  # files never added again: their pages go after a week
        if old != folder and time.time() - old.stat().st_mtime > OCR_PAGES_KEPT_S:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def _pdf_table(table, index: int) -> Table:
    rows, boxes = [], []
    for row in table.rows:
        cells = row.cells
        texts = []
        for bbox in cells:
            # strict=False: a cell the finder drew past the page's edge (a footer band) is cut at it
            texts.append(_clean(table.page.crop(bbox, strict=False).extract_text()) if bbox else "")
        rows.append(texts)
        boxes.append([tuple(float(v) for v in b) if b else None for b in cells])
    return Table(index, rows, boxes)


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _read_docx(path: Path, source: str, limits: Limits) -> Document:
    import docx

    try:
        doc = docx.Document(str(path))
    except Exception as exc:  # python-docx raises PackageNotFoundError, KeyError, lxml errors
        raise IngestError(source, f"is not a readable DOCX ({type(exc).__name__}: {exc})") from None
    text = "\n".join(p.text for p in doc.paragraphs)
    tables = [_typed(Table(i, [[_clean(c.text) for c in row.cells] for row in t.rows]), text)
              for i, t in enumerate(doc.tables, start=1)]
    return Document("docx", [Page(None, text, tables)])


def _typed(table: Table, context: str) -> Table:
    """A grid table as a period-headed statement where a row of years heads it (`read_grid`), else as read."""
    return read_grid(table.rows, table.index, context, table.sheet) or table


def _read_text(path: Path, source: str, limits: Limits) -> Document:
    fmt = "md" if path.suffix.lower() in (".md", ".markdown") else "txt"
    return Document(fmt, [Page(None, _decode(path.read_bytes(), source))])


def _read_csv(path: Path, source: str, limits: Limits) -> Document:
    text = _decode(path.read_bytes(), source)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [[_clean(c) for c in row] for row in csv.reader(io.StringIO(text), dialect)]
    rows = [r for r in rows if any(r)]
    return Document("csv", [Page(None, text, [_typed(Table(1, rows), source)] if rows else [])])


def _read_xlsx(path: Path, source: str, limits: Limits) -> Document:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises KeyError, InvalidFileException, zipfile errors
        raise IngestError(source, f"is not a readable XLSX ({type(exc).__name__}: {exc})") from None
    tables, lines = [], []
    try:
        for index, sheet in enumerate(wb.worksheets, start=1):
            rows = [["" if v is None else _clean(str(v)) for v in row]
                    for row in sheet.iter_rows(values_only=True)]
            rows = [r for r in rows if any(r)]
            if rows:
                tables.append(_typed(Table(index, rows, sheet=sheet.title), sheet.title))
                lines.append(f"Sheet {sheet.title}:\n" + "\n".join("\t".join(r) for r in rows))
    finally:
        wb.close()
    return Document("xlsx", [Page(None, "\n\n".join(lines), tables)])


def _decode(raw: bytes, source: str) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise IngestError(source, "is not UTF-8 or Windows-1252 text")


_NUMBER_TOKEN = re.compile(r"^[-+(]?[$€£]?\d[\d,]*(\.\d+)?%?\)?$")


def _is_heading(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= 6 and line[0].isupper() and line[-1] not in ".,;:!?" and \
        not any(ch.isdigit() for ch in line)


def _is_table_row(line: str) -> bool:
    """A line of a table as text extraction flattens it: two or more bare numbers."""
    return sum(bool(_NUMBER_TOKEN.match(w)) for w in line.split()) >= 2


def paragraphs(text: str, max_chars: int = 400) -> list[str]:
    """A page's prose as paragraphs: a heading or a blank line starts one, a sentence end past
    120 characters or the size limit closes one; table rows and headings are left out."""
    chunks: list[list[str]] = [[]]
    for line in (ln.strip() for ln in text.splitlines()):
        if not line or _is_heading(line) or _is_table_row(line):
            chunks.append([])
            continue
        chunks[-1].append(line)
        size = sum(map(len, chunks[-1]))
        if (line.endswith((".", "!", "?")) and size > 120) or size > max_chars:
            chunks.append([])
    return [" ".join(c) for c in chunks if sum(map(len, c)) > 20]


def _read_html(path: Path, source: str, limits: Limits) -> Document:
    from r1mm.ingest.ixbrl import read_ixbrl

    return read_ixbrl(path, source, limits)


_READERS = {"pdf": _read_pdf, "html": _read_html, "docx": _read_docx, "txt": _read_text, "md": _read_text,
            "csv": _read_csv, "xlsx": _read_xlsx}
