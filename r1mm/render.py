"""Pictures of evidence: a CT slice with its region outlined, a PDF page with its cell
highlighted, a point cloud with its region marked. Pure functions returning images or
plotly figures; the UI decides where to show them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from r1mm.analysis.medical import window
from r1mm.types import Item

Plane = Literal["axial", "coronal", "sagittal"]
HIGHLIGHT = (255, 60, 60)


def ct_plane(item: Item, plane: Plane, index: int) -> tuple[np.ndarray, float, float]:
    """One plane of the volume with its pixel sizes in mm: (HU image, row mm, column mm)."""
    vol = item.data
    dz, dy, dx = item.spacing_mm
    if plane == "axial":
        return vol[index], dy, dx
    if plane == "coronal":
        return vol[::-1, index, :], dz, dx  # head at the top
    return vol[::-1, :, index], dz, dy


def ct_slice_image(item: Item, index: int, level: float, width: float, plane: Plane = "axial",
                   bbox_mm: tuple[float, ...] | None = None, target_px: int = 512) -> Image.Image:
    """A windowed slice scaled to true proportions, with an optional region outlined and sized."""
    hu, row_mm, col_mm = ct_plane(item, plane, index)
    grey = window(hu, level, width)
    height_mm, width_mm = grey.shape[0] * row_mm, grey.shape[1] * col_mm
    scale = target_px / max(height_mm, width_mm)  # screen pixels per mm
    size = (max(1, round(width_mm * scale)), max(1, round(height_mm * scale)))
    img = Image.fromarray(grey).resize(size, Image.Resampling.BILINEAR).convert("RGB")
    if bbox_mm is not None and plane == "axial":
        x0, y0, x1, y1 = (v * scale for v in bbox_mm[:4])
        pad = 4
        draw = ImageDraw.Draw(img)
        draw.rectangle([x0 - pad, y0 - pad, x1 + pad, y1 + pad], outline=HIGHLIGHT, width=2)
        label = f"{bbox_mm[2] - bbox_mm[0]:.1f} x {bbox_mm[3] - bbox_mm[1]:.1f} mm"  # PIL's default font has no ×
        draw.text((x0, max(0, y0 - pad - 14)), label, fill=HIGHLIGHT)
    return img


def outlined(image: Image.Image, boxes) -> Image.Image:
    """An RGB copy of a PIL image with each pixel box (x0, y0, x1, y1) outlined in red."""
    out = image.convert("RGB").copy()
    for box in boxes:
        ImageDraw.Draw(out).rectangle(tuple(box), outline=(230, 40, 40), width=max(2, out.width // 150))
    return out


def pdf_page_image(pdf_path: Path, page: int, cell_bbox: tuple[float, float, float, float] | None = None,
                   scale: float = 1.5, context_pt: float | None = 120.0) -> Image.Image:
    """Page `page` (1-based) rendered, with the cell (PDF points, top-left origin) highlighted.

    With a cell and `context_pt`, the picture is cropped to a band of the page around the cell,
    so the highlight is in view; None keeps the whole page.
    """
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        img = pdf[page - 1].render(scale=scale).to_pil().convert("RGB")
    finally:
        pdf.close()
    if cell_bbox is not None:
        x0, top, x1, bottom = (v * scale for v in cell_bbox)
        overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
        ImageDraw.Draw(overlay).rectangle([x0, top, x1, bottom], fill=(255, 230, 0, 90),
                                          outline=HIGHLIGHT + (255,), width=3)
        img = Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")
        if context_pt is not None:
            band_top = max(0, int(top - context_pt * scale))
            band_bottom = min(img.height, int(bottom + context_pt * scale))
            img = img.crop((0, band_top, img.width, band_bottom))
    return img


def in_region(points: np.ndarray, region: tuple[float, ...] | None) -> np.ndarray:
    """Mask of the points inside an (xmin, ymin, zmin, xmax, ymax, zmax) box."""
    if region is None:
        return np.zeros(len(points), bool)
    lo, hi = np.asarray(region[:3]), np.asarray(region[3:6])
    return np.all((points >= lo) & (points <= hi), axis=1)


def pointcloud_figure(points: np.ndarray, *, region: tuple[float, ...] | None = None,
                      colour_by: np.ndarray | None = None, colour_label: str = "",
                      max_points: int = 30_000, seed: int = 0):
    """A plotly 3D scatter, downsampled for the browser; the region's points drawn in red on top."""
    import plotly.graph_objects as go

    rng = np.random.default_rng(seed)
    idx = np.arange(len(points)) if len(points) <= max_points else \
        np.sort(rng.choice(len(points), max_points, replace=False))
    pts = points[idx]
    marker = dict(size=1.5, color="#4a78b5")
    if colour_by is not None:
        values = colour_by[idx]
        limit = float(np.percentile(np.abs(values), 99.5)) or 1.0
        marker = dict(size=1.5, color=values, colorscale="RdBu", cmin=-limit, cmax=limit,
                      colorbar=dict(title=colour_label))
    fig = go.Figure(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers", marker=marker,
                                 name="scan", hoverinfo="skip"))
    inside = in_region(points, region)
    if inside.any():
        hi = points[inside]
        if len(hi) > 5000:
            hi = hi[rng.choice(len(hi), 5000, replace=False)]
        fig.add_trace(go.Scatter3d(x=hi[:, 0], y=hi[:, 1], z=hi[:, 2], mode="markers",
                                   marker=dict(size=2.5, color="red"), name="evidence region"))
    fig.update_layout(scene=dict(aspectmode="data"), margin=dict(l=0, r=0, t=0, b=0), height=480,
                      legend=dict(orientation="h"))
    return fig
