"""Fine-tuning with and without differential privacy, scored on held-out reports.

The task is the one a team fine-tunes for: answers in their house style. Generated report PDFs
(the finance bench's layouts) with questions "What was <metric> in <period>?" and answers
written "<period> <metric> was <value> <unit> [E<n>]." The built decoder, prompted as in the
app, writes its own phrasing; a fine-tune should learn the house style from the training
reports and keep the numbers right on reports it never saw. Scored per held-out question:
exact (the house-style sentence, normalised for case and spacing) and value (every number right
and the grounding check passed).
"""
from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path

from r1mm.bench.finance import METRICS, make_case
from r1mm.cases.finance import write_report_pdf


def house_answer(metric: str, period: str, value: float, unit: str) -> str:
    shown = f"{value:,.2f}".rstrip("0").rstrip(".")  # as the report's figures are shown
    return f"{period} {metric.lower()} was {shown} {unit}."


def write_reports(folder: Path, seeds: range) -> list[dict]:
    """One PDF per seed; returns the questions with house-style answers, each naming its report."""
    rows = []
    for k in seeds:
        case = make_case(k)
        name = f"report{k}.pdf"
        write_report_pdf(folder / name, case["rows"], case["periods"], unit_phrase=case["unit_phrase"],
                         number_format=case["format"], intro_pages=case["intro_pages"])
        for metric, current, previous in case["rows"]:
            if metric not in METRICS:
                continue
            for period, value in zip(case["periods"], (current, previous)):
                rows.append({"question": f"What was {metric.lower()} in {period}?",
                             "answer": house_answer(metric, period, value, case["unit"]), "files": [name]})
    return rows


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip(".").strip()


def evaluate(model, folder: Path, rows: list[dict]) -> dict:
    """Exact and value accuracy of ``model`` on ``rows``, asked as the app asks."""
    from r1mm.decoder.grounded import check_grounding
    from r1mm.numbers import numbers_in
    from r1mm.finetune import cite
    from r1mm.workspace import Workspace

    decoder = model.decoder
    workspaces: dict[str, Workspace] = {}
    exact = value = 0
    seconds = 0.0
    for row in rows:
        name = row["files"][0]
        if name not in workspaces:
            workspaces[name] = Workspace()
            workspaces[name].add(folder / name)
        ws = workspaces[name]
        ws.decoder = decoder
        started = time.perf_counter()
        answer = ws.ask(row["question"])
        seconds += time.perf_counter() - started
        evidence = answer.evidence  # the findings' evidence the decoder wrote from, kept or not
        written = answer.model == decoder.name  # kept: the grounding check passed
        exact += written and _norm(answer.text) == _norm(cite(row["answer"], evidence))
        value += written and check_grounding(answer.text, row["question"], evidence) is None and \
            numbers_in(row["answer"]) <= numbers_in(answer.text)
    for ws in workspaces.values():
        ws.close()
    n = len(rows)
    return {"exact": round(exact / n, 3), "value": round(value / n, 3), "seconds_per_answer": round(seconds / n, 2)}


def run(cases: int = 6, epochs: int = 6) -> dict:
    """``cases`` generated reports (12 questions each): two thirds to train on, the rest held out.
    Six epochs: DP-SGD's noisy steps need more of them than plain training to learn the style."""
    from r1mm.finetune import QUESTIONS_FILE
    from r1mm.sdk import R1Model

    held_out = max(1, cases // 3)
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-ft-") as tmp:
        train_dir, test_dir = Path(tmp) / "train", Path(tmp) / "heldout"
        train_dir.mkdir()
        test_dir.mkdir()
        train = write_reports(train_dir, range(100, 100 + cases - held_out))
        test = write_reports(test_dir, range(200, 200 + held_out))
        (train_dir / QUESTIONS_FILE).write_text("\n".join(json.dumps(r) for r in train))

        results: dict = {"train_questions": len(train), "heldout_questions": len(test), "epochs": epochs}
        results["base"] = evaluate(R1Model.from_pretrained(), test_dir, test)
        for label, dp in (("finetuned", False), ("finetuned_dp", True)):
            model = R1Model.from_pretrained()
            report = model.finetune(dataset=train_dir, epochs=epochs, dp=dp, epsilon=8.0, delta=1e-5,
                                    batch_size=8, progress=False)
            results[label] = {**evaluate(model, test_dir, test), "train_seconds": report.seconds,
                              "losses": report.losses, "steps": report.steps}
            if dp:
                results[label].update(epsilon_spent=report.epsilon_spent, delta=report.delta,
                                      noise_multiplier=report.noise_multiplier)
        loss = results["finetuned"]["exact"] - results["finetuned_dp"]["exact"]
        results["dp_cost_points"] = round(100 * loss, 1)
        results["goal_dp_cost_at_most_3_points"] = loss <= 0.03
    return results
