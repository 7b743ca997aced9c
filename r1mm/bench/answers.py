"""Who writes the answers about CT series and scanned parts: the R1 decoder or the findings.

Generated CT phantoms (1–4 nodules) and plates with a dent, asked what a clinician or an engineer
asks. For each question the built decoder writes a draft from the findings. The grounding check
keeps it (as written, or with the id of the one evidence line holding its numbers) or refuses
it with a reason, and then the findings answer is shown. Each kept answer is scored against the
planted truth. The number that matters most is "kept and wrong": it must stay 0.
"""
from __future__ import annotations

import collections
import tempfile
from pathlib import Path

import numpy as np


def _has(text: str, value: float, tolerance: float) -> bool:
    from r1mm.decoder.grounded import _CITATION, _numbers

    return any(abs(float(n) - value) <= tolerance for n in _numbers(_CITATION.sub("", text)))


def _side_ok(text: str, side: str) -> bool:
    other = "left" if side == "right" else "right"
    return f"{other} lung" not in text.lower()


def _ct_questions(seed: int, folder: Path):
    from r1mm.bench.ct import _side, make_case
    from r1mm.samples import phantom_volume, write_dicom_series

    case = make_case(seed)
    while not case.phantom.nodules:
        seed += 1000
        case = make_case(seed)
    ph = case.phantom
    write_dicom_series(phantom_volume(ph), ph.spacing_mm, folder, seed=seed, patient_id=f"P{seed}")
    largest = max(ph.nodules, key=lambda n: n.diameter_mm)
    return folder, [
        ("How many nodules are in the lungs?", lambda t: _has(t, len(ph.nodules), 0)),
        ("How large is the largest nodule and in which lung?",
         lambda t: _has(t, largest.diameter_mm, 0.5) and _side_ok(t, _side(ph, largest))),
        ("What is the slice thickness?", lambda t: _has(t, case.thickness_mm, 1e-6)),
        ("How many slices are there?", lambda t: _has(t, ph.shape[0], 0)),
    ]


def _plate_questions(seed: int, folder: Path):
    from r1mm.samples import plate_with_dent, write_ply

    rng = np.random.default_rng(seed)
    depth = float(rng.uniform(0.8, 2.5))
    path = folder.with_suffix(".ply")
    write_ply(path, plate_with_dent(40_000, dent_centre=(rng.uniform(20, 100), rng.uniform(15, 65)),
                                    dent_depth=depth, seed=seed))
    return path, [
        ("How deep is the deepest dent?", lambda t: _has(t, depth, 0.05)),
        ("What are the part's dimensions?", lambda t: _has(t, 120.0, 0.5) and _has(t, 80.0, 0.5)),
    ]


def run(cases: int = 4) -> dict:
    """``cases`` CT phantoms and ``cases`` plates."""
    from r1mm.decoder import load_grounded
    from r1mm.workspace import Workspace

    decoder = load_grounded()
    tally = collections.Counter()
    reasons = collections.Counter()
    examples = []
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-answers-") as tmp:
        for k in range(cases):
            for kind, make in (("ct", _ct_questions), ("plate", _plate_questions)):
                path, questions = make(300 + k, Path(tmp) / f"{kind}{k}")
                ws = Workspace(decoder=decoder)
                if not ws.add(path).ok:
                    tally["file_failed"] += 1
                    continue
                for question, right in questions:
                    stream = ws.ask_stream(question)
                    for _ in stream:
                        pass
                    answer = stream.answer
                    tally["questions"] += 1
                    tally["shown_right"] += right(answer.text)  # whoever wrote it
                    if stream.replaced:
                        reasons[stream.replaced.split(";")[0].split(" (")[0]] += 1
                        continue
                    tally["kept"] += 1
                    tally["kept_right" if right(answer.text) else "kept_wrong"] += 1
                    tally["kept_with_added_id" if stream.cited_for_decoder else "kept_citing_itself"] += 1
                    if len(examples) < 6:
                        examples.append({"question": question, "answer": answer.text.strip()})
                ws.close()
    n = tally["questions"] or 1
    return {"questions": tally["questions"], "decoder": decoder.name,
            "kept": tally["kept"], "kept_right": tally["kept_right"], "kept_wrong": tally["kept_wrong"],
            "kept_citing_itself": tally["kept_citing_itself"], "kept_with_added_id": tally["kept_with_added_id"],
            "kept_share": round(tally["kept"] / n, 3), "shown_right_share": round(tally["shown_right"] / n, 3),
            "refused_because": dict(reasons.most_common()), "examples": examples}
