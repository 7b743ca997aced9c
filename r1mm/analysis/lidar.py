"""LiDAR tiles (LAS/LAZ): where the survey lies and what it holds. Extents and heights in the
CRS's units, point density per m², and the share of each ASPRS class ("ground points: 26%").
A tile is a piece of terrain, not a machined part: no surfaces or dents are looked for."""
from __future__ import annotations

import numpy as np

from r1mm.types import Finding, Item, Locator

# ASPRS LAS 1.4 standard classes
CLASSES = {0: "never classified", 1: "unclassified", 2: "ground", 3: "low vegetation", 4: "medium vegetation",
           5: "high vegetation", 6: "building", 7: "low noise", 8: "model key point", 9: "water", 10: "rail",
           11: "road surface", 13: "wire guard", 14: "wire conductor", 15: "transmission tower",
           17: "bridge deck", 18: "high noise"}
TO_METRES = {"m": 1.0, "ft": 0.3048, "US survey ft": 1200 / 3937}


def analyze(item: Item) -> list[Finding]:
    points: np.ndarray = item.data
    unit = item.meta.get("units", "file units")
    u = f" {unit}" if unit in TO_METRES else ""
    lo, hi = points.min(axis=0), points.max(axis=0)
    whole = Locator(item.source, region=tuple(float(v) for v in (*lo, *hi)))
    total = int(item.meta.get("points_in_file", len(points)))
    kept = len(points)
    out = [Finding("pointcloud.points", total, "points",
                   f"The tile has {total:,} points" + (f" ({kept:,} kept for analysis)." if kept < total else "."),
                   whole)]
    dx, dy, dz = (hi - lo).tolist()
    crs = item.meta.get("crs")
    out.append(Finding("lidar.extent", [round(dx, 3), round(dy, 3), round(dz, 3)], unit,
                       f"The tile covers {dx:,.1f} × {dy:,.1f}{u} (east × north), heights {lo[2]:,.1f} to "
                       f"{hi[2]:,.1f}{u}" + (f", in {crs}" if crs else "") + ".", whole))
    factor = TO_METRES.get(unit)
    area = dx * dy * (factor ** 2 if factor else 1.0)
    if area > 0:
        per = "m²" if factor else "file unit²"
        density = total / area
        over = (f"{area / 1e6:,.3g} km²" if area >= 1e5 else f"{area:,.0f} m²") if factor else f"{area:,.3g} file units²"
        out.append(Finding("lidar.density", float(f"{density:.4g}"), f"points per {per}",
                           f"Point density: {density:,.3g} points per {per} over the tile's {over}.", whole))
    classes = item.arrays.get("classification")
    if classes is not None and len(classes):
        values, counts = np.unique(classes, return_counts=True)
        for value, count in sorted(zip(values.tolist(), counts.tolist()), key=lambda vc: -vc[1]):
            name = CLASSES.get(value, f"class {value}")
            share = 100.0 * count / len(classes)
            mask = np.asarray(classes) == value
            sub = points[mask]
            where = Locator(item.source, region=tuple(float(v) for v in (*sub.min(axis=0), *sub.max(axis=0))))
            shown = f"{share:.0f}%" if share >= 1 else f"{share:.1f}%"
            out.append(Finding("lidar.class_share", round(share, 2), "%",
                               f"{name.capitalize()} points: {shown} ({count:,} of {len(classes):,}; "
                               f"ASPRS class {value}).", where))
    return out
