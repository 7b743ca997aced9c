"""Images: PNG, JPEG, TIFF, WebP, GIF, BMP; EXIF orientation applied, converted to RGB."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from r1mm.errors import IngestError, LimitExceeded
from r1mm.ingest.limits import Limits
from r1mm.types import Item, Modality


def load_image(path: Path, source: str, fmt: str, limits: Limits) -> Item:
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
    try:
        with Image.open(path) as probe:
            probe.verify()  # structure check without decoding all pixels
        with Image.open(path) as img:
            original_size = img.size
            exif_orientation = img.getexif().get(0x0112, 1)
            img = ImageOps.exif_transpose(img)
            rgb = img.convert("RGB")
            rgb.load()
    except Image.DecompressionBombError:
        raise LimitExceeded(source, f"has more than {limits.max_image_pixels:,} pixels "
                                    "(R1MM_MAX_IMAGE_PIXELS)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise IngestError(source, f"is not a readable {fmt.upper()} image ({exc})") from None
    meta = {"format": fmt, "width": rgb.width, "height": rgb.height,
            "original_size": list(original_size), "exif_orientation": int(exif_orientation)}
    return Item(Modality.IMAGE, source, rgb, meta)
