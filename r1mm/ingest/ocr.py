"""Text in images: PP-OCRv6 (detection, orientation, recognition; ONNX models inside the `rapidocr`
wheel, run by onnxruntime; Chinese and English). Nothing is downloaded at run time.

    lines = read_lines(rgb)      # [TextLine(text, box=(x0, y0, x1, y1), score)], in reading order
"""
from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

MIN_SCORE = 0.75  # recognition confidence below which a line is dropped (texture read as letters)
VERSION = "ppocrv6-3"  # what a reading depends on (models, scaling, filters, statements): kept OCR results carry it
SMALL_SIDE_PX = 1000  # images smaller than this on their longer side are read at twice the size
MAX_SIDE_PX = 2000  # the detector's input is scaled down to this; larger images lose small print
# the recogniser garbles lines longer than about this many heights (a 100-character line of a page
# at 200 dpi read "Nnorr r n ms ns…"): such lines are read again in pieces cut at gaps between words
MAX_LINE_RATIO = 25
SINGLE_DIGIT_SCORE = 0.9  # a lone character is kept only when it is a digit read this surely (a chart's "0")
ORIENTATION_SAMPLES = 6  # the longest lines read again to tell which way up a page is


@dataclass
class TextLine:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the image's pixels
    score: float
    level: float = 0.0  # the centre's height with the page's skew taken out: lines of a row share it
    upright: tuple[int, int, int, int] | None = None  # the box in the page turned upright (for layout)

    @property
    def layout_box(self) -> tuple[int, int, int, int]:
        return self.upright or self.box


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def engine():
    """The OCR engine, loaded once per process (about 2 s)."""
    from rapidocr import RapidOCR

    reader = RapidOCR(params={"Global.log_level": "error", "Global.max_side_len": MAX_SIDE_PX})
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # "detection result is empty" is no news
    return reader


def _ocr(rgb: np.ndarray, detect: bool = True):
    """One call of the engine on an RGB array. Its flags are passed every time because the engine
    keeps the last call's (a recognise-only call would leave detection off for the next page), and
    calls are serialised for the same reason."""
    with _LOCK:
        try:
            return engine()(np.ascontiguousarray(rgb[:, :, ::-1]), use_det=detect, use_cls=detect, use_rec=True)
        except Exception as exc:  # the engine refuses some shapes (a 5000 × 20 strip): no text read there
            log.info("OCR skipped a %d × %d image: %s", rgb.shape[1], rgb.shape[0], exc)
            return None


def recognise(rgb: np.ndarray) -> tuple[str, float]:
    """(text, confidence) of one line of text cropped from an image, detection skipped."""
    result = _ocr(rgb, detect=False)
    if result is None or not result.txts:
        return "", 0.0
    return result.txts[0].strip(), float(result.scores[0])


