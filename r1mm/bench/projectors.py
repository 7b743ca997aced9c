"""Fine-tuning the projectors on a user's own words, scored on files the fine-tune never saw.

A team asks about its media in its own vocabulary: "Where is the gouge?" about scanned plates,
"Where is the lesion?" about CT series, "When does management give the top line?" about calls.
The projectors were trained on other words ("a dent in a flat surface", "a lung nodule", "a
speaker stating revenue and profit figures"). Each case writes generated files with something
planted (a dent, nodules, the figures said on a call) and the team's questions. Each answer
gives what a person would read off or hear: depth and centre, diameter and lung, the figure as
it was said. The projectors are trained on the training files as ``R1Model.finetune`` trains
them (``r1mm.finetune.grounded_questions`` + ``r1mm.latent.tune``). Then, on held-out files, media
search with the team's question must put first a token that shows the planted place: a hit.
Only a hit with similarity ≥ 0.5 is offered to the decoder as evidence. Scored before and
after; the old descriptions are scored too, to show they still work.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from r1mm.types import Locator

# (the team's words, the description the projectors were built with)
QUESTIONS = {"pointcloud": (["Where is the gouge?", "Is there any ding on this part?"], "a dent in a flat surface"),
             "ct": (["Where is the lesion?", "Is there a growth in the lungs?"], "a lung nodule"),
             "audio": (["When does management give the top line?", "What was said about the bottom line?"],
                       "a speaker stating revenue and profit figures")}


def _asked(modality: str, name: str, answers: list[str]) -> list[dict]:
    """The team's questions about one file, with its answers (questions.jsonl rows)."""
    return [{"question": q, "answer": a, "files": [name]} for q, a in zip(QUESTIONS[modality][0], answers)]


