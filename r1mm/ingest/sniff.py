"""Tell a file's format from its first bytes (each modality's signatures, see `r1mm.modalities`);
the suffix only separates text formats.

A report renamed to `.png` is still read as a PDF, and a `.pdf` that holds a JPEG is
read as an image.
"""
from __future__ import annotations

from pathlib import Path

from r1mm.modalities import specs, supported_formats

# What a file's content must be for its suffix (a mismatch means a corrupt or misnamed file),
# and the formats that text files are told apart by, both as each modality declares them.
BINARY_SUFFIXES = {k: v for spec in specs() for k, v in spec.binary_suffixes.items()}
TEXT_SUFFIXES = {k: v for spec in specs() for k, v in spec.text_suffixes.items()}
SUPPORTED = supported_formats()


def sniff(path: Path) -> str | None:
    """Return the format name of `path`, or None when the content is not a supported format."""
    if path.is_dir():
        return "dicom_folder"
    with open(path, "rb") as fh:
        head = fh.read(512)
    for spec in specs():  # each modality's content signatures, in the registry's order
        fmt = spec.sniff(head, path)
        if fmt is not None:
            return fmt
    if _looks_like_text(head) and path.suffix.lower() not in BINARY_SUFFIXES:
        return TEXT_SUFFIXES.get(path.suffix.lower(), "txt")
    return None


def why_unsupported(path: Path) -> str:
    """The reason `sniff` returned None, for the user."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    expected = BINARY_SUFFIXES.get(path.suffix.lower())
    if expected:
        return (f"is named {path.suffix} but its content is not {expected.upper()} "
                f"(it starts with {head!r}); the file is corrupt or misnamed")
    return f"is not a supported file type (it starts with {head!r}; supported: {SUPPORTED})"


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the 512-byte boundary is still text
        if exc.start >= len(head) - 4:
            return True
    try:
        head.decode("cp1252")
        return True
    except UnicodeDecodeError:
        return False
