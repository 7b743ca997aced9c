"""Progress of a long load (a scanned PDF read by OCR page by page), passed to whoever is loading
the file without threading a callback through every loader: `pipeline.process` shows it on the
file's progress bar.

    with reporting(lambda done, total, what: print(what)):
        load(path)                      # a loader calls step(3, 40, "page 3 of 40 read by OCR")
"""
from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Hook = Callable[[int, int, str], None]  # (done, total, what is being done)
_HOOK: contextvars.ContextVar[Hook | None] = contextvars.ContextVar("r1mm_load_progress", default=None)


@contextmanager
def reporting(hook: Hook) -> Iterator[None]:
    token = _HOOK.set(hook)
    try:
        yield
    finally:
        _HOOK.reset(token)


def step(done: int, total: int, what: str) -> None:
    hook = _HOOK.get()
    if hook is not None:
        hook(done, total, what)
