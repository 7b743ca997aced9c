"""Kill mid-analysis and restart; patient identifiers never reach logs or output."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np

from r1mm import Workspace
from r1mm.samples import write_ply

PHI_VALUES = ("DOE^JANE", "PID-0042", "19600101", "General Hospital", "SMITH^JOHN", "ACC123456")


def test_sigkill_mid_analysis_leaves_a_retryable_workspace(tmp_path, samples):
    root = tmp_path / "ws"
    ws = Workspace(root)
    assert ws.add(samples / "plate_scan.ply").ok  # finished work that must survive
    ws.close()
    big = tmp_path / "big_scan.ply"
    rng = np.random.default_rng(0)
    write_ply(big, np.column_stack([rng.uniform(0, 200, (3_000_000, 2)), rng.normal(0, 0.02, 3_000_000)]))
    proc = subprocess.Popen([sys.executable, "-m", "r1mm", "analyze", "--workspace", str(root), str(big)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        with sqlite3.connect(root / "workspace.sqlite") as db:
            row = db.execute("SELECT stage FROM files WHERE name = 'big_scan.ply'").fetchone()
        if row and row[0] == "analysing":
            break
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError("the analysis never started")
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
