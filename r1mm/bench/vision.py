"""Reading scanned reports: generated report PDFs (4 layouts, 2 currencies and scales, 1–3 intro
pages) scanned at 150–300 dpi, turned up to ±1.5°, blurred, noisy and JPEG-compressed, every fourth
one photographed at an angle under uneven light. Figures extracted from the scan are compared with
those from the same report's text layer: metric, period, value and unit must all be the same.
Reports OCR seconds per page at 200 dpi and peak memory.

Charts (read back to numbers) are not built yet: this suite has no chart part."""
from __future__ import annotations

import random
import resource
import tempfile
import time
from pathlib import Path

from r1mm.analysis import analyze
from r1mm.bench.finance import make_case
from r1mm.cases.finance import write_report_pdf
from r1mm.cases.scans import scan_pdf
from r1mm.ingest import load


def _figures(path: Path) -> tuple[set[str], int]:
    """The figures a PDF gives (their finding texts) and its page count."""
    item = load(path)[0]
    return {f.text for f in analyze(item) if f.kind == "finance.figure"}, item.meta["pages"]


def run(cases: int = 12, seed: int = 0) -> dict:
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
            scan = Path(tmp) / f"scan_{k}.pdf"
            scan_pdf(pdf, scan, dpi=dpi, angle=rng.uniform(-1.5, 1.5), blur=rng.uniform(0.3, 1.0),
                     jpeg_quality=rng.choice([60, 75, 90]), photo=photo, seed=seed + k)
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
            condition = "photo at an angle" if photo else f"flatbed {dpi} dpi"
            tally = by_condition.setdefault(condition, [0, 0])
            tally[0] += hit
            tally[1] += len(truth)
            misses += [f"report {k} ({condition}): missing {t}" for t in sorted(truth - read)][:3]
    return {"figures_from_text_layer": expected, "figures_from_scans": found,
            "share_of_text_layer": round(found / max(expected, 1), 4),
            "by_condition": {c: f"{f}/{e}" for c, (f, e) in sorted(by_condition.items())},
            "ocr_seconds_per_page_200dpi": round(sum(seconds_per_page_200dpi) / max(len(seconds_per_page_200dpi), 1), 2),
            "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "first_misses": misses[:8], "charts": "not built yet"}