def read_lines(rgb: np.ndarray) -> list[TextLine]:
    """The text lines of an RGB image, top to bottom and left to right within a row, the page
    turned upright first when it lies on its side or upside down; boxes are in the image as given.
    A small image is read at twice its size (a chart's 10-pixel labels are missed at their own)."""
    if max(rgb.shape[:2]) >= SMALL_SIDE_PX or min(rgb.shape[:2]) < 2:
        return _read_lines(rgb)
    from PIL import Image

    larger = np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize((rgb.shape[1] * 2, rgb.shape[0] * 2),
                                                                         Image.BICUBIC))
    lines = _read_lines(larger)
    for line in lines:
        line.box = tuple(v // 2 for v in line.box[:2]) + tuple(-(-v // 2) for v in line.box[2:])
        line.level /= 2
        if line.upright:
            line.upright = tuple(v // 2 for v in line.upright)
    return lines


def _read_lines(rgb: np.ndarray) -> list[TextLine]:
    turns, result = _upright(rgb)
    upright = np.rot90(rgb, turns) if turns else rgb
    if getattr(result, "boxes", None) is None or result.txts is None:
        return []
    lines = []
    # a scan turned a little: the slope of the long lines' top edges (a row 1,500 px wide at 1.5°
    # falls 39 px, a line's height, from end to end)
    slopes = [(q[1][1] - q[0][1]) / (q[1][0] - q[0][0]) for q in result.boxes
              if q[1][0] - q[0][0] > 3 * max(q[3][1] - q[0][1], 1)]
    skew = float(np.median(slopes)) if slopes else 0.0
    height, width = rgb.shape[:2]
    for text, quad, score in zip(result.txts, result.boxes, result.scores):
        xs, ys = quad[:, 0], quad[:, 1]
        box = (max(int(xs.min()), 0), max(int(ys.min()), 0), int(np.ceil(xs.max())), int(np.ceil(ys.max())))
        ratio = (box[2] - box[0]) / max(box[3] - box[1], 1)
        if ratio > MAX_LINE_RATIO:
            text, score = _read_in_pieces(upright, box)
        elif score < MIN_SCORE and ratio > MAX_LINE_RATIO / 2:
            # a shorter line garbled all the same: a skewed line's box is taller, so its ratio is lower
            text, score = max((text, score), _read_in_pieces(upright, box), key=lambda read: read[1])
        text = text.strip()
        if score < MIN_SCORE or len(text) < 2 and not (text.isdigit() and score >= SINGLE_DIGIT_SCORE):
            continue
        centre_x, centre_y = float(quad[:, 0].mean()), float(quad[:, 1].mean())
        lines.append(TextLine(text, _turned_back(box, turns, width, height), float(score),
                              centre_y - skew * centre_x, box))
    return [line for row in rows(lines) for line in row]


def _upright(rgb: np.ndarray) -> tuple[int, object]:
    """(quarter turns counter-clockwise that make the page upright, the OCR of the upright page).
    Text boxes mostly taller than wide: the page lies on its side. Which way up is told by reading
    its longest lines again, unturned by the orientation classifier, both ways: the right way reads
    with the higher confidence (a 180° page is read line by line just as well, but laid out backwards)."""
    result = _ocr(rgb)
    boxes = getattr(result, "boxes", None)
    if boxes is None or not len(boxes):
        return 0, result
    spans = [(q[:, 0].max() - q[:, 0].min(), q[:, 1].max() - q[:, 1].min(), q) for q in boxes]
    longest = sorted(spans, key=lambda s: -max(s[0], s[1]))[:ORIENTATION_SAMPLES]
    sideways = sum(h > 1.5 * w for w, h, _ in longest) > len(longest) / 2
    confidence = {}
    for turns in ((1, 3) if sideways else (0, 2)):
        scores = []
        for _, _, q in longest:
            x0, y0 = max(int(q[:, 0].min()), 0), max(int(q[:, 1].min()), 0)
            crop = np.rot90(rgb[y0:int(np.ceil(q[:, 1].max())), x0:int(np.ceil(q[:, 0].max()))], turns)
            read = _ocr(crop, detect=False)
            scores.append(float(read.scores[0]) if read is not None and read.scores else 0.0)
        confidence[turns] = float(np.mean(scores))
    turns = max(confidence, key=confidence.get)
    if turns == 0:
        return 0, result
    return turns, _ocr(np.rot90(rgb, turns))


def _turned_back(box: tuple[int, int, int, int], turns: int, width: int, height: int) -> tuple[int, int, int, int]:
    """A box found in ``np.rot90(image, turns)`` in the image's own pixels (width × height)."""
    x0, y0, x1, y1 = box
    if turns == 1:  # rotated[i, j] = image[j, width - 1 - i]
        return (width - y1, x0, width - y0, x1)
    if turns == 2:
        return (width - x1, height - y1, width - x0, height - y0)
    if turns == 3:  # rotated[i, j] = image[height - 1 - j, i]
        return (y0, height - x1, y1, height - x0)
    return box


def centre_inside(box, boxes, slack: float = 0.0) -> bool:
    """Whether a box's centre lies in any of ``boxes`` (each widened by ``slack`` on every side)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(b[0] - slack <= cx <= b[2] + slack and b[1] - slack <= cy <= b[3] + slack for b in boxes)


def rows(lines: list[TextLine]) -> list[list[TextLine]]:
    """Lines grouped into rows (their levels within half a line height), top to bottom,
    each row left to right: a table's cells, detected one by one, come back as its rows."""
    if not lines:
        return []
    height = float(np.median([line.layout_box[3] - line.layout_box[1] for line in lines]))
    out: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda line: line.level):
        if out and abs(line.level - np.mean([other.level for other in out[-1]])) <= height / 2:
            out[-1].append(line)
        else:
            out.append([line])
    return [sorted(row, key=lambda line: line.layout_box[0]) for row in out]


def _read_in_pieces(rgb: np.ndarray, box: tuple[int, int, int, int]) -> tuple[str, float]:
    """A long line recognised piece by piece, cut at the widest blank columns (gaps between words)."""
    x0, y0, x1, y1 = box
    crop = rgb[y0:y1, x0:x1]
    grey = crop.astype(np.float32).mean(axis=2)
    ink = (grey < np.median(grey) - 40).sum(axis=0)  # dark pixels per column
    height = y1 - y0
    pieces = max(2, int(np.ceil((x1 - x0) / (MAX_LINE_RATIO * height / 2))))
    cuts = [0]
    for k in range(1, pieces):  # near each even split, the middle of the widest run of blank columns
        lo, hi = int((x1 - x0) * (k - 0.45) / pieces), int((x1 - x0) * (k + 0.45) / pieces)
        blank = np.concatenate([[False], ink[lo:hi] == 0, [False]]).astype(np.int8)
        starts, ends = np.flatnonzero(np.diff(blank) == 1), np.flatnonzero(np.diff(blank) == -1)
        if len(starts):
            widest = int(np.argmax(ends - starts))
            cuts.append(lo + int(starts[widest] + ends[widest]) // 2)
        else:
            cuts.append((lo + hi) // 2)
    cuts.append(x1 - x0)
    texts, scores = [], []
    for a, b in zip(cuts, cuts[1:]):
        result = _ocr(crop[:, a:b], detect=False)
        if result is not None and result.txts:
            texts.append(result.txts[0].strip())
            scores.append(float(result.scores[0]))
    return " ".join(t for t in texts if t), float(np.mean(scores)) if scores else 0.0


def page_from_lines(lines: list[TextLine], number: int, size_pt: tuple[float, float], dpi: float):
    """A document page from the OCR lines of its image: its text row by row, and its tables (runs of
    two or more rows of two or more cells), each cell with its box in PDF points from the top."""
    from r1mm.types import Page

    grouped = rows(lines)
    text = "\n".join(" ".join(cell.text for cell in row) for row in grouped)
    points = 72.0 / dpi
    tables, block = [], []
    for row in grouped + [[]]:  # an empty row ends the last block
        if len(row) >= 2:
            block.append(row)
            continue
        if len(block) >= 2:
            tables.append(_table(block, len(tables) + 1, points))
        block = []
    return Page(number, text, tables, size_pt)


def words_of(lines: list[TextLine], dpi: float) -> list[dict]:
    """OCR lines as pdfplumber-style words in PDF points from the top (text, x0, x1, top, bottom), so
    that a scanned page's statements are read as a text layer's are: each line's words spread over its
    box in proportion to their characters, the words of one row given the row's top and bottom."""
    points = 72.0 / dpi
    out: list[dict] = []
    for row in rows(lines):
        top = min(line.layout_box[1] for line in row) * points
        bottom = max(line.layout_box[3] for line in row) * points
        for line in row:
            x0, _, x1, _ = line.layout_box
            text = line.text.strip()
            if not text:
                continue
            per_char = (x1 - x0) / len(text)
            position = 0
            for word in text.split():
                start = text.index(word, position)
                position = start + len(word)
                out.append({"text": word, "x0": (x0 + start * per_char) * points, "x1": (x0 + position * per_char) * points,
                            "top": top, "bottom": bottom})
    return out


def _table(block: list[list[TextLine]], index: int, points: float):
    """Cells into columns: a column is a run of cells that overlap horizontally (left-aligned labels,
    right-aligned numbers)."""
    from r1mm.types import Table

    spans: list[list[float]] = []  # [x0, x1] of each column, left to right
    for cell in sorted((cell for row in block for cell in row), key=lambda cell: cell.layout_box[0]):
        if spans and cell.layout_box[0] <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], cell.layout_box[2])
        else:
            spans.append([cell.layout_box[0], cell.layout_box[2]])
    texts = [["" for _ in spans] for _ in block]
    boxes: list[list[tuple[float, float, float, float] | None]] = [[None for _ in spans] for _ in block]
    for r, row in enumerate(block):
        for cell in row:
            c = next(k for k, (x0, x1) in enumerate(spans) if x0 <= cell.layout_box[0] <= x1)
            texts[r][c] = f"{texts[r][c]} {cell.text}".strip()
            box = tuple(v * points for v in cell.box)
            old = boxes[r][c]
            boxes[r][c] = box if old is None else (min(old[0], box[0]), min(old[1], box[1]),
                                                  max(old[2], box[2]), max(old[3], box[3]))
    return Table(index, texts, boxes)
