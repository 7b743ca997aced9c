"""Part inspection on generated scans with known defects: plates, boxes and cylinders with dents
or bumps, several noise levels and point counts; detection, depth and dimension errors, and time
per million points (linear time shows as a flat ratio)."""
from __future__ import annotations

import time
import numpy as np

from r1mm.analysis.geometry import inspect, oriented_dimensions
from r1mm.cases.parts import SHAPES, PlantedDefect


def make_case(seed: int, n_points: int) -> dict:
    rng = np.random.default_rng(seed)
    shape = list(SHAPES)[seed % 3]
    noise = float(rng.choice([0.01, 0.02, 0.05]))
    n_defects = int(rng.integers(0, 3))
    defects = []
    for _ in range(n_defects):
        depth = float(rng.uniform(10, 40) * noise) * (1 if rng.random() < 0.6 else -1)  # ≥ 10× noise
        if shape == "plate":
            centre = rng.uniform((20, 20), (100, 60))
        elif shape == "box":
            centre = rng.uniform((20, 15), (80, 45))
        else:
            centre = rng.uniform((-50, 30), (50, 120))
        if all(np.hypot(*(centre - d.centre[:2])) > 25 for d in defects):
            defects.append(PlantedDefect(np.append(centre, 0.0), float(rng.uniform(6, 10)), depth))
    pts, dims = SHAPES[shape](n_points, rng, defects)
    pts = pts + rng.normal(0, noise, pts.shape)
    return {"shape": shape, "points": pts, "dims": dims, "defects": defects, "noise": noise,
            "centres": [surface_point(shape, d) for d in defects]}


def surface_point(shape: str, d: PlantedDefect) -> np.ndarray:
    """Where a planted defect sits on the part, in 3-D."""
    if shape == "plate":
        return np.array([d.centre[0], d.centre[1], 10.0])
    if shape == "box":
        return np.array([d.centre[0], d.centre[1], 40.0])
    angle = d.centre[0] / 25.0
    return np.array([25.0 * np.cos(angle), 25.0 * np.sin(angle), d.centre[1]])


def score(case: dict) -> dict:
    seen = inspect(case["points"])  # what `analyze` measures
    found = seen.fit.defects
    planted = case["defects"]
    matched, depth_errors = set(), []
    for d, centre in zip(planted, case["centres"]):
        best = None
        for k, f in enumerate(found):
            if k in matched:
                continue
            kind_ok = (f.kind == "dent") == (d.depth > 0)
            near = np.linalg.norm(f.centre - centre) < d.radius
            if kind_ok and near:
                best = k
                break
        if best is not None:
            matched.add(best)
            depth_errors.append(abs(found[best].depth - abs(d.depth)))
    extents = oriented_dimensions(seen.points)
    dims = np.sort(case["dims"])[::-1]
    return {"tp": len(matched), "fp": len(found) - len(matched), "fn": len(planted) - len(matched),
            "depth_errors": depth_errors, "dim_error": float(np.abs(extents[: 2] - dims[:2]).max())}


def run(cases: int = 24, seed: int = 0) -> dict:
    from tqdm import tqdm

    tp = fp = fn = 0
    depth_errors, dim_errors, per_shape = [], [], {}
    for k in tqdm(range(seed, seed + cases), desc="parts", unit="case"):
        case = make_case(k, 60_000)
        r = score(case)
        tp, fp, fn = tp + r["tp"], fp + r["fp"], fn + r["fn"]
        depth_errors += r["depth_errors"]
        dim_errors.append(r["dim_error"])
        s = per_shape.setdefault(case["shape"], [0, 0])
        s[0] += r["tp"] + (r["fp"] == 0 and r["fn"] == 0 and not case["defects"])
        s[1] += len(case["defects"]) + (not case["defects"])
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    timing = {}
    for n in (10_000, 100_000, 1_000_000, 5_000_000):
        case = make_case(seed, n)
        t0 = time.perf_counter()
        inspect(case["points"])
        timing[n] = time.perf_counter() - t0
    base = timing[1_000_000] / 1.0
    return {
        "cases": cases,
        "detection": {"precision": round(precision, 3), "recall": round(recall, 3),
                      "f1": round(2 * precision * recall / (precision + recall), 3) if precision + recall else 0.0,
                      "planted": tp + fn},
        "depth_error": {"mean": round(float(np.mean(depth_errors)), 4) if depth_errors else None,
                        "max": round(float(np.max(depth_errors)), 4) if depth_errors else None},
        "dimension_error_max": round(float(np.max(dim_errors)), 3),
        "seconds_per_million_points": {f"{n:,}": round(t / (n / 1e6), 3) for n, t in timing.items()},
        "time_ratio_5M_vs_1M_per_point": round((timing[5_000_000] / 5) / base, 3),
        "correct_per_shape": {s: f"{a}/{b}" for s, a_b in per_shape.items() for a, b in [a_b]},
    }
