"""Charts turned back into numbers: bar, grouped bar, stacked bar and line charts with a vertical
value axis, read from the image and its OCR lines.

    chart = read_chart(rgb, lines)    # None when the image is not a chart

The value axis is the column of numeric tick labels whose values fit their heights on a straight
line (or a logarithmic one); nothing is read from a chart whose axis cannot be read, and no scale is
ever assumed. The categories are the labels under the plot; a series is a fill colour of the plot
(named by the legend entry beside a patch of it). A bar counts only when it stands on the zero line
or on another bar (a legend patch floats); its value is the value at its far edge less the value at
its near edge, so stacked segments and bars below zero read the same way. A line's value is its
height over the category's label. Every value keeps the pixel box it was read from.

No package reads charts offline (chart-to-table models need GPU-trained weights that do not ship),
so this is geometry over the OCR's words; `bench vision` measures it on matplotlib and plotly charts.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace

import numpy as np

from r1mm.ingest.ocr import TextLine, centre_inside
from r1mm.types import Finding, Locator

log = logging.getLogger(__name__)

COLOUR_TOLERANCE = 28  # largest per-channel difference of a pixel from its series colour (edges blend)
MIN_SERIES_PIXELS = 40  # a colour covering fewer pixels of the plot is a detail, not a series
READING_PX = 3.0  # a value read from the image is good to about this many pixels of the axis
TOUCH_PX = 4.5  # a bar this close to the zero line (or to another bar) stands on it: edges and lines come between
MAX_BLOBS = 60  # ink blobs read as tick labels the detector missed
MAX_CHART_PIXELS = 16e6  # larger images are photos, not charts: not read as charts

# a tick label: sign, currency, digits, scale; a trailing dash is the tick mark read as a character
_TICK = re.compile(r"^([-−–—]?)\s*[$€£¥]?\s*(\d{1,3}(?:[,\s]\d{3})+|\d+)(\.\d+)?\s*(%|[kKMB]|bn)?\s*[-–—]?$")
_MULTIPLIER = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "bn": 1e9}
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_POWER = re.compile(r"^(?:(\d(?:\.\d+)?)\s*[×xX]\s*)?10\^?\{?([-−]?\d{1,2})\}?$")  # "6 × 10^0", "10^{3}"


@dataclass
class Tick:
    value: float
    pixel: float  # the label's centre along the axis
    line: TextLine


@dataclass
class ValueAxis:
    """value = slope × pixel + intercept (of log10 value on a log axis); pixels are image rows."""
    slope: float
    intercept: float
    log: bool
    ticks: list[Tick]

    def value(self, pixel: float) -> float:
        v = self.slope * pixel + self.intercept
        return float(10 ** v) if self.log else float(v)

    def pixel(self, value: float) -> float:
        return ((np.log10(value) if self.log else value) - self.intercept) / self.slope

    def resolution(self, value: float) -> float:
        """The value READING_PX pixels stand for at ``value``."""
        if self.log:
            return abs(value) * (10 ** (abs(self.slope) * READING_PX) - 1)
        return abs(self.slope) * READING_PX

    @property
    def span(self) -> tuple[float, float]:
        values = [t.value for t in self.ticks]
        return min(values), max(values)


@dataclass
class ChartValue:
    series: str
    category: str
    value: float
    box: tuple[int, int, int, int]  # the bar or the point, in image pixels
    mark: str  # "bar" | "point"


@dataclass
class Series:
    name: str
    colour: tuple[int, int, int]
    mark: str  # "bar" | "line"


@dataclass
class Chart:
    kind: str  # "bar", "grouped bar", "stacked bar", "line", "chart" (unread)
    title: str
    unit: str
    axis: ValueAxis | None
    categories: list[str] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    values: list[ChartValue] = field(default_factory=list)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # the plot area read
    problem: str = ""  # why values could not be read, when they could not


def tick_value(text: str) -> float | None:
    """'1,000' → 1000.0; '−2.5' → -2.5; '40%' → 40.0; '1.5k' → 1500.0; '6 × 10⁰' → 6.0; '10³' → 1000.0;
    anything else → None."""
    written = text.strip()
    power = _POWER.match(written.translate(_SUPERSCRIPTS)) if re.search(r"[⁰-⁹¹²³⁻^×]", written) else None
    if power:  # a log axis labelled by matplotlib's scientific notation
        return float(power.group(1) or 1) * 10.0 ** int(power.group(2).replace("−", "-"))
    m = _TICK.match(text.strip().replace("O", "0") if text.strip()[:1].isdigit() else text.strip())
    if not m:
        return None
    sign, whole, frac, suffix = m.groups()
    value = float(re.sub(r"[,\s]", "", whole) + (frac or ""))
    value *= _MULTIPLIER.get(suffix or "", 1.0)
    return -value if sign else value


def read_chart(rgb: np.ndarray, lines: list[TextLine]) -> Chart | None:
    """The chart on an RGB image, given its OCR lines; None when it does not look like one."""
    if rgb.shape[0] * rgb.shape[1] > MAX_CHART_PIXELS or min(rgb.shape[:2]) < 40:
        return None  # a photo of a scene, or a sliver: not a chart to read
    axis = _value_axis(lines)
    if axis is None or len(axis.ticks) < 5:  # the detector passes over lone digits: look for them
        more = _number_blobs(rgb, lines)
        if more:
            lines = lines + more
            axis = _value_axis(lines) or axis
    if axis is None:
        if _looks_like_bars(rgb):
            return Chart("chart", _title(lines), "", None,
                         problem="its value axis has no numbers that can be read, so no values are given "
                                 "(no scale is assumed)")
        return None
    tick_lines = {id(t.line) for t in axis.ticks}
    others = [line for line in lines if id(line) not in tick_lines]
    lowest = max(t.line.box[3] for t in axis.ticks)
    axis_right = max(t.line.box[2] for t in axis.ticks)
    labels = _fill_gaps(rgb, _category_row(others, lowest, axis_right))
    height, width = rgb.shape[:2]
    bottom = min(line.box[1] for line in labels) if labels else height
    if not axis.log and 0 <= axis.pixel(0.0) < height:  # bars stand on the zero line, perhaps just over the labels
        bottom = max(bottom, min(int(axis.pixel(0.0)) + 4, height))
    plot = (axis_right + 3, 0, width, max(bottom, 1))  # right of the value axis, over the labels
    legend, series = _series(rgb, plot, others)
    title = _title(others)
    unit = _unit(others, axis)
    categories = [line.text for line in labels]
    if not series:
        return None
    centres = [(line.box[0] + line.box[2]) / 2 for line in labels]
    bars, stacked = _bars(rgb, plot, axis, series, legend, categories, centres)
    more = _labels_under_bars(rgb, bars, labels, axis)
    if len(more) > len(labels):  # labels the detector missed, found under their bars: read the bars again
        labels = more
        categories = [line.text for line in labels]
        centres = [(line.box[0] + line.box[2]) / 2 for line in labels]
        bars, stacked = _bars(rgb, plot, axis, series, legend, categories, centres)
    values = bars + _points(rgb, plot, axis, series, legend, categories, centres)
    if not values:
        return None
    if not bars:
        kind = "line"
    else:
        bar_series = {v.series for v in bars}
        kind = "stacked bar" if stacked else "grouped bar" if len(bar_series) > 1 else "bar"
    return Chart(kind, title, unit, axis, categories, series, values, plot)


# ---- the value axis ------------------------------------------------------------------------------

def _value_axis(lines: list[TextLine]) -> ValueAxis | None:
    """Right-aligned numeric labels in a column whose values fit their heights; the column with the
    most such labels (the leftmost of equals)."""
    numeric = [(line, tick_value(line.text)) for line in lines]
    numeric = [(line, value) for line, value in numeric if value is not None]
    best: ValueAxis | None = None
    used: set[int] = set()
    for line, _ in sorted(numeric, key=lambda lv: lv[0].box[2]):
        if id(line) in used:
            continue
        tolerance = max(4.0, 0.6 * (line.box[3] - line.box[1]))
        column = [(other, value) for other, value in numeric if abs(other.box[2] - line.box[2]) <= tolerance]
        used.update(id(other) for other, _ in column)
        axis = _fit(column)
        if axis and (best is None or len(axis.ticks) > len(best.ticks)):
            best = axis
    return best


def _fit(column: list[tuple[TextLine, float]]) -> ValueAxis | None:
    """The axis that a column of numeric labels spells, read as they are or with the minus signs
    OCR can miss put back (labels under a 0 are negative)."""
    ticks = sorted((Tick(value, (line.box[1] + line.box[3]) / 2, line) for line, value in column), key=lambda t: t.pixel)
    ticks = [t for k, t in enumerate(ticks) if k == 0 or t.pixel - ticks[k - 1].pixel > 2]
    return _fit_ticks(list(ticks)) or _fit_ticks(_signs_restored(ticks))


def _fit_ticks(ticks: list[Tick]) -> ValueAxis | None:
    if len(ticks) == 2 and all(t.value > 0 and float(np.log10(t.value)).is_integer() for t in ticks) \
            and ticks[0].value > ticks[1].value:
        # two labels, powers of ten: a log axis spanning under two decades labels only its decades
        # (a linear axis is never labelled that sparsely)
        slope = (np.log10(ticks[0].value) - np.log10(ticks[1].value)) / (ticks[0].pixel - ticks[1].pixel)
        return ValueAxis(float(slope), float(np.log10(ticks[0].value) - slope * ticks[0].pixel), True, ticks)
    while len(ticks) >= 3:
        for log in (False, True):
            if log and min(t.value for t in ticks) <= 0:
                continue
            pixels = np.array([t.pixel for t in ticks])
            values = np.array([np.log10(t.value) if log else t.value for t in ticks])
            if np.ptp(values) == 0:
                continue
            slope, intercept = np.polyfit(pixels, values, 1)
            if slope >= 0:  # values grow upwards on a vertical axis
                continue
            error = np.abs(pixels - (values - intercept) / slope)
            spacing = float(np.median(np.diff(pixels)))
            if error.max() <= max(2.5, 0.12 * spacing):
                return ValueAxis(float(slope), float(intercept), log, ticks)
        if len(ticks) <= 4:  # dropping another label would leave too few to trust
            return None
        # one misread label: drop the one furthest from the straight line and try again
        pixels = np.array([t.pixel for t in ticks])
        values = np.array([t.value for t in ticks])
        slope, intercept = np.polyfit(pixels, values, 1)
        ticks.pop(int(np.argmax(np.abs(values - (slope * pixels + intercept)))))
    return None


def _signs_restored(ticks: list[Tick]) -> list[Tick]:
    """The labels under the lowest 0 made negative (a minus sign OCR did not see)."""
    zeros = [k for k, t in enumerate(ticks) if t.value == 0]
    if not zeros:
        return []
    return ticks[:zeros[-1] + 1] + [Tick(-abs(t.value), t.pixel, t.line) for t in ticks[zeros[-1] + 1:]]


def _number_blobs(rgb: np.ndarray, lines: list[TextLine]) -> list[TextLine]:
    """Numbers the OCR detector passed over (a lone "0" or "5" by an axis): small blobs of dark ink in
    the left third of the image that no OCR line covers, recognised one by one."""
    from scipy import ndimage

    from r1mm.ingest.ocr import recognise

    left = rgb[:, : max(rgb.shape[1] // 3, 1)].astype(np.int16)
    # dark and nearly colourless: print (small anti-aliased digits are never quite black)
    ink = (left.mean(axis=2) < 160) & (np.ptp(left, axis=2) < 80)
    if ink.mean() > 0.3:  # not dark print on a light ground
        return []
    blobs, _ = ndimage.label(ndimage.binary_dilation(ink, structure=np.ones((1, 5), bool)))
    # (the joining widened each blob by 2 pixels a side: its ink is 2 pixels in)
    boxes = [(xs.start + 2, ys.start, xs.stop - 2, ys.stop) for ys, xs in ndimage.find_objects(blobs)
             if 5 <= ys.stop - ys.start <= 40 and xs.stop - xs.start - 4 <= 6 * (ys.stop - ys.start)]
    boxes = [b for b in boxes if not any(_overlaps(b, line.box) for line in lines)]
    # tick labels are right-aligned: only blobs with two others (blobs or numbers read) ending where
    # they end are read
    ends = [b[2] for b in boxes] + [line.box[2] for line in lines if tick_value(line.text) is not None]
    aligned = [b for b in boxes if sum(abs(end - b[2]) <= 4 for end in ends) >= 3]
    out = []
    for box in aligned[:MAX_BLOBS]:
        xs, ys = slice(box[0], box[2]), slice(box[1], box[3])
        height = box[3] - box[1]
        pad = max(3, height // 3)
        text, score = recognise(np.ascontiguousarray(rgb[max(ys.start - pad, 0):ys.stop + pad,
                                                         max(xs.start - pad, 0):xs.stop + pad]))
        if score >= 0.8 and tick_value(text) is not None:
            out.append(TextLine(text, box, score, (ys.start + ys.stop) / 2))
    return out


def _overlaps(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


# ---- labels ---------------------------------------------------------------------------------------

def _category_row(lines: list[TextLine], below: float, right_of: float) -> list[TextLine]:
    """The first row of labels under the lowest tick label and right of the axis labels."""
    candidates = [line for line in lines if (line.box[1] + line.box[3]) / 2 > below and line.box[2] > right_of]
    if not candidates:
        return []
    candidates.sort(key=lambda line: line.box[1])
    rows: list[list[TextLine]] = []
    for line in candidates:
        if rows and abs(line.box[1] - rows[-1][0].box[1]) <= 0.6 * (rows[-1][0].box[3] - rows[-1][0].box[1]):
            rows[-1].append(line)
        else:
            rows.append([line])
    row = sorted(max(rows, key=len), key=lambda line: line.box[0])  # a legend under the plot: one entry a row
    # the width a label takes in this row: labels read as one line are about that wide each
    pitch = float(np.median([(line.box[2] - line.box[0]) / max(len(_LABEL.findall(line.text)), 1) for line in row]))
    return [label for line in row for label in _split(line, pitch)]


_LABEL = re.compile(r"(?:Q[1-4]|H[12]|FY|[A-Z][a-z]{2})\s?'?\d{2,4}|\d[QH]\s?'?\d{2,4}|\S+")


def _split(line: TextLine, pitch: float) -> list[TextLine]:
    """Labels the detector read as one line ("Jan Feb Mar", "Q3 2021 Q4 2021") apart again: a line
    wider than the row's labels are holds about width / pitch of them; its words are shared out
    among them (evenly when they divide, else one word each), each placed where its characters
    fall in the line. "North America" in a row of labels as wide stays whole."""
    words = [(m.start(), m.end(), m.group()) for m in _LABEL.finditer(line.text)]
    x0, y0, x1, y1 = line.box
    count = round((x1 - x0) / pitch) if pitch > 0 else 1
    if count < 2 or len(words) < 2:
        return [_clean(line)]
    per = len(words) // count if len(words) % count == 0 else 1
    groups = [words[k:k + per] for k in range(0, len(words), per)]
    scale = (x1 - x0) / max(len(line.text), 1)
    return [_clean(TextLine(" ".join(w[2] for w in group), (int(x0 + group[0][0] * scale), y0,
                                                              int(x0 + group[-1][1] * scale), y1),
                            line.score, line.level)) for group in groups]


def _clean(line: TextLine) -> TextLine:
    """A label without stray punctuation at its ends; a quarter as 'Q4 2019' or 'Q4 19' when OCR ran
    it together ('Q42019') or read its Q as a zero ('0419')."""
    text = line.text.strip(" )(|.,;:'\"-")
    quarter = re.match(r"^[QO0]([1-4]) ?'?(\d{2}|\d{4})$", text)
    if quarter and (text[0] == "Q" or len(text) in (4, 6)):
        text = f"Q{quarter.group(1)} {quarter.group(2)}"
    return replace(line, text=text or line.text)  # a copy: the OCR's own lines stay as read


def _fill_gaps(rgb: np.ndarray, row: list[TextLine]) -> list[TextLine]:
    """A label the detector missed between two others (where the spacing says one belongs),
    recognised from its place in the image."""
    if len(row) < 3:
        return row
    centres = [(line.box[0] + line.box[2]) / 2 for line in row]
    pitch = float(np.median(np.diff(centres)))
    out = [row[0]]
    for before, after, a, b in zip(row, row[1:], centres, centres[1:]):
        missing = round((b - a) / pitch) - 1 if pitch > 0 else 0
        for k in range(1, missing + 1 if 0 < missing <= 3 else 1):
            centre = a + k * (b - a) / (missing + 1)
            half = min(pitch * 0.48, max(line.box[2] - line.box[0] for line in row) / 2 + 4)
            y0, y1 = min(before.box[1], after.box[1]) - 2, max(before.box[3], after.box[3]) + 2
            found = _label_at(rgb, (int(max(centre - half, 0)), max(y0, 0), int(centre + half), y1))
            if found:
                out.append(found)
        out.append(after)
    return out


def _label_at(rgb: np.ndarray, box: tuple[int, int, int, int]) -> TextLine | None:
    """The label recognised in a box where one belongs but the detector found none."""
    from r1mm.ingest.ocr import recognise

    x0, y0, x1, y1 = box
    text, score = recognise(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    return _clean(TextLine(text, box, score, (y0 + y1) / 2)) if text and score >= 0.6 else None


def _labels_under_bars(rgb: np.ndarray, bars: list[ChartValue], labels: list[TextLine],
                       axis: ValueAxis) -> list[TextLine]:
    """The labels, with those the detector missed under a group of bars (bars side by side or
    stacked) recognised from the strip under the group."""
    groups: list[list[int]] = []  # [x0, x1] of touching bars, left to right
    for box in sorted({v.box for v in bars}):
        if groups and box[0] - groups[-1][1] <= 3:
            groups[-1][1] = max(groups[-1][1], box[2])
        else:
            groups.append([box[0], box[2]])
    if len(groups) < 2:
        return labels
    mids = [(a + b) / 2 for a, b in groups]
    pitch = float(np.median(np.diff(mids)))
    text_height = float(np.median([t.line.box[3] - t.line.box[1] for t in axis.ticks]))
    if labels:
        y0, y1 = min(line.box[1] for line in labels) - 2, max(line.box[3] for line in labels) + 2
    else:  # none read: the strip under the lowest bar
        y0 = max(v.box[3] for v in bars) + 2
        y1 = int(y0 + 2 * text_height + 4)
    y0, y1 = max(int(y0), 0), min(int(y1), rgb.shape[0])
    found = []
    for mid in mids:
        if y1 - y0 < 4 or any(abs(mid - (line.box[0] + line.box[2]) / 2) <= 0.5 * pitch for line in labels):
            continue
        label = _label_at(rgb, (int(max(mid - 0.48 * pitch, 0)), y0, int(min(mid + 0.48 * pitch, rgb.shape[1])), y1))
        if label:
            found.append(label)
    return sorted(labels + found, key=lambda line: line.box[0])


def _title(lines: list[TextLine]) -> str:
    """The widest line of the top quarter of the text (a chart's title sits over it)."""
    if not lines:
        return ""
    first, last = min(line.box[1] for line in lines), max(line.box[3] for line in lines)
    upper = [line for line in lines if line.box[3] <= first + 0.25 * (last - first)]
    return max(upper, key=lambda line: line.box[2] - line.box[0]).text if upper else ""


def _unit(lines: list[TextLine], axis: ValueAxis) -> str:
    """The values' unit from the title or the axis label: "USD millions", "$M", or % on the ticks."""
    from r1mm.analysis.finance import report_unit

    for line in lines:
        unit = report_unit(line.text)
        short = re.search(r"\$\s?(m|mn|bn|b|k)\b", line.text, re.IGNORECASE)
        if short and unit in ("", "USD"):
            return {"m": "USD millions", "mn": "USD millions", "bn": "USD billions", "b": "USD billions",
                    "k": "USD thousands"}[short.group(1).lower()]
        if unit and unit != "USD":
            return unit
    if any(t.line.text.strip().endswith("%") for t in axis.ticks):
        return "%"
    return next((report_unit(line.text) for line in lines if report_unit(line.text)), "")


# ---- series, bars and points ---------------------------------------------------------------------

def _colour_masks(region: np.ndarray) -> list[tuple[tuple[int, int, int], np.ndarray]]:
    """(colour, mask) of each fill colour of a plot region, most pixels first; the background (the
    commonest colour) and near-greys of thin lines are left out by the shape tests later."""
    flat = region.reshape(-1, 3).astype(np.int32)
    keys = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    colours, counts = np.unique(keys, return_counts=True)
    order = np.argsort(-counts)
    background = _background_key(region)
    from scipy import ndimage

    taken: list[np.ndarray] = []
    grounds = [np.array([(background >> 16) & 255, (background >> 8) & 255, background & 255])]
    near_taken = np.zeros(region.shape[:2], bool)
    out = []
    for k in order[:40]:
        if colours[k] == background:
            continue
        if counts[k] < MIN_SERIES_PIXELS:
            break
        rgb = np.array([(colours[k] >> 16) & 255, (colours[k] >> 8) & 255, colours[k] & 255])
        if rgb.max() - rgb.min() < 20 and (rgb.max() < 90 or rgb.min() > 150):
            grounds.append(rgb)  # black, dark grey and light grey: text, axes, gridlines, a plot's ground
            continue
        if any(np.abs(rgb - t).max() <= COLOUR_TOLERANCE for t in taken + grounds):
            continue
        mask = np.abs(region.astype(np.int32) - rgb).max(axis=2) <= COLOUR_TOLERANCE
        if out and (mask & near_taken).sum() >= 0.8 * mask.sum():
            continue  # the blended edge of a colour already taken
        taken.append(rgb)
        near_taken |= ndimage.binary_dilation(mask, iterations=2)
        out.append((tuple(int(v) for v in rgb), mask))
    return out


def _background_key(region: np.ndarray) -> int:
    """The ground's colour as one integer: the commonest along the region's top row and right edge
    (wide bars can cover more of a plot than the ground does)."""
    edge = np.concatenate([region[0], region[:, -1]]).astype(np.int64)
    keys, counts = np.unique(edge[:, 0] << 16 | edge[:, 1] << 8 | edge[:, 2], return_counts=True)
    return int(keys[np.argmax(counts)])


def _patches(mask: np.ndarray):
    """(x0, y0, x1, y1, the patch's own pixels in that box) of each connected patch of the mask
    (x1, y1 exclusive)."""
    from scipy import ndimage

    labels, _ = ndimage.label(mask)
    for k, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is not None:
            ys, xs = found
            yield xs.start, ys.start, xs.stop, ys.stop, labels[found] == k


def _components(mask: np.ndarray) -> list[tuple[int, int, int, int, float]]:
    """(x0, y0, x1, y1, share of the box filled) of each connected patch."""
    return [(x0, y0, x1, y1, float(own.mean())) for x0, y0, x1, y1, own in _patches(mask)]


def _solid_parts(mask: np.ndarray) -> list[tuple[int, int, int, int, float]]:
    """The mask's patches as `_components` gives them, except that a patch that is not solid has
    its one-pixel lines and bridges taken away first (a blended edge row can join a bar to its
    neighbour of another colour); a thin bar that is solid as it is stays."""
    from scipy import ndimage

    out = []
    for x0, y0, x1, y1, own in _patches(mask):
        if own.mean() >= 0.8:
            out.append((x0, y0, x1, y1, float(own.mean())))
            continue
        opened = ndimage.binary_opening(own, structure=np.ones((3, 3), bool))
        out += [(x0 + a, y0 + b, x0 + c, y0 + d, f) for a, b, c, d, f in _components(opened)]
    return out


def _series(rgb: np.ndarray, plot, lines: list[TextLine]) -> tuple[list[tuple[int, int, int, int]], list[Series]]:
    """(legend boxes, series): each fill colour that draws bars (solid patches) or a line."""
    from r1mm.ingest.ocr import recognise

    x0, y0, x1, y1 = plot
    region = rgb[y0:y1, x0:x1]
    legend_boxes: list[tuple[int, int, int, int]] = []
    series: list[Series] = []
    ground = _background_key(region)
    background = (ground >> 16 & 255, ground >> 8 & 255, ground & 255)
    keys: dict[tuple, list[tuple[int, int, int, int]]] = {}  # colour -> its patches shaped like a legend key
    reaches: dict[tuple, float] = {}  # colour -> share of the plot's columns it is seen in
    named_keys: list[tuple[int, int]] = []  # (key's left edge, its words' right edge) of each legend entry
    for colour, mask in _colour_masks(region):
        patches = _components(mask)
        name, key_area = None, 0
        for px0, py0, px1, py1, fill in patches:  # a legend key: a small patch with words just right of it
            w, h = px1 - px0, py1 - py0
            if w > 60 or h > 30 or not (fill >= 0.6 and w >= 3 and h >= 2 or w >= 10 and w >= 2.5 * h):
                continue  # (a square ring or a thin strip is the blended edge of another colour's key)
            gx0, gy0, gx1, gy1 = px0 + x0, py0 + y0, px1 + x0, py1 + y0
            keys.setdefault(colour, []).append((gx0, gy0, gx1, gy1))
            for line in lines:
                centre = (line.box[1] + line.box[3]) / 2
                if 0 <= line.box[0] - gx1 <= 30 and gy0 - 4 <= centre <= gy1 + 4 and w * h > key_area:
                    name, key_area = line.text, w * h
                    entry = (gx0 - 2, min(gy0, line.box[1]) - 2, line.box[2] + 2, max(gy1, line.box[3]) + 2)
        if name:
            name, right = _whole_entry(rgb, name, entry)
            legend_boxes.append((entry[0], entry[1], right, entry[3]))
            named_keys.append((entry[0] + 2, right))
        solid = [p for p in _solid_parts(mask) if p[2] - p[0] >= 3 and p[4] >= 0.8]
        solid_px = sum((p[2] - p[0]) * (p[3] - p[1]) for p in solid)
        if solid_px >= 0.5 * mask.sum() and solid:
            mark = "bar"
        elif (reach := mask.any(axis=0).mean()) >= 0.25 and max(colour) - min(colour) >= 20 \
                and not any(_blend(colour, s.colour, background) and reach < 0.5 * reaches[s.colour] for s in series):
            # a line has a hue (grey is text and gridlines); one seen through a see-through legend
            # is a blend of its colour and the ground, and short (a light and a dark shade of one
            # hue, as the Paired colour map has, are two lines of full length)
            mark = "line"
        else:
            continue
        if name and any(s.name == name for s in series):
            continue
        series.append(Series(name or "", colour, mark))
        reaches[colour] = float(mask.any(axis=0).mean())
    for s in series:  # a legend entry whose words OCR missed: its key lines up with the others'
        if s.name or not named_keys:
            continue
        for gx0, gy0, gx1, gy1 in keys.get(s.colour, []):
            right = next((r for left, r in named_keys if abs(left - gx0) <= 3), None)
            if right is None or right - gx1 < 10:
                continue
            text, score = recognise(np.ascontiguousarray(rgb[max(gy0 - 5, 0):gy1 + 5, gx1 + 2:right]))
            if text and score >= 0.6:
                s.name = text
                legend_boxes.append((gx0 - 2, gy0 - 5, right, gy1 + 5))
                break
    unnamed = [s for s in series if not s.name]
    for k, s in enumerate(unnamed, start=1):
        s.name = f"series {k}" if len(series) > 1 else ""
    return legend_boxes, series


def _whole_entry(rgb: np.ndarray, name: str, entry: tuple[int, int, int, int]) -> tuple[str, int]:
    """(a legend entry's words, their right edge): read again with room to the right, since the
    detector sometimes cuts a word short ("EBI" for "EBITDA"); the longer reading is kept when it
    begins with the first."""
    from r1mm.ingest.ocr import recognise

    x0, y0, x1, y1 = entry
    right = min(int(x1 + 2.5 * (y1 - y0)), rgb.shape[1])
    key_width = max(y1 - y0, 8)  # the words start about a key's width right of the entry's left edge
    text, score = recognise(np.ascontiguousarray(rgb[max(y0, 0):y1, x0 + key_width:right]))
    text = text.strip(" .,:;|_-—'\"")  # a legend's frame read as marks
    flat, again = name.replace(" ", "").lower(), text.replace(" ", "").lower()
    if score >= 0.9 and again.startswith(flat) and again[len(flat):].isalpha():  # letters the first reading lost
        return text, right
    return name, x1


def _blend(colour, pure, background) -> bool:
    """Whether ``colour`` lies between ``pure`` and ``background`` (a see-through mix of the two)."""
    c, p, b = (np.array(v, float) for v in (colour, pure, background))
    direction = p - b
    share = float((c - b) @ direction / max(direction @ direction, 1e-9))
    return 0.05 < share < 0.95 and float(np.abs(c - (b + share * direction)).max()) <= 12


def _category_of(centre: float, centres: list[float], categories: list[str]) -> str | None:
    if not centres:
        return None
    k = int(np.argmin([abs(centre - c) for c in centres]))
    spacing = float(np.median(np.diff(sorted(centres)))) if len(centres) > 1 else float("inf")
    return categories[k] if abs(centre - centres[k]) <= 0.6 * spacing else None


def _bars(rgb, plot, axis: ValueAxis, series: list[Series], legend, categories,
          centres) -> tuple[list[ChartValue], bool]:
    """(bars, whether any stands on another): bars stand on the zero line (or the plot's floor on a
    log axis) or on another bar."""
    x0, y0, x1, y1 = plot
    region = rgb[y0:y1, x0:x1].astype(np.int32)
    segments = []  # [series, (gx0, gy0, gx1, gy1)]
    for s in series:
        if s.mark != "bar":
            continue
        mask = np.abs(region - np.array(s.colour)).max(axis=2) <= COLOUR_TOLERANCE
        for px0, py0, px1, py1, fill in _solid_parts(mask):
            box = (px0 + x0, py0 + y0, px1 + x0, py1 + y0)
            if px1 - px0 >= 3 and fill >= 0.8 and not centre_inside(box, legend):
                segments.append((s, box))
    if axis.log:
        floor = max(b[3] for _, b in segments) if segments else y1
        zero = float(floor)
    else:
        zero = axis.pixel(0.0)
    anchored: dict[int, float] = {}  # segment -> value at its near edge
    for k, (_, box) in enumerate(segments):
        if abs(box[3] - zero) <= TOUCH_PX or abs(box[1] - zero) <= TOUCH_PX:
            anchored[k] = 0.0 if not axis.log else axis.value(zero)
    stacked = set()
    changed = True
    while changed:  # segments resting on an anchored one (a stack), its far edge their near edge
        changed = False
        for k, (_, box) in enumerate(segments):
            if k in anchored:
                continue
            for j in list(anchored):
                other = segments[j][1]
                overlap = min(box[2], other[2]) - max(box[0], other[0])
                if overlap < 0.5 * (box[2] - box[0]):
                    continue
                above = other[1] <= zero and abs(box[3] - other[1]) <= TOUCH_PX  # resting on its top
                below = other[3] >= zero and abs(box[1] - other[3]) <= TOUCH_PX  # hanging under it
                if above or below:
                    anchored[k] = axis.value(other[1] if above else other[3])
                    stacked.add(k)
                    changed = True
                    break
    out = []
    for k, near_value in anchored.items():
        s, box = segments[k]
        far = box[1] if (box[1] + box[3]) / 2 < zero else box[3]
        value = axis.value(far) - near_value if not axis.log else axis.value(far)
        category = _category_of((box[0] + box[2]) / 2, centres, categories)
        if category is None:
            category = f"bar at x {(box[0] + box[2]) // 2}"
        out.append(ChartValue(s.name, category, value, box, "bar"))
    return sorted(out, key=lambda v: (v.box[0], -v.box[3])), bool(stacked)


def _points(rgb, plot, axis: ValueAxis, series: list[Series], legend, categories, centres) -> list[ChartValue]:
    """A line's height over each category label (the median row of its pixels there)."""
    x0, y0, x1, y1 = plot
    out = []
    for s in series:
        if s.mark != "line":
            continue
        region = rgb[y0:y1, x0:x1].astype(np.int32)
        mask = np.abs(region - np.array(s.colour)).max(axis=2) <= COLOUR_TOLERANCE
        for bx0, by0, bx1, by1 in legend:
            mask[max(by0 - y0, 0):max(by1 - y0, 0), max(bx0 - x0, 0):max(bx1 - x0, 0)] = False
        for category, centre in zip(categories, centres):
            column = int(round(centre)) - x0
            for reach in (1, 3, 6):
                rows = np.flatnonzero(mask[:, max(column - reach, 0):column + reach + 1].any(axis=1))
                if rows.size:
                    break
            if not rows.size:
                continue
            row = float(np.median(rows)) + y0
            out.append(ChartValue(s.name, category, axis.value(row + 0.5),
                                  (int(centre) - 4, int(row) - 4, int(centre) + 4, int(row) + 4), "point"))
    return out


def _looks_like_bars(rgb: np.ndarray) -> bool:
    """Three or more solid rectangles of one colour and one width standing on one line: bars,
    whatever the axis."""
    if rgb.shape[0] * rgb.shape[1] > 4e6:
        return False
    for _, mask in _colour_masks(rgb)[:6]:
        solid = [p for p in _components(mask) if p[4] >= 0.95 and p[2] - p[0] >= 5 and p[3] - p[1] >= 10]
        for p in solid:
            alike = [q for q in solid if abs(q[3] - p[3]) <= 1 and abs((q[2] - q[0]) - (p[2] - p[0])) <= 2]
            if len(alike) >= 3 and len({q[3] - q[1] for q in alike}) >= 2:  # (bars differ in height)
                return True
    return False


# ---- findings and the check against report tables ------------------------------------------------

def findings_on_image(source: str, rgb: np.ndarray, lines: list[TextLine], locate=None) -> list[Finding]:
    """The findings of the chart on an image (none when it shows none), from its OCR lines. A
    chart-reading bug costs only the chart: the image's other findings are made without it."""
    try:
        chart = read_chart(rgb, lines)
    except Exception:
        log.warning("%s: its chart could not be read", source, exc_info=log.isEnabledFor(logging.INFO))
        return []
    return findings(source, chart, locate) if chart else []


def findings(source: str, chart: Chart, locate=None) -> list[Finding]:
    """A summary of the chart and one finding per value read, each with its pixel box; or why no
    values could be read. ``locate(box)`` makes a box's locator (default: pixels of the image
    ``source``; a PDF's figures give page and points)."""
    locate = locate or (lambda box: Locator(source, bbox_px=box))
    if chart.axis is None:
        return [Finding("chart.unreadable", chart.problem, None,
                        f"The image looks like a chart{_quoted(chart.title)}, but {chart.problem}.", locate(None))]
    lo, hi = chart.axis.span
    unit = chart.unit or "units the chart does not state"
    names = [s.name for s in chart.series if s.name]
    shown = f"{len(chart.categories)} categories ({', '.join(chart.categories[:3])}{', …' if len(chart.categories) > 3 else ''})" \
        if chart.categories else "category labels that could not be read"
    summary = (f"A {chart.kind} chart{_quoted(chart.title)}: {len(chart.series)} series"
               f"{' (' + ', '.join(names) + ')' if names else ''}, {shown}; value axis "
               f"{_number(lo, chart.axis.resolution(lo))} to {_number(hi, chart.axis.resolution(hi))} in {unit}"
               f"{' (logarithmic)' if chart.axis.log else ''}, "
               f"fitted to {len(chart.axis.ticks)} tick labels; {len(chart.values)} values read.")
    out = [Finding("chart.summary", {"kind": chart.kind, "title": chart.title, "series": names,
                                     "categories": chart.categories, "values": len(chart.values)},
                   chart.unit or None, summary, locate(chart.box))]
    title_metric = _metric_of_title(chart.title)
    for v in chart.values:
        metric = v.series or title_metric
        resolution = chart.axis.resolution(v.value)
        period = f" {v.category}" if v.category else ""
        mark = "the bar" if v.mark == "bar" else "the line"
        text = (f"Chart: {metric}{period} = {_number(v.value, resolution)}"
                f"{' ' + chart.unit if chart.unit else ''} (read from {mark}; axis in {unit}, "
                f"reading resolution ±{_number(resolution, resolution)}).")
        out.append(Finding("chart.value", {"metric": metric, "period": v.category, "value": round(v.value, 6),
                                           "resolution": round(resolution, 6)},
                           chart.unit or None, text, locate(v.box)))
    return out


def _quoted(title: str) -> str:
    return f" “{title}”" if title else ""


def _number(value: float, resolution: float | None = None) -> str:
    """A value with as many decimals as the reading resolution supports."""
    if value == 0:
        return "0"
    step = resolution if resolution else abs(value) / 1000
    decimals = max(0, min(4, int(np.ceil(-np.log10(step))) + 1)) if step < 1 else 0
    return f"{value:,.{decimals}f}"


def _metric_of_title(title: str) -> str:
    """'Revenue by quarter (USD millions)' → 'Revenue'."""
    from r1mm.analysis.finance import canonical_metric

    bare = re.split(r"\s*[(,:–-]|\s+by\s+|\s+per\s+", title, maxsplit=1)[0].strip()
    return bare or canonical_metric(title) or "value"


def period_key(text: str) -> str:
    """One spelling per period: 'Q3 25', "Q3'25", '3Q25', '2025 Q3' → 'Q3 2025'; 'FY2024' → '2024'."""
    t = re.sub(r"\s+", " ", text.strip().upper().replace("’", "'"))
    for pattern, order in ((r"^(Q[1-4]|H[12]) ?'?(\d{2}|\d{4})$", (1, 2)), (r"^([1-4])Q ?'?(\d{2}|\d{4})$", (1, 2)),
                           (r"^(\d{4}) ?(Q[1-4]|H[12])$", (2, 1))):
        m = re.match(pattern, t)
        if m:
            part, year = m.group(order[0]), m.group(order[1])
            part = part if part[0] in "QH" else f"Q{part}"
            return f"{part} {int(year) + 2000 if len(year) == 2 else year}"
    m = re.match(r"^(?:FY ?)?'?(\d{4})$", t)
    return m.group(1) if m else t.lower()


def chart_checks(all_findings: list[Finding]) -> list[Finding]:
    """Each chart value against the report figure of the same metric and period (in any file of the
    workspace): it agrees when the two differ by no more than the chart's reading resolution."""
    from r1mm.analysis.finance import scale_of, canonical_metric, metric_and_period

    figures: dict[tuple[str, str], Finding] = {}
    for f in all_findings:
        if f.kind == "finance.figure" and f.unit != "%":
            metric, period = metric_and_period(f)
            key = (canonical_metric(metric) or metric.lower(), period_key(period))
            figures.setdefault(key, f)
    out = []
    for f in all_findings:
        if f.kind != "chart.value":
            continue
        read = f.value
        key = (canonical_metric(read["metric"]) or read["metric"].lower(), period_key(read["period"]))
        figure = figures.get(key)
        if figure is None:
            continue
        to_report = scale_of(f.unit) / scale_of(figure.unit) if f.unit else 1.0
        value, tolerance = read["value"] * to_report, read["resolution"] * to_report
        difference = value - figure.value
        verdict = "agrees" if abs(difference) <= tolerance else "disagrees"
        unit = figure.unit or ""
        text = (f"The chart's {read['metric']} {read['period']} ({_number(value, tolerance)} {unit}, "
                f"{f.locator.describe()}) {verdict} with the report: {figure.text.rstrip('.')} "
                f"({figure.locator.describe()}); difference {difference:+,.{_decimals_for(tolerance)}f} {unit}, "
                f"{'within' if verdict == 'agrees' else 'beyond'} the chart's reading resolution of "
                f"±{_number(tolerance, tolerance)}.").replace("  ", " ")
        out.append(Finding("chart.check", {"verdict": verdict, "metric": read["metric"], "period": read["period"],
                                           "chart_value": round(value, 6), "report_value": figure.value,
                                           "difference": round(difference, 6), "tolerance": round(tolerance, 6),
                                           "report_locator": figure.locator.to_dict()},
                           figure.unit, text, f.locator))
    return out


def _decimals_for(step: float) -> int:
    return max(0, min(4, int(np.ceil(-np.log10(step))) + 1)) if 0 < step < 1 else 0
