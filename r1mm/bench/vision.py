"""Reading scanned reports: generated report PDFs (4 layouts, 2 currencies and scales, 1–3 intro
pages) scanned at 150–300 dpi, turned up to ±1.5°, blurred, noisy and JPEG-compressed, every fourth
one photographed at an angle under uneven light. Figures extracted from the scan are compared with
those from the same report's text layer: metric, period, value and unit must all be the same.
Reports OCR seconds per page at 200 dpi and peak memory.

Charts: generated bar, grouped bar, stacked bar and line charts (3–12 categories, negative values,
8 matplotlib styles, 3 fonts, 7 colour maps, gridlines or none, legends in and out, some log axes),
drawn by matplotlib and by plotly (through kaleido and the system's Chromium; skipped with the
reason where it cannot run) are read back: the share of values within 2% of the axis range, of
category labels read exactly, and, for report charts with a planted difference from the report
table (3–15% of the value), the precision and recall of the chart-vs-table check."""
from __future__ import annotations

import random
import resource
import tempfile
import time
from pathlib import Path

from r1mm.analysis import analyze
from r1mm.bench.finance import make_case
from r1mm.cases.finance import write_report_pdf
from r1mm.cases.scans import partly_scanned_pdf, scan_pdf
from r1mm.ingest import load


def _figures(path: Path) -> tuple[set[str], int]:
    """The figures a PDF gives (their finding texts) and its page count."""
    item = load(path)[0]
    return {f.text for f in analyze(item) if f.kind == "finance.figure"}, item.meta["pages"]


def run(cases: int = 12, seed: int = 0, charts: int = 100) -> dict:
    result = scanned_reports(cases, seed)
    result["charts"] = read_charts(charts, seed) if charts else "not run (--charts 0)"
    return result


