"""Kill mid-analysis and restart; patient identifiers never reach logs or output."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from pathlib import Path

import numpy as np
import pytest

from r1mm import Workspace, store
from r1mm.cases.parts import write_ply
from r1mm.workers import MAX_ATTEMPTS, WorkerPool, work

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


def wait_until_read(ws: Workspace, pool: WorkerPool, file_id: int, timeout_s: float = 240) -> None:
    """Poll as the app's file list does (which also wakes the pool) until the file is no longer processing."""
    deadline = time.time() + timeout_s
    while ws.file(file_id).status == "processing":
        assert time.time() < deadline, f"file {file_id} still {ws.file(file_id).stage} after {timeout_s} s"
        pool.wake()
        time.sleep(0.2)


def test_uploads_are_read_in_worker_processes_and_cancel_stops_one(tmp_path, samples, big_scan):
    """The app's queue: a file is read by a worker process, not the server's; Cancel kills that
    worker, leaves nothing of the file but its cancelled row, and the next file is still read."""
    root = tmp_path / "ws"
    ws = Workspace(root)
    pool = WorkerPool(root, size=1)
    try:
        big = pool.submit(ws, big_scan, "big_scan.ply")
        small = pool.submit(ws, samples / "plate_scan.ply", "plate_scan.ply")
        wait_for_stage(root / "workspace.sqlite", "big_scan.ply", "analysing")
        (held,) = [q for q in ws.repo.queued() if q.file_id == big]
        assert held.worker_pid in pool.workers and held.worker_pid != os.getpid()
        assert ws.file(small).stage == "queued"  # one worker: the second file waits its turn
        pool.cancel(big)
        cancelled = ws.file(big)
        assert cancelled.status == "cancelled" and cancelled.error == "cancelled by the user" and cancelled.retryable
        assert not store.process_alive(held.worker_pid)
        wait_until_read(ws, pool, small)
        assert ws.file(small).ok and ws.items(file_id=small)
        assert ws.file(big).status == "cancelled" and not ws.items(file_id=big) and not ws.repo.queued()
    finally:
        pool.close()
        ws.close()


def test_a_worker_killed_mid_file_leaves_it_queued_and_a_new_server_reads_it_again(tmp_path, big_scan):
    root = tmp_path / "ws"
    ws = Workspace(root)
    pool = WorkerPool(root, size=1)
    big = pool.submit(ws, big_scan, "big_scan.ply")
    wait_for_stage(root / "workspace.sqlite", "big_scan.ply", "analysing")
    (held,) = ws.repo.queued()
    os.kill(held.worker_pid, signal.SIGKILL)  # out of memory, or killed with its server
    pool.close()
    assert ws.file(big).status == "processing" and ws.repo.queued()  # not marked interrupted: still queued
    again = WorkerPool(root, size=1)  # a server started again
    try:
        wait_until_read(ws, again, big)
        assert ws.file(big).ok and len(ws.items(file_id=big)) == 1 and not ws.repo.queued()
    finally:
        again.close()
        ws.close()


def test_a_file_whose_workers_keep_dying_is_marked_interrupted_with_retry(tmp_path, samples):
    root = tmp_path / "ws"
    ws = Workspace(root)
    file_id, source = ws.register(samples / "plate_scan.ply", "plate_scan.ply")
    ws.repo.enqueue(file_id, str(source), None, False)
    for _ in range(MAX_ATTEMPTS):  # workers that took it and died
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        assert ws.repo.take_next(int(gone.stdout)).file_id == file_id
    work(root, idle_exit_s=0)  # the next worker gives up on it and exits, idle
    rec = ws.file(file_id)
    assert rec.status == "interrupted" and "died" in rec.error and rec.retryable and not ws.repo.queued()
    ws.close()


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
