"""Chart images with known values: a Pillow bar chart for the samples, and varied charts drawn by
matplotlib and plotly for `bench vision` (bar, grouped bar, stacked bar and line; 3–12 categories;
negative values; styles, fonts, colour maps, gridlines, legends inside and outside; log axes)."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path


def write_chart(path: Path) -> None:
    """A bar chart of quarterly revenue, drawn with Pillow."""
    from PIL import Image, ImageDraw

    quarters = [("Q4 25", 1150.2), ("Q1 26", 1189.7), ("Q2 26", 1231.0), ("Q3 26", 1284.6)]
    img = Image.new("RGB", (640, 400), "white")
    draw = ImageDraw.Draw(img)
    draw.text((20, 12), "Revenue by quarter (USD millions)", fill="black")
    top = max(v for _, v in quarters)
    for i, (label, value) in enumerate(quarters):
        x0 = 70 + i * 140
        height = int(300 * value / top)
        draw.rectangle([x0, 360 - height, x0 + 80, 360], fill=(40, 90, 160))
        draw.text((x0 + 10, 365), label, fill="black")
        draw.text((x0 + 10, 345 - height), f"{value:,.1f}", fill="black")
    draw.line([60, 360, 620, 360], fill="black")
    img.save(path)


KINDS = ("bar", "grouped", "stacked", "line")
METRICS = ("Revenue", "Net income", "Operating income", "Gross profit", "EBITDA", "Free cash flow",
           "Operating expenses", "Units shipped", "Orders")
STYLES = ("default", "ggplot", "seaborn-v0_8-whitegrid", "bmh", "fivethirtyeight", "seaborn-v0_8-darkgrid",
          "classic", "seaborn-v0_8-ticks")
FONTS = ("DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono")
PALETTES = ("tab10", "Set2", "Dark2", "viridis", "Paired", "Set1", "plasma")
UNITS = ("USD millions", "USD billions", "EUR millions", "USD thousands")


@dataclass
class ChartCase:
    kind: str  # bar | grouped | stacked | line
    categories: list[str]
    series: dict[str, list[float]]  # name -> one value per category
    unit: str
    title: str
    library: str  # matplotlib | plotly
    log: bool = False
    style: dict = field(default_factory=dict)  # how it is drawn: style, font, palette, grid, legend, size


def _categories(rng: random.Random, n: int) -> list[str]:
    kind = rng.choice(["quarters", "quarters_short", "years", "months", "regions"])
    if kind in ("quarters", "quarters_short"):
        year, quarter = rng.randint(2018, 2024), rng.randint(1, 4)
        out = []
        for _ in range(n):
            out.append(f"Q{quarter} {year}" if kind == "quarters" else f"Q{quarter} {year % 100:02d}")
            quarter, year = (1, year + 1) if quarter == 4 else (quarter + 1, year)
        return out
    if kind == "years":
        start = rng.randint(2000, 2024 - n)
        return [str(start + k) for k in range(n)]
    if kind == "months":
        months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return months[:n]
    regions = ["North", "South", "East", "West", "Europe", "Asia", "Americas", "Africa", "Online", "Retail",
               "Wholesale", "Services"]
    return rng.sample(regions, n)


def chart_case(seed: int, library: str = "matplotlib") -> ChartCase:
    rng = random.Random(seed)
    kind = KINDS[seed % len(KINDS)]
    log = kind == "line" and rng.random() < 0.2
    n = rng.randint(3, 12 if kind != "grouped" else 7)
    categories = _categories(rng, n)
    count = 1 if kind == "bar" else rng.randint(2, 3) if kind in ("grouped", "stacked") else rng.randint(1, 3)
    names = rng.sample(METRICS, count)
    scale = rng.choice([1, 10, 100, 1000]) * rng.uniform(1, 9)
    negative = kind in ("bar", "grouped", "line") and not log and rng.random() < 0.3
    series = {}
    for name in names:
        level = scale * rng.uniform(0.5, 1.0)
        if log:
            values = [round(level * 10 ** rng.uniform(-1.5, 1.5), 1) for _ in categories]
        else:
            values = [round(level * rng.uniform(0.2 if not negative else -0.8, 1.0), 1) for _ in categories]
        series[name] = values
    unit = rng.choice(UNITS)
    metric = names[0] if count == 1 else "Results"
    title = rng.choice([f"{metric} by period ({unit})", f"{metric}, {unit}", f"{metric} ({unit})"])
    style = {"style": rng.choice(STYLES), "font": rng.choice(FONTS), "font_size": rng.randint(9, 13),
             "palette": rng.choice(PALETTES), "grid": rng.random() < 0.6,
             "legend": rng.choice(["upper left", "best", "outside"]),
             "size": (rng.uniform(6, 9), rng.uniform(3.8, 5.5)), "dpi": rng.choice([80, 100, 120]),
             "unit_on_axis": rng.random() < 0.5}
    return ChartCase(kind, categories, series, unit, title, library, log, style)


def _colours(palette: str, count: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps[palette]
    if getattr(cmap, "N", 256) < 32:  # a qualitative palette: its first colours
        return [cmap(k) for k in range(count)]
    return [cmap(0.1 + 0.75 * k / max(count - 1, 1)) for k in range(count)]


def write_matplotlib(case: ChartCase, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    s = case.style
    with plt.style.context(s["style"]), plt.rc_context({"font.family": s["font"], "font.size": s["font_size"]}):
        fig, ax = plt.subplots(figsize=s["size"], dpi=s["dpi"])
        x = np.arange(len(case.categories))
        colours = _colours(s["palette"], len(case.series))
        width = 0.8 / len(case.series) if case.kind == "grouped" else 0.6
        bottom = np.zeros(len(x))
        for k, (name, values) in enumerate(case.series.items()):
            if case.kind == "line":
                ax.plot(x, values, color=colours[k], marker="o" if k % 2 == 0 else None, label=name, linewidth=2)
            elif case.kind == "stacked":
                ax.bar(x, values, width, bottom=bottom, color=colours[k], label=name)
                bottom += np.array(values)
            else:
                offset = (k - (len(case.series) - 1) / 2) * width if case.kind == "grouped" else 0
                ax.bar(x + offset, values, width, color=colours[k], label=name)
        ax.set_xticks(x, case.categories)
        if case.log:
            ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 10 or v == 0 else f"{v:g}"))
        if any(v < 0 for values in case.series.values() for v in values) and case.kind != "line":
            ax.axhline(0, color="black", linewidth=0.8)
        ax.grid(s["grid"], axis="y")
        ax.grid(False, axis="x")
        ax.set_axisbelow(True)
        if s["unit_on_axis"]:
            ax.set_ylabel(case.unit)
        ax.set_title(case.title)
        if len(case.series) > 1:
            if s["legend"] == "outside":
                ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
            else:
                ax.legend(loc=s["legend"])
        fig.set_figwidth(max(s["size"][0], _label_room(case) * s["font_size"] / 72 + 1.5))
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def _label_room(case: ChartCase) -> float:
    """Characters' widths the category axis needs so that its labels do not run into each other
    (a chart whose labels overlap cannot be read by anyone)."""
    longest = max(len(c) for c in case.categories)
    return len(case.categories) * (0.7 * longest + 2.5)


def plotly_figure(case: ChartCase):
    import plotly.graph_objects as go

    s = case.style
    colours = ["#%02x%02x%02x" % tuple(int(255 * c) for c in rgba[:3]) for rgba in _colours(s["palette"], len(case.series))]
    fig = go.Figure()
    for k, (name, values) in enumerate(case.series.items()):
        if case.kind == "line":
            fig.add_trace(go.Scatter(x=case.categories, y=values, name=name, mode="lines+markers",
                                     line={"color": colours[k], "width": 3}))
        else:
            fig.add_trace(go.Bar(x=case.categories, y=values, name=name, marker_color=colours[k]))
    template = {"ggplot": "ggplot2", "default": "plotly", "classic": "simple_white",
                "seaborn-v0_8-whitegrid": "plotly_white", "seaborn-v0_8-darkgrid": "seaborn"}.get(s["style"], "plotly")
    fig.update_layout(template=template, title=case.title, barmode="stack" if case.kind == "stacked" else "group",
                      font={"family": {"DejaVu Sans": "Arial", "DejaVu Serif": "Times New Roman"}.get(s["font"], "Courier New"),
                            "size": s["font_size"] + 3},
                      showlegend=len(case.series) > 1, xaxis={"type": "category"},
                      yaxis={"type": "log" if case.log else "linear", "showgrid": s["grid"], "tickformat": ",",
                             "title": case.unit if s["unit_on_axis"] else None})
    return fig


def write_plotly(cases: list[ChartCase], paths: list[Path]) -> None:
    """Plotly figures through kaleido and the system's Chromium (one browser for all of them)."""
    import os

    import plotly.io as pio

    os.environ.setdefault("BROWSER_PATH", "/usr/bin/chromium")
    figures = [plotly_figure(case) for case in cases]
    sizes = [(int(max(c.style["size"][0] * 100, _label_room(c) * (c.style["font_size"] + 3) + 220)),
              int(c.style["size"][1] * 100)) for c in cases]
    pio.write_images(figures, [str(p) for p in paths], width=[w for w, _ in sizes], height=[h for _, h in sizes])


def write_report_chart(path: Path, metric: str, periods: list[str], values: list[float], unit: str,
                       kind: str = "bar") -> None:
    """A chart of one report metric over its periods (matplotlib's default style), as an analyst
    would paste it next to the report."""
    case = ChartCase(kind, list(periods), {metric: list(values)}, unit, f"{metric} ({unit})", "matplotlib",
                     style={"style": "default", "font": "DejaVu Sans", "font_size": 11, "palette": "tab10",
                            "grid": True, "legend": "best", "size": (6.4, 4.2), "dpi": 100, "unit_on_axis": False})
    write_matplotlib(case, path)
