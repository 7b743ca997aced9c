"""One sample input per use case, with its ground truth.

`python -m r1mm samples DIR` writes them; the app's "try a sample" buttons and the docs use
them. They come from the generators in `r1mm.cases`; nothing is downloaded.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from r1mm.cases.charts import write_report_chart
from r1mm.cases.ct import Phantom, nodule_side, phantom_volume, write_dicom_series, zip_folder
from r1mm.cases.finance import CALL_CONTRADICTIONS, PERIODS, REPORT_ROWS, write_call_audio, write_report_pdf
from r1mm.cases.parts import plate_with_dent, write_ply


def write_samples(out: Path) -> dict:
    """Write one sample per use case into `out`; returns (and writes) the ground truth."""
    out.mkdir(parents=True, exist_ok=True)
    truth: dict = {}
    write_report_pdf(out / "quarterly_report.pdf")
    truth["report"] = {"file": "quarterly_report.pdf", "unit": "USD millions", "periods": list(PERIODS),
                       "figures": {m: {"current": a, "previous": b} for m, a, b in REPORT_ROWS}}
    try:
        turns = write_call_audio(out / "earnings_call.wav")
        truth["call"] = {"file": "earnings_call.wav", "turns": turns, "contradictions": CALL_CONTRADICTIONS}
    except RuntimeError as exc:
        truth["call"] = {"skipped": str(exc)}
    ph = Phantom()
    volume = phantom_volume(ph)
    series = out / "ct_phantom"
    if series.exists():
        shutil.rmtree(series)
    write_dicom_series(volume, ph.spacing_mm, series)
    zip_folder(series, out / "ct_phantom.zip")
    shutil.rmtree(series)
    truth["ct"] = {"file": "ct_phantom.zip", "spacing_mm": list(ph.spacing_mm), "slices": ph.shape[0],
                   "nodules": [asdict(n) | {"side": nodule_side(ph, n)} for n in ph.nodules]}
    write_ply(out / "plate_scan.ply", plate_with_dent())
    truth["pointcloud"] = {"file": "plate_scan.ply", "units": "mm", "dent_depth": 1.5, "dent_centre": [40.0, 25.0],
                           "size": [120.0, 80.0]}
    # the report's revenue as an analyst would chart it (matplotlib, a value axis the chart reader reads)
    revenue = next(row for row in REPORT_ROWS if row[0] == "Revenue")
    write_report_chart(out / "revenue_chart.png", "Revenue", list(PERIODS[::-1]), [revenue[2], revenue[1]],
                       "USD millions")
    truth["image"] = {"file": "revenue_chart.png", "size": [640, 420],
                      "values": {PERIODS[1]: revenue[2], PERIODS[0]: revenue[1]}}
    (out / "truth.json").write_text(json.dumps(truth, indent=2))
    return truth
