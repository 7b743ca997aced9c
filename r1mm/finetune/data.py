"""Fine-tuning data: questions and answers about files, and what the app would show the decoder
for each (the evidence its workspace finds), so training sees the prompts answering will."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1mm.errors import R1Error

QUESTIONS_FILE = "questions.jsonl"


@dataclass
class QAExample:
    question: str
    answer: str
    files: tuple[Path, ...]



def read_dataset(dataset: Any) -> list[QAExample]:
    """Questions and answers with the files they are about.

    ``dataset`` is a folder holding the files and ``questions.jsonl`` (one JSON object per line:
    ``question``, ``answer``, optional ``files`` relative to the folder; without it, every file in
    the folder), or a ``datasets.Dataset`` / list of dicts with the same fields (paths as given).
    """
    if isinstance(dataset, (str, Path)):
        folder = Path(dataset)
        qa_file = folder / QUESTIONS_FILE
        if not qa_file.is_file():
            raise R1Error(f"{folder}: no {QUESTIONS_FILE} in it (one JSON object per line: question, answer, files)")
        rows = []
        for n, line in enumerate(qa_file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise R1Error(f"{qa_file.name}: line {n} is not JSON ({exc.msg})") from None
        everything = [p for p in sorted(folder.iterdir()) if p.name != QUESTIONS_FILE and not p.name.startswith(".")]
        return [_example(row, f"{qa_file.name}: line {n}", folder, everything) for n, row in enumerate(rows, 1)]
    rows = list(dataset)  # a datasets.Dataset iterates as dicts
    return [_example(dict(row), f"dataset row {n}", Path.cwd(), []) for n, row in enumerate(rows, 1)]


def _example(row: dict, where: str, folder: Path, default_files: list[Path]) -> QAExample:
    missing = [k for k in ("question", "answer") if not str(row.get(k) or "").strip()]
    if missing:
        raise R1Error(f"{where}: no {' or '.join(missing)}")
    names = row.get("files") or []
    names = [names] if isinstance(names, str) else names
    files = tuple(folder / n for n in names) if names else tuple(default_files)
    absent = [str(f) for f in files if not f.exists()]
    if absent:
        raise R1Error(f"{where}: file not found: {', '.join(absent)}")
    if not files:
        raise R1Error(f"{where}: no files to ask about")
    return QAExample(str(row["question"]).strip(), str(row["answer"]).strip(), files)


def workspace_for(files: tuple[Path, ...], projectors: dict | None):
    """An in-memory workspace holding these files (an error names the file that cannot be read)."""
    from r1mm.workspace import Workspace

    ws = Workspace(projectors=projectors)
    for f in files:
        record = ws.add(f)
        if not record.ok:
            ws.close()
            raise R1Error(record.error or f"{f.name}: could not be read")
    return ws


def training_prompts(examples: list[QAExample], projectors: dict | None = None) -> list[tuple[str, str]]:
    """(prompt, target) per example: the prompt the app gives the decoder for this question over
    these files, and the answer, citing the evidence that holds its numbers when it cites none."""
    from r1mm.decoder.grounded import prompt_for

    workspaces = {}
    out = []
    try:
        for ex in examples:
            if ex.files not in workspaces:
                workspaces[ex.files] = workspace_for(ex.files, projectors)
            evidence = workspaces[ex.files].ask(ex.question).evidence
            out.append((prompt_for(ex.question, evidence), " " + cite(ex.answer, evidence)))
    finally:
        for ws in workspaces.values():
            ws.close()
    return out


def grounded_questions(examples: list[QAExample], projectors: dict | None = None):
    """The questions about media files whose answers point at a place in them, with the features
    of those files' tokens: the training data for the projectors (``r1mm.latent.tune``)."""
    from r1mm.encoders import features as token_features
    from r1mm.ingest import sniff
    from r1mm.latent.tune import GroundedQuestion, answer_place, positives_for
    from r1mm.modalities import spec_for_format

    questions, features = [], {}
    workspaces = {}
    try:
        for ex in examples:
            if all(f.is_file() and (fmt := sniff(f)) and spec_for_format(fmt).tower is None for f in ex.files):
                continue  # nothing to project
            if ex.files not in workspaces:
                workspaces[ex.files] = workspace_for(ex.files, projectors)
            ws = workspaces[ex.files]
            place = answer_place(ex.answer, ws.ask(ex.question).evidence, ws.findings())
            if place is None:
                continue
            for record in ws.items():
                if record.source != place.source:
                    continue
                key = (ex.files, record.id)
                if key not in features:
                    features[key] = token_features(ws.item(record.id))  # (tower, features, locators) or None
                if features[key] is None:
                    continue
                tower, _, locators = features[key]
                positives = positives_for(locators, place)
                if positives is not None:
                    questions.append(GroundedQuestion(tower, ex.question, key, positives))
    finally:
        for ws in workspaces.values():
            ws.close()
    return questions, {k: v[1] for k, v in features.items() if v is not None}


def cite(answer: str, evidence) -> str:
    """The answer with an evidence id before its final full stop, unless it already cites one: the
    evidence holding its numbers, else the one sharing most of them (people round), else the first."""
    from r1mm.decoder.grounded import evidence_holding_numbers
    from r1mm.types import CITATION
    from r1mm.latent.tune import most_numbers_shared

    if CITATION.search(answer) or not evidence:
        return answer
    closest = most_numbers_shared(answer, [e.text for e in evidence])
    source = evidence_holding_numbers(answer, "", evidence) or evidence[0 if closest is None else closest]
    body = answer.rstrip()
    end = "." if body.endswith(".") else ""
    return f"{body.rstrip('.')} [{source.id}]{end}"
