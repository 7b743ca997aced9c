"""A PDF page's text layer and drawings read by PDFium (pypdfium2, C++), handed to pdfplumber as
the objects it would have parsed itself.

pdfplumber parses a page with pdfminer, in Python: about 0.25 s a page of a 10-K, most of a
filing's reading time. PDFium reads the same characters, ruling lines and images in a few
milliseconds. The objects are built as pdfplumber's own (characters with their boxes; a path's
subpaths as lines, rectangles or curves; images' boxes), so everything downstream (words, text,
the table finder, crops, cell boxes) is pdfplumber's unchanged code.

    with pdfplumber.open(path) as pdf, PdfiumLayer(path) as layer:
        for page in pdf.pages:
            layer.fill(page)      # before the page's objects are first read
"""
from __future__ import annotations

import ctypes
import logging
import math
from pathlib import Path

log = logging.getLogger(__name__)

UPRIGHT_RAD = 0.01  # a character turned less than this is upright
RECT_POINTS = (4, 5)  # a rectangle subpath: 4 corners, or 5 when it returns to its start
JOINED_PT = 0.5  # a character that starts this close to where the one before ends continues it
SPELLED = {"\x02": "-"}  # PDFium marks a hyphen that ends a line as U+0002


class PdfiumLayer:
    """One open PDFium document whose pages fill pdfplumber's pages with their objects."""

    def __init__(self, path: Path | str):
        import pypdfium2 as pdfium

        try:
            self._pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:  # pdfminer may still read it: its pages are left to pdfminer
            log.info("%s: PDFium cannot open it (%s); pdfminer reads its pages", Path(path).name, exc)
            self._pdf = None

    def __enter__(self) -> PdfiumLayer:
        return self

    def __exit__(self, *exc) -> None:
        if self._pdf is not None:
            self._pdf.close()

    def fill(self, page) -> bool:
        """Give pdfplumber's `page` PDFium's objects; False (and the page parsed by pdfminer as before)
        for a turned page or one whose boxes do not start at the origin, where the two libraries'
        coordinates differ, and for a page PDFium cannot read."""
        import pypdfium2 as pdfium

        box = [float(v) for v in page.mediabox]
        if self._pdf is None or page.page_number > len(self._pdf) or page.rotation or box[0] or box[1] or \
                [float(v) for v in page.cropbox] != box:
            return False
        try:
            pdf_page = self._pdf[page.page_number - 1]
        except pdfium.PdfiumError:
            return False
        try:
            page._objects = page_objects(pdf_page, page.page_number, float(page.height), float(page.initial_doctop))
        finally:
            pdf_page.close()
        return True


def page_objects(pdf_page, page_number: int, height: float, doctop: float) -> dict[str, list[dict]]:
    """The page's characters, lines, rectangles, curves and images as pdfplumber's dicts (top-down y)."""
    import pypdfium2.raw as raw

    out: dict[str, list[dict]] = {"char": [], "line": [], "rect": [], "curve": [], "image": []}
    text = pdf_page.get_textpage()
    try:
        out["char"] = _chars(text, raw, height, doctop, page_number)
    finally:
        text.close()
    for obj in pdf_page.get_objects(filter=[raw.FPDF_PAGEOBJ_PATH, raw.FPDF_PAGEOBJ_IMAGE], max_depth=1):
        if obj.type == raw.FPDF_PAGEOBJ_IMAGE:
            box = obj.get_bounds()  # left, bottom, right, top
            out["image"].append(_placed({"object_type": "image"}, *box, height, doctop, page_number))
            continue
        for kind, points in _subpaths(obj, raw):
            xs, ys = [x for x, _ in points], [y for _, y in points]
            shape = {"object_type": kind}
            if kind == "curve":
                shape["pts"] = [(x, height - y) for x, y in points]
            out[kind].append(_placed(shape, min(xs), min(ys), max(xs), max(ys), height, doctop, page_number))
    return out


