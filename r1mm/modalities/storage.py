"""The ways an item's data is kept on disk: a document as JSON, an image as PNG, arrays (a
waveform, a volume, points) as NPZ with the item's geometry and extra arrays beside them."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from r1mm.modalities import Storage
from r1mm.types import Document, Item, Page


def _write_document(item: Item, path: Path) -> None:
    from r1mm.store import dumps

    path.write_text(dumps(asdict(item.data)), encoding="utf-8")


def _read_document(item: Item, path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    pages = [Page.from_dict(p) for p in raw["pages"]]
    item.data = Document(raw["format"], pages, raw.get("fiscal"))


def _write_png(item: Item, path: Path) -> None:
    item.data.save(path, format="PNG")


def _read_png(item: Item, path: Path) -> None:
    from PIL import Image

    with Image.open(path) as img:
        item.data = img.convert("RGB")


_GEOMETRY = ("spacing_mm", "orientation", "origin_mm")


def _write_arrays(item: Item, path: Path) -> None:
    arrays = {"data": item.data, **{f"array_{k}": v for k, v in item.arrays.items()}}
    for key in _GEOMETRY:
        value = getattr(item, key)
        if value is not None:
            arrays[f"geom_{key}"] = np.asarray(value, dtype=np.float64)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _read_arrays(item: Item, path: Path) -> None:
    with np.load(path) as npz:
        item.data = npz["data"]
        for key in npz.files:
            if key.startswith("array_"):
                item.arrays[key[6:]] = npz[key]
            elif key.startswith("geom_"):
                setattr(item, key[5:], tuple(float(v) for v in npz[key]))


DOCUMENT_JSON = Storage(".json", _write_document, _read_document)
PNG = Storage(".png", _write_png, _read_png)
ARRAYS = Storage(".npz", _write_arrays, _read_arrays)
