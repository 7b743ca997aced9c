"""How each modality shows a piece of evidence in the app: the PDF page with the cell outlined,
the recording at the span, the CT slice with the region, the part in 3D, the image with the box.
A modality names its view in its `r1mm.modalities` spec."""
from __future__ import annotations

import math
from pathlib import Path

import streamlit as st

from r1mm import render
from r1mm.types import Item, Locator


def show_document(item: Item, loc: Locator) -> None:
    if loc.page and item.meta.get("pdf_path"):
        st.image(render.pdf_page_image(Path(item.meta["pdf_path"]), loc.page, loc.cell_bbox),
                 caption=loc.describe(), width=720)
    else:
        st.write(loc.describe())


def show_audio(item: Item, loc: Locator) -> None:
    start = int(loc.start_s or 0)
    end = math.ceil(loc.end_s) if loc.end_s else None
    st.audio(item.data, sample_rate=item.meta["sample_rate"], start_time=start, end_time=end)
    st.caption(f"Plays {loc.describe()}")


def show_ct(item: Item, loc: Locator) -> None:
    index = loc.slice if loc.slice is not None else item.data.shape[0] // 2
    st.image(render.ct_slice_image(item, index, -600, 1500, bbox_mm=loc.bbox_mm),
             caption=f"{loc.describe()} · lung window (L −600 / W 1500 HU)")


def show_pointcloud(item: Item, loc: Locator) -> None:
    st.plotly_chart(render.pointcloud_figure(item.data, region=loc.region), use_container_width=True)


def show_image(item: Item, loc: Locator) -> None:
    image = item.data if loc.bbox_px is None else render.outlined(item.data, [loc.bbox_px])
    st.image(image, caption=loc.describe())