def _chars(text, raw, height: float, doctop: float, page_number: int) -> list[dict]:
    """The page's characters in content order. PDFium reports a space the file prints between two
    words as one it generated, with no box; such a space is kept where it stands between two characters
    of one line, and placed after the first (pdfplumber splits words at it)."""
    chars: list[dict] = []
    pending_space = False
    for i in range(text.count_chars()):
        char = chr(raw.FPDFText_GetUnicode(text, i))
        if raw.FPDFText_IsGenerated(text, i):
            pending_space = pending_space or char == " "  # its line ends (\r\n) are not in the file
            continue
        left, bottom, right, top = text.get_charbox(i, loose=True)
        angle = raw.FPDFText_GetCharAngle(text, i)
        placed = _placed({"object_type": "char", "text": SPELLED.get(char, char), "size": top - bottom,
                          "upright": min(angle, 2 * math.pi - angle) < UPRIGHT_RAD},
                         left, bottom, right, top, height, doctop, page_number)
        before = chars[-1] if chars else None
        if before is not None and abs(placed["x0"] - before["x1"]) < JOINED_PT and \
                before["top"] <= placed["top"] and placed["bottom"] <= before["bottom"]:
            # a ligature's letters (PDFium splits "ti" in two, boxed tight): the line's height, not their own
            placed.update({k: before[k] for k in ("top", "bottom", "doctop", "y0", "y1", "height", "size")})
        if pending_space and before is not None and placed["x0"] > before["x0"] and \
                placed["top"] < before["bottom"] and placed["bottom"] > before["top"]:  # one line: they overlap
            chars.append({**before, "text": " ", "x0": before["x1"], "width": 0.0})
        pending_space = False
        chars.append(placed)
    return chars


def _placed(obj: dict, left: float, bottom: float, right: float, top: float, height: float, doctop: float,
            page_number: int) -> dict:
    """pdfplumber's position keys, from a box in PDF space (y up)."""
    obj.update(x0=left, x1=right, y0=bottom, y1=top, width=right - left, height=top - bottom,
               top=height - top, bottom=height - bottom, doctop=doctop + height - top, page_number=page_number)
    return obj


def _subpaths(obj, raw) -> list[tuple[str, list[tuple[float, float]]]]:
    """A path object's subpaths in page space, each as pdfminer names it: a line (two points), a
    rectangle (four corners, axis-aligned) or a curve (any other polyline)."""
    matrix = raw.FS_MATRIX()
    if not raw.FPDFPageObj_GetMatrix(obj, matrix):
        return []
    x, y = ctypes.c_float(), ctypes.c_float()
    runs: list[list[tuple[float, float]]] = []
    for k in range(raw.FPDFPath_CountSegments(obj)):
        segment = raw.FPDFPath_GetPathSegment(obj, k)
        raw.FPDFPathSegment_GetPoint(segment, x, y)
        point = (matrix.a * x.value + matrix.c * y.value + matrix.e, matrix.b * x.value + matrix.d * y.value + matrix.f)
        if raw.FPDFPathSegment_GetType(segment) == raw.FPDF_SEGMENT_MOVETO or not runs:
            runs.append([point])
        else:
            runs[-1].append(point)
        if raw.FPDFPathSegment_GetClose(segment) and runs[-1][0] != runs[-1][-1]:
            runs[-1].append(runs[-1][0])
    shapes = []
    for points in runs:
        if len(points) < 2:
            continue
        if len(points) == 2:
            shapes.append(("line", points))
        elif len(points) in RECT_POINTS and _is_rectangle(points):
            shapes.append(("rect", points))
        else:
            shapes.append(("curve", points))
    return shapes


def _is_rectangle(points: list[tuple[float, float]]) -> bool:
    corners = points[:4]
    if len(points) == 5 and points[4] != points[0]:
        return False
    sides = list(zip(corners, corners[1:] + corners[:1]))
    return all(a[0] == b[0] or a[1] == b[1] for a, b in sides)
