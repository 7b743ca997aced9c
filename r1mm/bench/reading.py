"""How long a filing takes to read, through the CLI and through the app's path, in one run (issue 44).

For each filing of ``../shared/filings`` (the PDFs, and the inline-XBRL HTML files):

- **CLI**: ``python -m r1mm analyze --workspace DIR FILE`` in a fresh process, wall time (process
  start and model loading included, as a user waits for it);
- **app**: the app's path, `WorkerPool.submit` into a workspace and polling the file's row as the
  page does until it is ready (a worker process reads it; the first file pays for starting it);
- **answers**: a few questions asked of the read workspace as the app asks them (`Workspace.ask`),
  findings only and with the R1 decoder when it is built.

s/page, median and p90 over the PDFs; the app's time over the CLI's per file.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = ("What was total revenue?", "What was net income?", "What were total assets at the end of the period?",
             "How much cash did operating activities provide?")
POLL_S = 0.2  # how often the app's path looks at the file's row (the page does every 1 s)


def run_speed(files: list[str] | None = None) -> dict:
    from tqdm import tqdm

    from r1mm.bench.filings import filings_dir

    root = filings_dir()
    paths = sorted((root / "pdf").glob("*.pdf")) + sorted((root / "html").glob("*.html"))
    if files:
        paths = [p for p in paths if p.name in files]
    rows = []
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-reading-") as tmp:
        for path in tqdm(paths, desc="reading speed", unit="file"):
            rows.append(_read_both(path, Path(tmp) / path.stem))
    pdfs = [r for r in rows if r["format"] == "pdf" and r["app_status"] == "ready"]
    summary = {f"{way}_s_per_page": _spread([r[f"{way}_s"] / r["pages"] for r in pdfs]) for way in ("cli", "app")}
    ratios = sorted(r["app_over_cli"] for r in rows if r["app_over_cli"])
    answers = [s for r in rows for s in r["answer_s"]]
    decoded = [s for r in rows for s in r["answer_decoder_s"]]
    return {"command": "python -m r1mm bench filings --speed", "filings": str(root), "files": rows,
            **summary,
            "app_over_cli": {"median": round(statistics.median(ratios), 2), "max": ratios[-1]} if ratios else None,
            "answer_s": _spread(answers), "answer_with_decoder_s": _spread(decoded)}


def _spread(values: list[float]) -> dict | None:
    if not values:
        return None
    values = sorted(values)
    return {"median": round(statistics.median(values), 3), "p90": round(values[int(0.9 * (len(values) - 1))], 3),
            "max": round(values[-1], 3), "n": len(values)}


def _read_both(path: Path, workdir: Path) -> dict:
    from r1mm.decoder import default_decoder
    from r1mm.workers import WorkerPool
    from r1mm.workspace import Workspace

    t0 = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "r1mm", "analyze", "--json", "--workspace", str(workdir / "cli"),
                          str(path)], capture_output=True, text=True)
    cli_s = time.perf_counter() - t0

    ws = Workspace(workdir / "app")
    pool = WorkerPool(ws.root, size=1)
    t0 = time.perf_counter()
    file_id = pool.submit(ws, path, path.name)
    stages = set()
    while (record := ws.file(file_id)).status == "processing":
        stages.add((record.stage or "queued").split(":")[0])
        pool.wake()
        time.sleep(POLL_S)
    app_s = time.perf_counter() - t0
    pool.close()
    pages = next((i.meta.get("pages") for i in ws.items()), None)
    row = {"file": path.name, "format": path.suffix[1:], "pages": pages, "cli_status": cli.returncode,
           "app_status": record.status, "error": record.error, "cli_s": round(cli_s, 1), "app_s": round(app_s, 1),
           "app_over_cli": round(app_s / cli_s, 2) if cli.returncode == 0 and record.ok else None,
           "app_timings": record.timings, "stages_seen": sorted(stages), "answer_s": [], "answer_decoder_s": []}
    if record.ok:
        for decoder, key in ((None, "answer_s"), (default_decoder(), "answer_decoder_s")):
            if key == "answer_decoder_s" and decoder is None:
                continue  # not built here
            ws.decoder = decoder
            for question in QUESTIONS:
                t1 = time.perf_counter()
                ws.ask(question)
                row[key].append(round(time.perf_counter() - t1, 3))
    ws.close()
    return row
