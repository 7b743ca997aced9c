"""Errors a user can act on. Each names the file and the reason, never a traceback."""
from __future__ import annotations


class R1Error(Exception):
    """Base of R1-MM's own errors."""


class IngestError(R1Error, ValueError):
    """A file that cannot be read: says which file and why."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class LimitExceeded(IngestError):
    """A file over one of the configured limits (size, slices, points, zip members)."""
