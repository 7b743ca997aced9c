"""Read zip archives defensively: no path traversal, no zip bombs, bounded member count."""
from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from r1mm.errors import IngestError, LimitExceeded
from r1mm.ingest.limits import Limits

_CHUNK = 1 << 20
_MB = 1 << 20


def unsafe_member_reason(name: str) -> str | None:
    """Why a member name could escape the extraction folder, or None when it is safe."""
    if "\x00" in name:
        return "contains a NUL byte"
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return "is an absolute path"
    if ".." in PurePosixPath(normalized).parts:
        return "contains '..'"
    return None


def _skipped(name: str) -> bool:
    """Folders and the clutter that archivers add (macOS resource forks, hidden files)."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.endswith("/") or any(p.startswith(".") or p == "__MACOSX" for p in parts)


def iter_zip_members(path: Path, source: str, limits: Limits) -> Iterator[tuple[str, bytes]]:
    """Yield (member name, bytes) for each regular file of the zip, after checking all members.

    Raises IngestError naming the archive (and the member) for an unsafe or oversized archive.
    Sizes are counted while reading too, since a zip's headers can lie.
    """
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise IngestError(source, f"not a readable zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise LimitExceeded(source, f"holds {len(infos)} files; the limit is {limits.max_files} "
                                        "(R1MM_MAX_FILES)")
        declared = 0
        for info in infos:
            reason = unsafe_member_reason(info.filename)
            if reason:
                raise IngestError(source, f"member {info.filename!r} {reason}; refusing the archive")
            declared += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > _MB and ratio > limits.max_zip_ratio:
                raise LimitExceeded(source, f"member {info.filename!r} expands {ratio:.0f}× "
                                            f"(limit {limits.max_zip_ratio:.0f}×): looks like a zip bomb")
        budget = int(limits.max_unzipped_mb * _MB)
        if declared > budget:
            raise LimitExceeded(source, f"expands to {declared / _MB:.0f} MB; the limit is "
                                        f"{limits.max_unzipped_mb:.0f} MB (R1MM_MAX_UNZIPPED_MB)")
        for info in infos:
            if _skipped(info.filename):
                continue
            data = _read_member(zf, info, source, budget)
            budget -= len(data)
            yield info.filename, data


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, budget: int) -> bytes:
    chunks, total = [], 0
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(_CHUNK):
                total += len(chunk)
                if total > info.file_size or total > budget:
                    raise LimitExceeded(source, f"member {info.filename!r} decompresses past its "
                                                "declared size or the archive's limit")
                chunks.append(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
        # RuntimeError: encrypted members; NotImplementedError: unknown compression
        raise IngestError(source, f"member {info.filename!r} cannot be read ({exc})") from None
    return b"".join(chunks)
