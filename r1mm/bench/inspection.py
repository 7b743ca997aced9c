"""Visual inspection on generated surfaces with planted defects of known place: brushed metal,
a printed label, a textile and a moulded part with holes; good parts vary in lighting, position
and noise; defects are scratches, stains, holes and missing features (print missing, a hole
filled, texture worn flat) of 16–32 pixels in 256-pixel images. Reports
image-level AUROC, the miss rate at the threshold that flags at most 1% of good parts, how often
the largest region overlaps the planted defect (IoU ≥ 0.3), speed, and a plain baseline (distance
of the whole-image feature to the good images' mean) in the same run."""
from __future__ import annotations

import resource
import time

import numpy as np

from r1mm.cases.surfaces import SURFACES, plant
from r1mm.inspection import Inspector
from r1mm.inspection.patchcore import patch_features

DEFECTS = ("scratch", "stain", "hole", "missing")


def auroc(good: list[float], bad: list[float]) -> float:
    """Probability that a defective part scores above a good one (ties count half)."""
    g, b = np.asarray(good)[:, None], np.asarray(bad)[None, :]
    return float(((b > g).sum() + 0.5 * (b == g).sum()) / (g.size * b.size))


def miss_rate_at(good: list[float], bad: list[float], false_alarms: float = 0.01) -> tuple[float, float]:
    """(miss rate, threshold) at the lowest threshold that flags at most ``false_alarms`` of the good."""
    threshold = float(np.quantile(good, 1 - false_alarms, method="higher"))
    return float(np.mean(np.asarray(bad) <= threshold)), threshold


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union else 0.0


def _global_feature(image) -> np.ndarray:
    from r1mm.inspection.patchcore import to_rgb

    return patch_features([to_rgb(image)])[0].mean(0).numpy()


def run(cases: int = 40, seed: int = 0) -> dict:
    """``cases`` good and ``cases`` defective test images per surface; 40 good ones to fit on."""
    from tqdm import tqdm

    rows, all_good, all_bad, base_good, base_bad, hits, latencies = {}, [], [], [], [], [], []
    by_kind: dict[str, list[float]] = {kind: [] for kind in DEFECTS}  # scores over the threshold's scale
    fitted_false_alarms = fitted_misses = 0
    for s, (surface, make) in enumerate(tqdm(SURFACES.items(), desc="surfaces", unit="surface")):
        rng = np.random.default_rng(seed + s)
        train = [make(rng) for _ in range(40)]
        inspector = Inspector.fit(train, seed=seed)
        mean_feature = np.mean([_global_feature(im) for im in train], axis=0)
        good, bad, b_good, b_bad = [], [], [], []
        for k in range(cases):
            image = make(rng)
            t0 = time.perf_counter()
            good.append(inspector.check(image).score)
            latencies.append(time.perf_counter() - t0)
            b_good.append(float(np.linalg.norm(_global_feature(image) - mean_feature)))
            size = int(rng.integers(16, 33))
            kind = DEFECTS[k % len(DEFECTS)]
            broken, box = plant(make(rng), kind, rng, size=size)
            result = inspector.check(broken)
            bad.append(result.score)
            by_kind[kind].append(result.score / inspector.threshold)
            b_bad.append(float(np.linalg.norm(_global_feature(broken) - mean_feature)))
            hits.append(bool(result.regions) and _iou(result.regions[0].box, box) >= 0.3)
        miss, _ = miss_rate_at(good, bad)
        rows[surface] = {"auroc": round(auroc(good, bad), 4), "miss_rate_at_1pct_false_alarms": round(miss, 4),
                         "fitted_threshold_false_alarms": f"{sum(g > inspector.threshold for g in good)}/{cases}",
                         "fitted_threshold_misses": f"{sum(b <= inspector.threshold for b in bad)}/{cases}",
                         "baseline_auroc": round(auroc(b_good, b_bad), 4)}
        fitted_false_alarms += sum(g > inspector.threshold for g in good)
        fitted_misses += sum(b <= inspector.threshold for b in bad)
        all_good += [g / inspector.threshold for g in good]  # surfaces pooled on their own scale
        all_bad += [b / inspector.threshold for b in bad]
        base_good += b_good
        base_bad += b_bad
    miss, _ = miss_rate_at(all_good, all_bad)
    base_miss, _ = miss_rate_at(base_good, base_bad)
    return {"surfaces": rows,
            "defect_sizes_px": "16–32 in 256 × 256 images (holes 8–16 square, missing features half as tall)",
            "auroc": round(auroc(all_good, all_bad), 4),
            "miss_rate_at_1pct_false_alarms": round(miss, 4),
            "auroc_by_defect": {kind: round(auroc(all_good, scores), 4) for kind, scores in by_kind.items()},
            "fitted_threshold": {"false_alarms": f"{fitted_false_alarms}/{len(all_good)}",
                                 "misses": f"{fitted_misses}/{len(all_bad)}"},
            "localisation_iou_0.3_hit_rate": round(float(np.mean(hits)), 4),
            "baseline_whole_image_feature": {"auroc": round(auroc(base_good, base_bad), 4),
                                             "miss_rate_at_1pct_false_alarms": round(base_miss, 4)},
            "speed": _speed(latencies, seed),
            "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _speed(latencies: list[float], seed: int) -> dict:
    from PIL import Image

    from r1mm.cases.surfaces import brushed_metal

    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    inspector = Inspector.fit([brushed_metal(rng) for _ in range(100)], seed=seed)
    fit_s = time.perf_counter() - started
    large = np.asarray(Image.fromarray(brushed_metal(rng)).resize((512, 512)))
    large_ms = []
    for _ in range(10):
        t0 = time.perf_counter()
        inspector.check(large)
        large_ms.append(time.perf_counter() - t0)
    ms = np.asarray(latencies) * 1000
    return {"where_the_time_goes_ms_256": _breakdown(inspector, brushed_metal(rng)),
            "per_frame_ms_256": {"p50": round(float(np.percentile(ms, 50)), 1), "p99": round(float(np.percentile(ms, 99)), 1)},
            "frames_per_s_256": round(1000 / float(np.median(ms)), 1),
            "per_frame_ms_512": {"p50": round(float(np.median(large_ms)) * 1000, 1),
                                 "p99": round(float(np.percentile(large_ms, 99)) * 1000, 1)},
            "frames_per_s_512": round(1 / float(np.median(large_ms)), 1),
            "fit_s_100_good_images": round(fit_s, 1),
            "note": "every image is resized to 256 × 256 before its features are taken, so 512 costs the resize more"}


def _breakdown(inspector: Inspector, image: np.ndarray, repeats: int = 10) -> dict:
    """Median milliseconds per stage of one 256 × 256 check: resizing, evening the lighting and the
    backbone's features; the nearest good patch; the rest (the map, its smoothing, the regions)."""
    import torch

    from r1mm.inspection.patchcore import prepared

    features_ms, nearest_ms, total_ms = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        features = patch_features([prepared(image)])[0]
        t1 = time.perf_counter()
        torch.cdist(features, inspector.bank).min(dim=1)
        t2 = time.perf_counter()
        inspector.check(image)
        total_ms.append((time.perf_counter() - t2) * 1000)
        features_ms.append((t1 - t0) * 1000)
        nearest_ms.append((t2 - t1) * 1000)
    features, nearest, total = (float(np.median(v)) for v in (features_ms, nearest_ms, total_ms))
    return {"prepare_and_backbone_features": round(features, 1), "nearest_good_patch": round(nearest, 1),
            "map_smoothing_and_regions": round(max(total - features - nearest, 0.0), 1),
            "bank_patches": int(len(inspector.bank))}
