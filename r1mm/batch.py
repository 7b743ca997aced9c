"""Batch analysis: many files at once, each processed by one of N worker processes.

The parent records every file in the workspace (so it is listed at once) and hands its id to a
worker; each worker opens the same workspace (SQLite in WAL mode allows one writer at a time and
many readers) and processes the file. A worker that dies leaves its file marked interrupted.
"""
from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Iterable

from r1mm.ingest.sniff import sniff


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """The inputs inside `paths`: files as they are; a folder holding DICOM files is one CT series;
    any other folder stands for what it contains (hidden entries skipped), recursively."""
    out: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            out.append(path)
            continue
        children = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        if not children:
            out.append(path)  # the loader says what is wrong with it
            continue
        files = [p for p in children if p.is_file()]
        if any(_is_dicom(p) for p in files):
            out.append(path)
        else:
            out.extend(expand(children))
    return out


def _is_dicom(path: Path) -> bool:
    try:
        return sniff(path) == "dicom"
    except OSError:
        return False


def _process(root: str, keep_phi: bool, file_id: int, path: str) -> tuple[int, bool, str | None]:
    from r1mm.workspace import Workspace

    ws = Workspace(root, keep_phi=keep_phi)
    try:
        record = ws.process(file_id, Path(path))
        return file_id, record.ok, record.error
    finally:
        ws.close()


def analyze_parallel(ws, paths: list[Path], jobs: int, keep_going: bool = True, quiet: bool = False) -> int:
    """Process `paths` into the on-disk workspace `ws` with `jobs` worker processes and a progress
    bar on stderr. Returns how many failed; without keep_going, files not yet started are skipped
    after the first failure (and left marked interrupted, so they can be retried)."""
    from tqdm import tqdm

    if ws.root is None:
        raise ValueError("parallel analysis needs a workspace on disk")
    queued = [ws.register(path, path.name) for path in paths]
    failed = 0
    # spawn: each worker imports torch itself; forking a parent that already holds threads is unsafe
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool, \
            tqdm(total=len(queued), desc=f"analysing ({jobs} workers)", unit="file", file=sys.stderr,
                 disable=quiet) as bar:
        pending = {pool.submit(_process, str(ws.root), ws.keep_phi, file_id, str(source))
                   for file_id, source in queued}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                bar.update()
                try:
                    _, ok, error = future.result()
                except Exception as exc:  # a worker killed by the OS (memory) or a crash in it
                    ok, error = False, f"a worker process failed ({type(exc).__name__}: {exc})"
                if not ok:
                    failed += 1
                    bar.write(f"r1mm: {error}", file=sys.stderr)
                    if not keep_going:
                        for other in pending:
                            other.cancel()
    return failed
