"""Projectors tuned so the user's wording finds the places their answers point at in their media."""
from __future__ import annotations

import sys

from r1mm.finetune.data import QAExample, grounded_questions


def tune_for_questions(model, examples: list[QAExample], epochs: int, seed: int,
                       progress: bool) -> dict[str, dict]:
    """Train the projectors of the towers the media questions touch; per tower, what changed."""
    from r1mm.encoders.projector import trained as cached
    from r1mm.latent.tune import tune_projectors

    questions, features = grounded_questions(examples, model.projectors)
    if not questions:
        return {}
    base = {**cached(), **(model.projectors or {})}
    say = (lambda msg: print(msg, file=sys.stderr)) if progress else None
    tuned, reports = tune_projectors(questions, features, base, epochs=epochs, seed=seed, progress=say)
    model.projectors = {**(model.projectors or {}), **tuned}
    return {tower: r.to_dict() for tower, r in reports.items()}

