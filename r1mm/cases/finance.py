"""A quarterly report PDF (fpdf2) and its earnings call (spoken by espeak-ng), with the figures
they state."""
from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPORT_ROWS = [  # metric, current quarter, same quarter last year (USD millions; EPS in USD)
    ("Revenue", 1284.6, 1102.3),
    ("Cost of revenue", 702.1, 633.9),
    ("Gross profit", 582.5, 468.4),
    ("Operating expenses", 341.2, 310.7),
    ("Operating income", 241.3, 157.7),
    ("Net income", 187.9, 121.4),
]
PERIODS = ("Q3 2026", "Q3 2025")

CALL_SCRIPT = [
    ("Operator", "Good afternoon and welcome to the Northwind Instruments third quarter twenty twenty six "
                 "earnings call."),
    ("CEO", "Thank you. Revenue for the quarter was one thousand two hundred eighty four million dollars, "
            "up sixteen percent from a year ago."),
    ("CEO", "Net income grew to one hundred eighty eight million dollars."),
    # planted contradiction: the report says 341.2
    ("CFO", "Operating expenses were three hundred twenty one million dollars. We see supply chain "
            "constraints and currency headwinds as the main risks for the fourth quarter."),
]
CALL_CONTRADICTIONS = ["operating expenses"]


def write_report_pdf(path: Path, rows=REPORT_ROWS, periods=PERIODS, company="Northwind Instruments",
                     unit_phrase: str = "(in millions of USD, unaudited)", number_format: str = "{:,.1f}",
                     intro_pages: int = 1, chart: Path | None = None) -> None:
    """``chart``: an image placed under the statement (as a report shows its revenue chart)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime(2026, 10, 15, tzinfo=timezone.utc))  # the same bytes each time (fuzz seeds)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, f"{company} - Quarterly Report {periods[0]}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, f"{company} designs and manufactures precision measurement instruments. "
                         f"This report presents unaudited results for the quarter ended September 30, 2026.")
    pdf.ln(2)
    pdf.multi_cell(0, 6, "Highlights: revenue grew on strong demand for metrology systems; gross margin "
                         "improved as component costs eased.")
    for _ in range(intro_pages - 1):
        pdf.add_page()
        pdf.multi_cell(0, 6, "Management discussion and analysis. " * 20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, "Condensed Consolidated Statement of Income", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 6, unit_phrase, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    with pdf.table(col_widths=(70, 40, 40), text_align=("LEFT", "RIGHT", "RIGHT")) as table:
        header = table.row()
        for title in ("Metric", *periods):
            header.cell(title)
        for metric, *values in rows:
            row = table.row()
            row.cell(metric)
            for v in values:
                row.cell(number_format.format(v) if v >= 0 else "(" + number_format.format(-v) + ")")
    if chart is not None:
        pdf.ln(4)
        pdf.image(str(chart), w=120)
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "Risk factors", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 6, "Our results depend on a limited number of suppliers; supply chain constraints could "
                         "delay shipments. Currency fluctuations affect reported revenue, as about 40% of sales "
                         "are outside the United States.")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))


def write_call_audio(path: Path, script=CALL_SCRIPT, words_per_minute: int = 160,
                     voices: dict[str, tuple[str, str]] | None = None, gap_s: float = 0.6) -> list[dict]:
    """Speak the call with espeak-ng, one turn after another; returns the turns with their times.

    ``voices`` maps a speaker to an espeak-ng voice and pitch (0–99); by default one clear voice
    at three pitches."""
    import soundfile as sf

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng); it speaks the sample call")
    # one clear voice at three pitches: espeak's variants (+m3, +f3) are much harder to understand
    voices = voices or {"Operator": ("en-us", "50"), "CEO": ("en-us", "30"), "CFO": ("en-us", "75")}
    pieces, turns, t, rate = [], [], 0.0, 16000
    gap = np.zeros(int(gap_s * rate), np.float32)
    for speaker, text in script:
        wav = path.with_suffix(f".{len(turns)}.tmp.wav")
        voice, pitch = voices.get(speaker, ("en-us", "50"))
        subprocess.run([espeak, "-v", voice, "-p", pitch, "-s", str(words_per_minute),
                        "-w", str(wav), text], check=True, capture_output=True)
        samples, sr = sf.read(str(wav), dtype="float32")
        wav.unlink()
        if sr != rate:
            import librosa
            samples = librosa.resample(samples, orig_sr=sr, target_sr=rate)
        turns.append({"speaker": speaker, "text": text, "start_s": round(t, 2),
                      "end_s": round(t + len(samples) / rate, 2)})
        pieces += [samples, gap]
        t += (len(samples) + len(gap)) / rate
    sf.write(str(path), np.concatenate(pieces), rate, subtype="PCM_16")
    return turns