def _plates(folder: Path, seeds: range) -> tuple[list[dict], dict[str, list[Locator]]]:
    from r1mm.cases.parts import plate_with_dent, write_ply

    rows, truth = [], {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        (x, y), depth, radius = (rng.uniform(20, 100), rng.uniform(15, 65)), float(rng.uniform(0.8, 2.0)), 8.0
        name = f"plate{seed}.ply"
        write_ply(folder / name, plate_with_dent(30_000, dent_centre=(x, y), dent_radius=radius, dent_depth=depth,
                                                 seed=seed))
        truth[name] = [Locator(name, region=(x - radius, y - radius, 0.0, x + radius, y + radius, 20.0))]
        rows += _asked("pointcloud", name, [f"The gouge is centred at ({x:.1f}, {y:.1f}), {depth:.2f} mm deep.",
                                            f"Yes, one ding {depth:.2f} mm deep at x {x:.1f} mm, y {y:.1f} mm."])
    return rows, truth


def _ct_series(folder: Path, seeds: range) -> tuple[list[dict], dict[str, list[Locator]]]:
    from r1mm.bench.ct import make_case
    from r1mm.cases.ct import nodule_side, phantom_volume, write_dicom_series

    rows, truth = [], {}
    seed = seeds.start
    while len(truth) < len(seeds):  # phantoms with at least one nodule
        case = make_case(seed)
        seed += 1000
        ph = case.phantom
        if not ph.nodules:
            continue
        name = f"ct{seed}"
        write_dicom_series(phantom_volume(ph), ph.spacing_mm, folder / name, seed=seed, patient_id=f"P{seed}")
        dz = ph.spacing_mm[0]
        truth[name] = [Locator(name, slice=int(n.centre_mm[2] / dz), bbox_mm=(
            n.centre_mm[0] - n.diameter_mm / 2, n.centre_mm[1] - n.diameter_mm / 2,
            n.centre_mm[0] + n.diameter_mm / 2, n.centre_mm[1] + n.diameter_mm / 2)) for n in ph.nodules]
        largest = max(ph.nodules, key=lambda n: n.diameter_mm)
        size, side = f"{largest.diameter_mm:.1f} mm", nodule_side(ph, largest)
        rows += _asked("ct", name, [f"The largest lesion is {size} across, in the {side} lung.",
                                    f"Yes: a growth of {size} in the {side} lung."])
    return rows, truth


def _calls(folder: Path, seeds: range) -> tuple[list[dict], dict[str, list[Locator]]]:
    """Calls spoken by espeak-ng: a welcome, revenue, net income, risks; the team's answers give the
    figures as they were said, and the truth is the stretch where revenue and net income are spoken."""
    from r1mm.bench.finance import spoken_amount
    from r1mm.cases.finance import write_call_audio

    rows, truth = [], {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        revenue = float(rng.uniform(200, 5000))
        net = revenue * float(rng.uniform(0.05, 0.2))
        said = {k: spoken_amount(v, "USD millions") for k, v in (("revenue", revenue), ("net", net))}
        name = f"call{seed}.wav"
        turns = write_call_audio(folder / name, [
            ("Operator", "Good morning everyone, and thank you for joining our quarterly results call."),
            ("CEO", f"Revenue for the quarter was {said['revenue']} dollars."),
            ("CFO", f"Net income for the quarter was {said['net']} dollars."),
            ("CFO", "We see pricing pressure and supply constraints as risks for next year.")],
            words_per_minute=160)
        truth[name] = [Locator(name, start_s=t["start_s"], end_s=t["end_s"]) for t in turns[1:3]]
        rows += _asked("audio", name, [f"The top line was {said['revenue']} dollars.",
                                       f"The bottom line was {said['net']} dollars."])
    return rows, truth


MAKERS = {"pointcloud": _plates, "ct": _ct_series, "audio": _calls}


def _score(folder: Path, truth: dict[str, list[Locator]], questions: list[str], projectors) -> dict:
    """Per (file, question): does the first media token show a planted place (hit), is it also similar
    enough to be offered to the decoder as evidence, and its mean similarity."""
    from r1mm.latent.tune import positives_for
    from r1mm.workspace import MEDIA_MIN_SIMILARITY, Workspace

    hits, offered, similarity = [], [], []
    for name, places in truth.items():
        ws = Workspace(projectors=projectors)
        if not ws.add(folder / name).ok:
            hits += [False] * len(questions)
            offered += [False] * len(questions)
            continue
        for question in questions:
            ranked = ws.search(question, k=10_000)
            locators = [m.locator for m in ranked]
            showing = [positives_for(locators, place) for place in places]
            hits.append(any(p is not None and p[0] for p in showing))
            offered.append(hits[-1] and ranked[0].score >= MEDIA_MIN_SIMILARITY)
            similarity.append(ranked[0].score)
        ws.close()
    return {"hit_rate": round(float(np.mean(hits)), 3), "hit_offered_as_evidence": round(float(np.mean(offered)), 3),
            "similarity": round(float(np.mean(similarity)), 3)}


def run(cases: int = 16) -> dict:
    """``cases`` files per modality: 60% to fine-tune on, the rest held out."""
    from r1mm.encoders.projector import trained as cached
    from r1mm.latent.tune import tune_projectors
    from r1mm.finetune import QUESTIONS_FILE, grounded_questions, read_dataset

    held_out = max(2, int(cases * 0.4))
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-proj-") as tmp:
        for modality, make in MAKERS.items():
            started = time.perf_counter()
            train_dir, test_dir = Path(tmp) / modality / "train", Path(tmp) / modality / "heldout"
            train_dir.mkdir(parents=True)
            test_dir.mkdir(parents=True)
            rows, _ = make(train_dir, range(100, 100 + cases - held_out))
            (train_dir / QUESTIONS_FILE).write_text("\n".join(json.dumps(r) for r in rows))
            _, truth = make(test_dir, range(200, 200 + held_out))
            questions, features = grounded_questions(read_dataset(train_dir))
            tuned, reports = tune_projectors(questions, features, cached(), epochs=5)
            words, description = QUESTIONS[modality]
            results[modality] = {
                "train_files": cases - held_out, "heldout_files": held_out,
                "train_questions": len(rows), "questions_grounded": len(questions),
                "training": {k: v.to_dict() for k, v in reports.items()},
                "users_words": {"before": _score(test_dir, truth, words, None),
                                "after": _score(test_dir, truth, words, tuned)},
                "built_in_description": {"before": _score(test_dir, truth, [description], None),
                                         "after": _score(test_dir, truth, [description], tuned)},
                "seconds": round(time.perf_counter() - started, 1)}
    return results
