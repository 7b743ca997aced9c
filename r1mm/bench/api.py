"""The HTTP API under load: concurrent clients on 127.0.0.1 for a bounded time.

A server process (`python -m r1mm serve`) gets a report upload, then a single client measures
the baseline latency, then `clients` threads ask questions until the time is up. Reported: request
counts by status, latency percentiles, and the p95 under load as a ratio to the baseline median.
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from r1mm.api import free_port, wait_until_up

QUESTIONS = ["What was revenue this quarter?", "How much did net income change year over year?",
             "What risks did management mention?", "What is the gross profit margin?"]


def _ask(conn: http.client.HTTPConnection, key: str, question: str) -> tuple[int, float]:
    body = json.dumps({"model": "r1mm", "messages": [{"role": "user", "content": question}]})
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {key}",
                                                         "Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status, time.perf_counter() - t0


def run(clients: int = 50, seconds: float = 60.0, keys: int = 5, requests_per_minute: int = 3000) -> dict:
    from r1mm.cases.finance import write_report_pdf

    names = {f"sk-load-{k}": f"load{k}" for k in range(keys)}
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-api-") as tmp:
        root = Path(tmp)
        port = free_port()
        env = {**os.environ, "R1MM_API_KEYS": ",".join(f"{n}:{k}" for k, n in names.items()),
               "R1MM_API_RPM": str(requests_per_minute)}
        server = subprocess.Popen([sys.executable, "-m", "r1mm", "serve", "--root", str(root / "data"),
                                   "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            if not wait_until_up(f"http://127.0.0.1:{port}/health", timeout_s=60):
                raise RuntimeError("the API server did not start")
            write_report_pdf(root / "report.pdf")
            for key in names:  # every account gets the report
                _upload(port, key, root / "report.pdf")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            baseline = [_ask(conn, next(iter(names)), q)[1] for q in QUESTIONS * 5]
            conn.close()
            results: list[tuple[int, float]] = []
            lock = threading.Lock()
            deadline = time.monotonic() + seconds

            def client(k: int) -> None:
                key = list(names)[k % len(names)]
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                n = 0
                while time.monotonic() < deadline:
                    try:
                        outcome = _ask(c, key, QUESTIONS[(k + n) % len(QUESTIONS)])
                    except OSError:
                        outcome = (0, 0.0)
                        c.close()
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    with lock:
                        results.append(outcome)
                    n += 1
                c.close()

            threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=seconds + 60)
            elapsed = time.monotonic() - t0
        finally:
            server.terminate()
            server.wait(timeout=30)
    ok = np.array([lat for status, lat in results if status == 200])
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    base_median = float(np.median(baseline))
    p95 = float(np.percentile(ok, 95)) if ok.size else None
    return {
        "clients": clients, "seconds": round(elapsed, 1), "requests": len(results), "by_status": statuses,
        "errors": sum(n for s, n in statuses.items() if s not in ("200", "429")),
        "throughput_rps": round(len(results) / elapsed, 1),
        "latency_ms": {"baseline_median": round(base_median * 1000, 1),
                       "p50": round(float(np.percentile(ok, 50)) * 1000, 1) if ok.size else None,
                       "p95": round(p95 * 1000, 1) if p95 else None},
        "p95_under_load_vs_baseline_median": round(p95 / base_median, 1) if p95 else None,
    }


def _upload(port: int, key: str, path: Path) -> None:
    boundary = "r1mm-bench-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/pdf\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/v1/files", body, {"Authorization": f"Bearer {key}",
                                              "Content-Type": f"multipart/form-data; boundary={boundary}"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"upload failed with HTTP {response.status}")
