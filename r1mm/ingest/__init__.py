"""Load any supported file, folder or zip into `Item`s, choosing the loader by content.

    items = load(Path("scan.zip"))      # a zipped DICOM series -> one CT item per series
    items = load(Path("report.pdf"))    # -> one text item with pages and tables

Every failure is an `IngestError` whose message names the file and the reason.
"""
from __future__ import annotations

import logging
from pathlib import Path

from r1mm.errors import IngestError, LimitExceeded
from r1mm.ingest.limits import Limits
from r1mm.ingest.sniff import SUPPORTED, sniff, why_unsupported
from r1mm.modalities import spec_for_format
from r1mm.types import Item

log = logging.getLogger(__name__)

__all__ = ["load", "Limits", "IngestError", "LimitExceeded", "SUPPORTED", "sniff"]


def load(path: Path | str, *, source: str | None = None, limits: Limits | None = None,
         keep_phi: bool = False) -> list[Item]:
    """Read `path` (a file, a DICOM folder or a zip of a series) into items.

    Args:
        path: the file or folder on disk.
        source: the name shown to the user (the upload's name); defaults to the file name.
        limits: size limits; defaults to `Limits.from_env()`.
        keep_phi: keep DICOM patient identifiers (off by default: they are removed on ingest).
    Returns:
        One item per file, or one per series for DICOM folders and zips.
    """
    path = Path(path)
    source = source or path.name
    limits = limits or Limits.from_env()
    if not path.exists():
        raise IngestError(source, "does not exist")
    if path.is_file():
        size = path.stat().st_size
        if size == 0:
            raise IngestError(source, "is empty (0 bytes)")
        if size > limits.max_file_mb * (1 << 20):
            raise LimitExceeded(source, f"is {size / (1 << 20):.0f} MB; the limit is "
                                        f"{limits.max_file_mb:.0f} MB (R1MM_MAX_FILE_MB)")
    fmt = sniff(path)
    if fmt is None:
        raise IngestError(source, why_unsupported(path))
    log.info("loading %s as %s", source, fmt)
    try:
        return _dispatch(path, source, fmt, limits, keep_phi)
    except (IngestError, KeyboardInterrupt):
        raise
    except MemoryError:
        raise IngestError(source, "is too large to load in the memory available") from None
    except Exception as exc:  # a loader bug must still name the file, not crash the caller
        log.info("unexpected failure loading %s", source, exc_info=True)  # the traceback, with --verbose
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise IngestError(source, f"could not be read as {fmt.upper()} ({type(exc).__name__}: {first})") from None


def _dispatch(path: Path, source: str, fmt: str, limits: Limits, keep_phi: bool) -> list[Item]:
    """The modality's loader (imported on first use: each pulls in a heavy library such as
    pdfplumber, librosa, pydicom or open3d); CT loaders give one item per series."""
    return spec_for_format(fmt).load(path, source, fmt, limits, keep_phi=keep_phi)
