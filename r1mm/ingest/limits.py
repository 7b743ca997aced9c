"""Input limits. Each can be set by an environment variable (R1MM_<FIELD>, upper case)."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    max_file_mb: float = 1024.0  # one uploaded file, as stored on disk
    max_unzipped_mb: float = 4096.0  # all members of one zip, decompressed
    max_zip_ratio: float = 200.0  # decompressed / compressed size of one member (zip bombs)
    max_files: int = 5000  # files in one zip or folder
    max_ct_slices: int = 2000
    max_points: int = 50_000_000  # points kept from one cloud; larger clouds are voxel-thinned
    max_audio_s: float = 4 * 3600.0
    max_image_pixels: int = 200_000_000
    max_pdf_pages: int = 2000
    max_ocr_pages: int = 500  # PDF pages without a text layer read by OCR (3–6 s each); 0 turns OCR off

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, overridden by R1MM_MAX_FILE_MB and friends where set."""
        kwargs = {}
        for f in fields(cls):
            raw = os.environ.get(f"R1MM_{f.name.upper()}")
            if raw is not None:
                kind = int if f.type in (int, "int") else float
                try:
                    kwargs[f.name] = kind(raw)
                except ValueError as exc:
                    raise ValueError(f"R1MM_{f.name.upper()}={raw!r} is not a number") from exc
        return cls(**kwargs)