def scanned_reports(cases: int, seed: int) -> dict:
    from tqdm import tqdm

    found = expected = 0
    by_condition: dict[str, list[int]] = {}  # condition -> [found, expected]
    seconds_per_page_200dpi, misses = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in tqdm(range(cases), desc="scanned reports", unit="report"):
            rng = random.Random(seed + k)
            case = make_case(seed + k)
            pdf = Path(tmp) / f"report_{k}.pdf"
            write_report_pdf(pdf, rows=case["rows"], periods=case["periods"], unit_phrase=case["unit_phrase"],
                             number_format=case["format"], intro_pages=case["intro_pages"])
            dpi = (150, 200, 300)[k % 3]
            photo = k % 4 == 3
            # some scans come inside a PDF with a typed text layer over or above them
            layout = None if photo else {1: "stamped", 4: "header"}.get(k % 6)
            scan = Path(tmp) / f"scan_{k}.pdf"
            settings = dict(dpi=dpi, angle=rng.uniform(-1.5, 1.5), blur=rng.uniform(0.3, 1.0),
                            jpeg_quality=rng.choice([60, 75, 90]), seed=seed + k)
            if layout:
                partly_scanned_pdf(pdf, scan, layout, **settings)
            else:
                scan_pdf(pdf, scan, photo=photo, **settings)
            truth, pages = _figures(pdf)
            started = time.perf_counter()
            try:
                read, _ = _figures(scan)
            except Exception as exc:  # a scan that cannot be read counts as nothing found, with the reason
                read, misses = set(), misses + [f"report {k}: {exc}"]
            if dpi == 200:
                seconds_per_page_200dpi.append((time.perf_counter() - started) / pages)
            hit = len(truth & read)
            found, expected = found + hit, expected + len(truth)
            condition = ("photo at an angle" if photo else f"flatbed {dpi} dpi" + {
                None: "", "stamped": ", typed lines over it", "header": ", under a typed header"}[layout])
            tally = by_condition.setdefault(condition, [0, 0])
            tally[0] += hit
            tally[1] += len(truth)
            misses += [f"report {k} ({condition}): missing {t}" for t in sorted(truth - read)][:3]
    return {"figures_from_text_layer": expected, "figures_from_scans": found,
            "share_of_text_layer": round(found / max(expected, 1), 4),
            "by_condition": {c: f"{f}/{e}" for c, (f, e) in sorted(by_condition.items())},
            "ocr_seconds_per_page_200dpi": round(sum(seconds_per_page_200dpi) / max(len(seconds_per_page_200dpi), 1), 2),
            "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "first_misses": misses[:8]}


def read_charts(count: int, seed: int) -> dict:
    """Charts with known values read back; two fifths of them drawn by plotly when it can run here.
    Then report charts held against their report's table, half with a planted difference."""
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from r1mm.analysis.charts import read_chart
    from r1mm.cases.charts import chart_case, write_matplotlib, write_plotly
    from r1mm.ingest.ocr import read_lines

    tally = {"values": [0, 0], "categories": [0, 0], "charts_with_an_axis": [0, 0]}
    by = {}
    misses = []
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [chart_case(seed + k, "plotly" if k % 5 in (1, 3) else "matplotlib") for k in range(count)]
        paths = [Path(tmp) / f"chart_{k}.png" for k in range(count)]
        plotly_note = "drawn"
        plotly = [k for k, c in enumerate(cases) if c.library == "plotly"]
        try:
            write_plotly([cases[k] for k in plotly], [paths[k] for k in plotly])
        except Exception as exc:  # no Chromium or kaleido: matplotlib draws those too, and the reason is given
            plotly_note = f"not drawn ({type(exc).__name__}: {str(exc)[:120]}); matplotlib drew them"
            for k in plotly:
                cases[k].library = "matplotlib"
        for k in tqdm(range(count), desc="charts", unit="chart"):
            case, path = cases[k], paths[k]
            if case.library == "matplotlib":
                write_matplotlib(case, path)
            rgb = np.asarray(Image.open(path).convert("RGB"))
            started = time.perf_counter()
            chart = read_chart(rgb, read_lines(rgb))
            seconds.append(time.perf_counter() - started)
            truth = [(name, cat, v) for name, values in case.series.items() for cat, v in zip(case.categories, values)]
            group = by.setdefault(f"{case.library} {case.kind}", [0, 0])
            tally["charts_with_an_axis"][1] += 1
            tally["values"][1] += len(truth)
            tally["categories"][1] += len(case.categories)
            group[1] += len(truth)
            if chart is None or chart.axis is None:
                misses.append(f"chart {k} ({case.library} {case.kind}, {case.style['style']}): no axis read")
                continue
            tally["charts_with_an_axis"][0] += 1
            read = chart.categories if len(chart.categories) == len(case.categories) else []
            tally["categories"][0] += sum(a == b for a, b in zip(read, case.categories))
            lo, hi = chart.axis.span
            good = 0
            for name, category, value in truth:
                got = [v.value for v in chart.values if v.category == category  # (a space or capital OCR missed is forgiven)
                       and (v.series.replace(" ", "").lower() == name.replace(" ", "").lower() or len(case.series) == 1)]
                if case.log:
                    span = np.log10(max(hi, 1e-9)) - np.log10(max(lo, 1e-9))
                    ok = any(v > 0 and abs(np.log10(v) - np.log10(value)) <= 0.02 * span for v in got)
                else:
                    span = max(hi, *case.series[name]) - min(lo, 0, *case.series[name])
                    ok = any(abs(v - value) <= 0.02 * span for v in got)
                good += ok
            tally["values"][0] += good
            group[0] += good
            if good < len(truth):
                misses.append(f"chart {k} ({case.library} {case.kind}, {case.style['style']}): "
                              f"{len(truth) - good}/{len(truth)} values off or missing")
        checks = _planted_differences(tmp, max(count // 5, 4), seed)

    def share(pair):
        return round(pair[0] / max(pair[1], 1), 4)

    return {"charts": count, "plotly": plotly_note,
            "values_within_2pct_of_axis": share(tally["values"]), "values": f"{tally['values'][0]}/{tally['values'][1]}",
            "category_labels_exact": share(tally["categories"]),
            "charts_with_a_value_axis_read": f"{tally['charts_with_an_axis'][0]}/{tally['charts_with_an_axis'][1]}",
            "values_by_kind": {key: f"{a}/{b}" for key, (a, b) in sorted(by.items())},
            "chart_vs_table": checks,
            "seconds_per_chart": round(float(np.mean(seconds)), 2) if seconds else None,
            "first_misses": misses[:10]}


def _planted_differences(tmp: str, count: int, seed: int) -> dict:
    """Report PDFs with a chart of one metric; every other chart shows one period 3–15% off the
    table. Precision and recall of "disagrees" from `chart_checks` over the report's figures."""
    from r1mm.analysis.charts import chart_checks, findings as chart_findings, read_chart
    from r1mm.cases.charts import write_report_chart
    from r1mm.ingest.ocr import read_lines
    import numpy as np
    from PIL import Image

    tp = fp = fn = checked = 0
    for k in range(count):
        rng = random.Random(seed * 1000 + k)
        case = make_case(seed + k)
        pdf = Path(tmp) / f"report_chart_{k}.pdf"
        write_report_pdf(pdf, rows=case["rows"], periods=case["periods"], unit_phrase=case["unit_phrase"],
                         number_format=case["format"], intro_pages=case["intro_pages"])
        metric, current, previous = rng.choice([r for r in case["rows"] if "per share" not in r[0].lower()])
        planted = k % 2 == 1
        shown = current * (1 + rng.choice([-1, 1]) * rng.uniform(0.03, 0.15)) if planted else current
        png = Path(tmp) / f"chart_{k}.png"
        write_report_chart(png, metric, list(case["periods"][::-1]), [previous, shown], case["unit"])
        rgb = np.asarray(Image.open(png).convert("RGB"))
        chart = read_chart(rgb, read_lines(rgb))
        report = [f for f in analyze(load(pdf)[0]) if f.kind == "finance.figure"]
        verdicts = {c.value["period"]: c.value["verdict"] for c in
                    chart_checks(report + (chart_findings(png.name, chart) if chart else []))}
        checked += len(verdicts)
        found = verdicts.get(case["periods"][0]) == "disagrees"
        tp, fp, fn = tp + (found and planted), fp + (found and not planted), fn + (planted and not found)
        fp += sum(v == "disagrees" for p, v in verdicts.items() if p != case["periods"][0])
    return {"report_charts": count, "planted": count // 2, "values_checked": checked,
            "precision": round(tp / max(tp + fp, 1), 4), "recall": round(tp / max(tp + fn, 1), 4)}
