"""Kill mid-analysis and restart; patient identifiers never reach logs or output."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

from pathlib import Path

import numpy as np
import pytest

from r1mm import Workspace
from r1mm.cases.parts import write_ply

PHI_VALUES = ("DOE^JANE", "PID-0042", "19600101", "General Hospital", "SMITH^JOHN", "ACC123456")


@pytest.fixture(scope="module")
def big_scan(tmp_path_factory) -> Path:
    """A 3-million-point scan: its analysis lasts long enough to be killed in the middle."""
    big = tmp_path_factory.mktemp("big") / "big_scan.ply"
    rng = np.random.default_rng(0)
    write_ply(big, np.column_stack([rng.uniform(0, 200, (3_000_000, 2)), rng.normal(0, 0.02, 3_000_000)]))
    return big


def wait_for_stage(db_path: Path, name: str, stage: str, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if db_path.exists():
            with sqlite3.connect(db_path) as db:
                row = db.execute("SELECT stage FROM files WHERE name = ?", (name,)).fetchone()
            if row and row[0] == stage:
                return
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {stage}")


def test_sigkill_mid_analysis_leaves_a_retryable_workspace(tmp_path, samples, big_scan):
    root = tmp_path / "ws"
    ws = Workspace(root)
    assert ws.add(samples / "plate_scan.ply").ok  # finished work that must survive
    ws.close()
    big = big_scan
    proc = subprocess.Popen([sys.executable, "-m", "r1mm", "analyze", "--workspace", str(root), str(big)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_stage(root / "workspace.sqlite", "big_scan.ply", "analysing")
    except AssertionError:
        proc.kill()
        raise
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    with sqlite3.connect(root / "workspace.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = Workspace(root)
    records = {f.name: f for f in again.files()}
    assert records["plate_scan.ply"].status == "ready" and again.findings()
    killed = records["big_scan.ply"]
    assert killed.status == "interrupted" and killed.retryable
    assert again.retry(killed.id).ok
    assert any(f.kind == "pointcloud.dimensions" for f in again.findings())


def test_sigkill_of_the_api_mid_analysis_then_restart(tmp_path, samples, big_scan):
    """The API process killed while analysing an upload: after a restart the finished upload is
    there, the killed one says interrupted, and POST /v1/files/{id}/retry finishes it."""
    import json
    import os
    import threading
    import urllib.request

    from openai import OpenAI

    from r1mm.api import free_port, wait_until_up

    port, root = free_port(), tmp_path / "api"
    env = {**os.environ, "R1MM_API_KEYS": "alice:sk-a"}

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "r1mm", "serve", "--root", str(root), "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until_up(f"http://127.0.0.1:{port}/health")
        return proc

    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-a", max_retries=0, timeout=300)
    proc = start()
    try:
        with open(samples / "plate_scan.ply", "rb") as fh:
            assert client.files.create(file=fh, purpose="assistants").status == "processed"

        def upload_big():
            try:
                with open(big_scan, "rb") as fh:
                    client.files.create(file=fh, purpose="assistants")
            except Exception:
                pass  # the server dies under this request

        uploader = threading.Thread(target=upload_big)
        uploader.start()
        wait_for_stage(root / "keys" / "alice" / "workspace.sqlite", "big_scan.ply", "analysing")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    uploader.join(timeout=60)

    with sqlite3.connect(root / "keys" / "alice" / "workspace.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    proc = start()
    try:
        files = {f.filename: f for f in client.files.list()}
        assert files["plate_scan.ply"].status == "processed"
        assert files["big_scan.ply"].status == "interrupted"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/files/{files['big_scan.ply'].id}/retry",
                                         method="POST", headers={"Authorization": "Bearer sk-a"})
        with urllib.request.urlopen(request, timeout=300) as response:
            assert json.load(response)["status"] == "processed"
        dims = client.get(f"/files/{files['big_scan.ply'].id}/findings", cast_to=object)
        assert any(f["kind"] == "pointcloud.dimensions" for f in dims["data"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_no_phi_in_logs_or_output(tmp_path, samples):
    proc = subprocess.run([sys.executable, "-m", "r1mm", "-v", "ask", "--json", "--workspace", str(tmp_path / "ws"),
                           "--question", "What is the study date?", str(samples / "ct_phantom.zip")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "INFO" in proc.stderr  # verbose logging was on
    for value in PHI_VALUES:
        assert value not in proc.stdout and value not in proc.stderr
    assert "2026-10-15" in proc.stdout  # dates are kept (longitudinal option), identifiers are not


def test_findings_carry_no_identifiers_even_when_kept(tmp_path, samples):
    proc = subprocess.run([sys.executable, "-m", "r1mm", "analyze", "--json", "--keep-phi",
                           str(samples / "ct_phantom.zip")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0
    assert "DOE^JANE" not in proc.stdout  # findings carry no identifiers even when they are kept
