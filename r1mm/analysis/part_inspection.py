"""Findings of the workspace's line inspector on an image: defect or not (score against the
threshold), and each defect region as a pixel box with its area (mm² when the inspector was given
the camera's pixel size)."""
from __future__ import annotations

from r1mm.types import Finding, Item, Locator

MAX_REGIONS = 5  # the most anomalous regions reported per image


def analyze(item: Item, inspector) -> list[Finding]:
    src = item.source
    check = inspector.check(item.data)  # areas in mm² when the inspector knows the camera's pixel size
    ratio = check.score / check.threshold if check.threshold > 0 else float("inf")
    top = check.regions[0].box if check.regions else None
    if check.defect:
        verdict = (f"Defect: the part is flagged, anomaly score {check.score:.3g} against the line's threshold "
                   f"{check.threshold:.3g} ({ratio:.1f}×), {len(check.regions)} region"
                   f"{'s' if len(check.regions) != 1 else ''} over the threshold.")
    else:
        verdict = (f"No defect found: anomaly score {check.score:.3g} is below the line's threshold "
                   f"{check.threshold:.3g} ({ratio:.2f}×; learned from {inspector.images_fitted} good parts).")
    out = [Finding("inspection.verdict", bool(check.defect), None, verdict, Locator(src, bbox_px=top))]
    for rank, region in enumerate(check.regions[:MAX_REGIONS], start=1):
        x0, y0, x1, y1 = region.box
        size = f"{region.area_px:,} px" + (f" ({region.area_mm2:.2f} mm²)" if region.area_mm2 is not None else "")
        out.append(Finding("inspection.region", region.area_px, "px",
                           f"Defect region {rank}: pixels x {x0}–{x1}, y {y0}–{y1} ({x1 - x0} × {y1 - y0} px), "
                           f"area {size}, score {region.score:.3g} ({region.score / check.threshold:.1f}× threshold).",
                           Locator(src, bbox_px=(x0, y0, x1, y1))))
    return out
