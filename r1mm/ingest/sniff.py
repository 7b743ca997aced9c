"""Tell a file's format from its first bytes; the suffix only separates text formats.

A report renamed to `.png` is still read as a PDF, and a `.pdf` that holds a JPEG is
read as an image.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

# Format names returned by `sniff`, grouped by the loader that reads them.
DOCUMENT_FORMATS = {"pdf", "docx", "xlsx", "txt", "md", "csv"}
IMAGE_FORMATS = {"png", "jpeg", "tiff", "webp", "gif", "bmp"}
AUDIO_FORMATS = {"wav", "flac", "ogg", "mp3", "m4a"}
CT_FORMATS = {"dicom", "nifti", "dicom_zip", "dicom_folder"}
POINT_FORMATS = {"ply", "pcd", "xyz", "pts", "obj", "stl"}

SUPPORTED = ("PDF, DOCX, XLSX, TXT, MD, CSV; PNG, JPEG, TIFF, WebP; WAV, FLAC, OGG, MP3, M4A; "
             "DICOM (file, folder or zip), NIfTI; PLY, PCD, XYZ, PTS, OBJ, STL")

# What a suffix promises, for formats whose content is binary (a mismatch means a corrupt or misnamed file).
BINARY_SUFFIXES = {".pdf": "pdf", ".docx": "docx", ".xlsx": "xlsx", ".png": "png", ".jpg": "jpeg",
                   ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".webp": "webp", ".gif": "gif",
                   ".bmp": "bmp", ".wav": "wav", ".flac": "flac", ".ogg": "ogg", ".mp3": "mp3", ".m4a": "m4a",
                   ".dcm": "dicom", ".nii": "nifti", ".gz": "nifti", ".zip": "zip"}

_TEXT_SUFFIXES = {".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md", ".csv": "csv",
                  ".tsv": "csv", ".xyz": "xyz", ".pts": "pts", ".obj": "obj", ".pcd": "pcd",
                  ".ply": "ply", ".stl": "stl"}


def sniff(path: Path) -> str | None:
    """Return the format name of `path`, or None when the content is not a supported format."""
    if path.is_dir():
        return "dicom_folder"
    with open(path, "rb") as fh:
        head = fh.read(512)
    fmt = _sniff_binary(head, path)
    if fmt is not None:
        return fmt
    if _looks_like_text(head) and path.suffix.lower() not in BINARY_SUFFIXES:
        return _sniff_text(head, path)
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


def _sniff_binary(head: bytes, path: Path) -> str | None:
    # first: a DICOM preamble is free-form and may itself look like a TIFF header
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM" and len(head) > 26:
        return "bmp"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
                                   and head[1] & 0x06 != 0):
        return "mp3"
    if head[4:8] == b"ftyp" and head[8:12] in (b"M4A ", b"M4B ", b"mp42", b"isom", b"dash"):
        return "m4a"
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "nifti"
    if head.startswith(b"\x1f\x8b") and path.name.lower().endswith(".nii.gz"):
        return "nifti"
    if head.startswith(b"ply\n") or head.startswith(b"ply\r\n"):
        return "ply"
    if head.startswith(b"# .PCD") or (head.startswith(b"VERSION") and b"FIELDS" in head):
        return "pcd"  # the header is text; the data after it may be binary
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _sniff_zip(path)
    if _is_binary_stl(head, path):
        return "stl"
    if path.suffix.lower() in (".dcm", ".ima", ".dicom") and _dicom_without_preamble(head):
        return "dicom"
    return None


def _sniff_zip(path: Path) -> str:
    """A zip is a DOCX, an XLSX, or an archive (taken as a DICOM series)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist()[:5000])
    except (zipfile.BadZipFile, OSError):
        return "dicom_zip"  # the archive loader reports what is wrong with it
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return "dicom_zip"


def _is_binary_stl(head: bytes, path: Path) -> bool:
    """Binary STL: an 80-byte header, a uint32 triangle count, 50 bytes per triangle."""
    if len(head) < 84 or path.suffix.lower() != ".stl":
        return False
    count = int.from_bytes(head[80:84], "little")
    return path.stat().st_size == 84 + 50 * count


def _dicom_without_preamble(head: bytes) -> bool:
    """Old DICOM files start straight with group 0x0008 (little endian) elements."""
    return head[:2] in (b"\x08\x00", b"\x02\x00")


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


def _sniff_text(head: bytes, path: Path) -> str | None:
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    if text.startswith("solid") and path.suffix.lower() == ".stl":
        return "stl"
    by_suffix = _TEXT_SUFFIXES.get(path.suffix.lower())
    if by_suffix is not None:
        return by_suffix
    return "txt"
