"""`analyze --jobs N` against one process, on the same folder in the same run.

The folder holds scans of 1 M points each, the sample report and the sample chart. The baseline
adds them one by one to a workspace in this process, as `analyze` without `--jobs` does. Then
`analyze_parallel` runs them with N spawned workers into a second workspace. Reported: both
times, the speed-up, and whether both workspaces hold the same findings.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path


def run(cases: int = 8, jobs: int = 2) -> dict:
    from r1mm.batch import analyze_parallel
    from r1mm.cases.charts import write_chart
    from r1mm.cases.finance import write_report_pdf
    from r1mm.cases.parts import plate_with_dent, write_ply
    from r1mm.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="r1mm-bench-batch-") as tmp:
        inbox = Path(tmp) / "inbox"
        inbox.mkdir()
        write_report_pdf(inbox / "report.pdf")
        write_chart(inbox / "chart.png")
        for k in range(max(0, cases - 2)):
            write_ply(inbox / f"plate{k}.ply", plate_with_dent(1_000_000, dent_centre=(30.0 + 10 * k, 40.0), seed=k))
        files = sorted(inbox.iterdir())

        started = time.perf_counter()
        one = Workspace(Path(tmp) / "one")
        for path in files:
            one.add(path)
        sequential_s = time.perf_counter() - started

        started = time.perf_counter()
        many = Workspace(Path(tmp) / "many")
        failed = analyze_parallel(many, files, jobs, quiet=True)
        parallel_s = time.perf_counter() - started

        same = sorted(f.text for f in one.findings()) == sorted(f.text for f in many.findings())
        one.close()
        many.close()
        shutil.rmtree(inbox, ignore_errors=True)
    return {"files": len(files), "jobs": jobs, "cpu_cores": os.cpu_count(), "failed": failed,
            "one_process_s": round(sequential_s, 1), "workers_s": round(parallel_s, 1),
            "speed_up": round(sequential_s / parallel_s, 2), "same_findings": same}
