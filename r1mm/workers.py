"""Files read in worker processes: the app's uploads leave the Streamlit server's process.

The queue is a table of the workspace's database (`store.Repository.enqueue`), so it outlives the
server: a file stays queued until a worker has read it. Each worker is a process of its own
(`python -m r1mm.workers ROOT`) that takes the first queued file no live process holds, reads it
(`Workspace.process`, which writes the stage and page to the file's row as it goes) and takes the
next; it exits when the queue has been empty for a while, or after its file when the server that
started it is gone. So:

- the server's page only polls the database (a rerun costs milliseconds while a 300-page filing is
  read; no reading thread fights the page for the GIL);
- files are read side by side, one per worker (`R1MM_WORKERS`, default: the machine's cores);
- Cancel kills the file's worker process and marks the file cancelled; a new worker takes the rest;
- a killed server leaves its workers to finish their files; a killed worker leaves its file queued,
  and the next worker reads it again (OCR'd pages resume from their cache). A file whose workers
  died `MAX_ATTEMPTS` times (out of memory?) is marked interrupted, with Retry.

    pool = WorkerPool(root)
    file_id = pool.submit(ws, path, name)     # listed at once as queued
    pool.cancel(file_id)
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from r1mm import store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # workers that may die on one file before it is marked interrupted
POLL_S = 0.3  # how often an idle worker looks at the queue
IDLE_EXIT_S = float(os.environ.get("R1MM_WORKER_IDLE_S", "300"))  # an idle worker exits (its models with it)
CANCEL_WAIT_S = 10  # how long Cancel waits for the worker to exit
CANCELLED = "cancelled by the user"


def default_workers() -> int:
    return max(1, int(os.environ.get("R1MM_WORKERS", os.cpu_count() or 1)))


class WorkerPool:
    """The worker processes of one workspace, started on demand by the server that owns the pool."""

    def __init__(self, root: Path, size: int | None = None):
        self.root = Path(root)
        self.size = size or default_workers()
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self.repo = store.Repository(store.connect(self.root / "workspace.sqlite"))
        self.wake()  # a server started again resumes what the last one left queued

    def submit(self, ws, path: Path, name: str, cleanup: Path | None = None) -> int:
        """List the file at once as queued and hand it to a worker; `cleanup` is deleted once it is read."""
        file_id, source = ws.register(path, name)
        self.repo.enqueue(file_id, str(source), None if cleanup is None else str(cleanup), ws.keep_phi)
        self.wake()
        return file_id

    def retry(self, ws, file_id: int) -> None:
        """Read a failed, interrupted or cancelled file again from its kept upload."""
        self.repo.enqueue(file_id, str(ws.prepare_retry(file_id)), None, ws.keep_phi)
        self.wake()

    def cancel(self, file_id: int) -> None:
        """Stop reading the file: it leaves the queue, its worker is killed (a new one takes the rest)."""
        held = self.repo.cancel(file_id, CANCELLED)  # off the queue first: no worker can take it after this
        if held is None:
            return
        if held.worker_pid and store.process_alive(held.worker_pid):
            _kill(held.worker_pid, self._procs)
            self.repo.cancel(file_id, CANCELLED)  # what it saved before it died goes too
        if held.cleanup:
            shutil.rmtree(held.cleanup, ignore_errors=True)
        self.wake()

    def wake(self) -> None:
        """Reap finished workers and start new ones while queued files outnumber idle workers."""
        with self._lock:
            self._procs = [p for p in self._procs if p.poll() is None]
            queued = self.repo.queued()
            busy = {q.worker_pid for q in queued if q.worker_pid and store.process_alive(q.worker_pid)}
            waiting = sum(q.worker_pid not in busy for q in queued)
            idle = sum(p.pid not in busy for p in self._procs)
            for _ in range(min(waiting - idle, self.size - len(self._procs))):
                self._procs.append(_start_worker(self.root))

    @property
    def workers(self) -> list[int]:
        """Process ids of this pool's live workers."""
        return [p.pid for p in self._procs if p.poll() is None]

    def close(self) -> None:
        """Stop the workers; files they were reading stay queued for the next pool."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=CANCEL_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._procs = []
        self.repo.close()


def _start_worker(root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "r1mm.workers", str(root)], stdin=subprocess.DEVNULL)


def _kill(pid: int, children: list[subprocess.Popen]) -> None:
    own = next((p for p in children if p.pid == pid), None)
    try:
        os.kill(pid, signal.SIGKILL)  # mid-transaction is safe: SQLite rolls the write back
    except ProcessLookupError:
        return
    if own is not None:
        own.wait(timeout=CANCEL_WAIT_S)  # reaped, so its pid is no longer "alive"
        return
    deadline = time.monotonic() + CANCEL_WAIT_S  # a worker of an earlier server: wait until it is gone
    while store.process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def work(root: Path, idle_exit_s: float = IDLE_EXIT_S) -> None:
    """A worker's life: read queued files one after another until idle for `idle_exit_s`."""
    parent = os.getppid()
    repo = store.Repository(store.connect(root / "workspace.sqlite"))
    idle_since = time.monotonic()
    try:
        while os.getppid() == parent:  # the server that started us is gone: stop between files
            job = repo.take_next(os.getpid())
            if job is None:
                if time.monotonic() - idle_since > idle_exit_s:
                    return
                time.sleep(POLL_S)
                continue
            _read(root, repo, job)
            idle_since = time.monotonic()
    finally:
        repo.close()


def _read(root: Path, repo: store.Repository, job: store.QueuedFile) -> None:
    from r1mm.workspace import Workspace  # not at import: the app's server imports this module

    if job.attempts > MAX_ATTEMPTS:
        repo.finish(job.file_id, store.STATUS_INTERRUPTED,
                    f"reading stopped {MAX_ATTEMPTS} times before it finished (its worker process died: out of "
                    "memory?); retry it", {})
    else:
        if job.attempts > 1:  # a worker died on it: whatever it saved goes, the file is read again
            log.info("file %d: reading it again (attempt %d)", job.file_id, job.attempts)
            repo.reset_for_retry(job.file_id)
        ws = Workspace(root, keep_phi=job.keep_phi)  # fresh: the line inspector may have changed
        try:
            ws.process(job.file_id, Path(job.path))
        finally:
            ws.close()
    repo.dequeue(job.file_id)
    if job.cleanup:
        shutil.rmtree(job.cleanup, ignore_errors=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s r1mm worker %(process)d %(levelname)s %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C at the server's terminal stops the server, not the read
    work(Path(sys.argv[1]))
