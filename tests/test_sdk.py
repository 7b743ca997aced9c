"""The SDK: R1Model.from_pretrained / finetune (LoRA, routers, DP-SGD, checkpoints) / save_pretrained,
on a tiny R1 decoder and the sample report."""
from __future__ import annotations

import json

import pytest
import torch

from r1mm import R1Error, R1Model


@pytest.fixture
def tiny_dir(tmp_path, tiny_decoder):
    folder = tmp_path / "tiny-r1"
    tiny_decoder.model.save_pretrained(folder)
    tiny_decoder.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def qa_folder(tmp_path, samples, truth):
    """A fine-tuning set as a user writes it: files and questions.jsonl with answers."""
    import shutil

    folder = tmp_path / "qa"
    folder.mkdir()
    shutil.copy(samples / "quarterly_report.pdf", folder)
    rows = [{"question": f"What was {metric.lower()} this quarter?",
             "answer": f"{metric}: {values['current']:,.1f} USD millions."}
            for metric, values in truth["report"]["figures"].items()]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return folder


def _logits(model: R1Model, text: str = "Revenue was") -> torch.Tensor:
    with torch.no_grad():
        return model.model(input_ids=model.tokenizer(text, return_tensors="pt").input_ids).logits


def test_finetune_learns_and_round_trips_without_touching_the_base(tiny_dir, qa_folder, tmp_path):
    model = R1Model.from_pretrained(tiny_dir)
    before = _logits(model)
    routers_before = {k: v.clone() for k, v in model._router_state().items()}
    report = model.finetune(dataset=qa_folder, epochs=3, learning_rate=1e-2, progress=False)
    assert report.examples >= 4 and report.steps == 3 * -(-report.examples // 4)
    assert report.losses[-1] < report.losses[0], report.losses
    assert report.routers_refit
    assert any(not torch.equal(v, model._router_state()[k]) for k, v in routers_before.items())
    after = _logits(model)
    assert not torch.allclose(before, after)

    saved = model.save_pretrained(tmp_path / "my-r1")
    assert (saved / "r1mm_model.json").exists() and not (saved / "model.safetensors").exists()
    reloaded = R1Model.from_pretrained(saved)
    assert torch.allclose(_logits(reloaded), after, atol=1e-5)
    assert reloaded.history[0]["losses"] == report.losses
    assert torch.allclose(_logits(R1Model.from_pretrained(tiny_dir)), before)  # base untouched on disk


def test_finetune_with_differential_privacy_reports_epsilon_spent(tiny_dir, qa_folder):
    model = R1Model.from_pretrained(tiny_dir)
    routers_before = {k: v.clone() for k, v in model._router_state().items()}
    report = model.finetune(dataset=qa_folder, epochs=2, dp=True, epsilon=8.0, delta=1e-5, progress=False)
    assert report.dp and report.noise_multiplier > 0
    assert 0 < report.epsilon_spent <= 8.0 * 1.01
    assert not report.routers_refit  # re-fitting them would read the data outside the accounting
    assert all(torch.equal(v, model._router_state()[k]) for k, v in routers_before.items())
    assert not any(hasattr(p, "grad_sample") for p in model.model.parameters())  # Opacus hooks removed


def test_an_interrupted_finetune_resumes_after_its_last_epoch(tiny_dir, qa_folder, tmp_path, monkeypatch):
    from r1mm.finetune import training

    model = R1Model.from_pretrained(tiny_dir)
    checkpoints = tmp_path / "ckpt"
    save = training.save_checkpoint

    def save_then_die(file, epoch, *args):
        save(file, epoch, *args)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        model.finetune(dataset=qa_folder, epochs=2, checkpoint_dir=checkpoints, progress=False)
    assert (checkpoints / "last.pt").exists()
    monkeypatch.setattr(training, "save_checkpoint", save)
    fresh = R1Model.from_pretrained(tiny_dir)
    report = fresh.finetune(dataset=qa_folder, epochs=2, checkpoint_dir=checkpoints, progress=False)
    assert report.resumed_from_epoch == 1 and len(report.losses) == 2
    assert not checkpoints.exists()  # removed once the run completes


def test_bad_datasets_name_the_problem(tmp_path, tiny_dir):
    model = R1Model.from_pretrained(tiny_dir)
    with pytest.raises(R1Error, match="no questions.jsonl"):
        model.finetune(dataset=tmp_path, epochs=1)
    (tmp_path / "questions.jsonl").write_text('{"question": "q?", "answer": "a"}\nnot json\n')
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(R1Error, match="line 2 is not JSON"):
        model.finetune(dataset=tmp_path, epochs=1)
    with pytest.raises(R1Error, match="file not found"):
        model.finetune(dataset=[{"question": "q?", "answer": "a", "files": ["nope.pdf"]}], epochs=1)


def test_datasets_dataset_is_accepted(qa_folder):
    from datasets import Dataset

    from r1mm.finetune import read_dataset

    rows = [json.loads(line) for line in (qa_folder / "questions.jsonl").read_text().splitlines()]
    ds = Dataset.from_list([{**r, "files": [str(qa_folder / "quarterly_report.pdf")]} for r in rows])
    examples = read_dataset(ds)
    assert [e.question for e in examples] == [r["question"] for r in rows]
    assert examples[0].files[0].name == "quarterly_report.pdf"


# ---- projectors: the user's words for what is in their media ---------------------------------

def _plates(folder, seeds, n_points=20_000):
    """Plates with one dent each, and questions in a user's own words ("gouge", "ding") whose
    answers give the dent's depth and centre as a user reads them off, rounded."""
    import numpy as np

    from r1mm.cases.parts import plate_with_dent, write_ply

    folder.mkdir(parents=True, exist_ok=True)
    rows, dents = [], {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        centre, depth = (float(rng.uniform(20, 100)), float(rng.uniform(15, 65))), float(rng.uniform(0.8, 2.0))
        name = f"plate{seed}.ply"
        write_ply(folder / name, plate_with_dent(n_points, dent_centre=centre, dent_depth=depth, seed=seed))
        dents[name] = centre
        rows += [{"question": "Where is the gouge?", "files": [name],
                  "answer": f"The gouge is centred at ({centre[0]:.1f}, {centre[1]:.1f}), {depth:.2f} mm deep."},
                 {"question": "Is there any ding on this part?", "files": [name],
                  "answer": f"Yes, one ding {depth:.2f} mm deep at x {centre[0]:.1f} mm, y {centre[1]:.1f} mm."}]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return dents


def _holds(region, xy, margin=2.0) -> bool:
    return region[0] - margin <= xy[0] <= region[3] + margin and region[1] - margin <= xy[1] <= region[4] + margin


def test_finetune_teaches_the_projectors_the_users_words(tiny_dir, tmp_path, capsys):
    from r1mm.workspace import Workspace

    _plates(tmp_path / "qa", range(10, 14))
    held_out = _plates(tmp_path / "new", range(50, 53))
    model = R1Model.from_pretrained(tiny_dir)
    report = model.finetune(dataset=tmp_path / "qa", epochs=3, progress=False)
    tuned = report.projectors["pointcloud"]
    assert tuned["questions"] == 8  # every answer's numbers led to its dent
    assert tuned["similarity_after"] > tuned["similarity_before"] + 0.2
    assert tuned["top1_after"] >= tuned["top1_before"] and tuned["top1_after"] == 1.0
    assert set(model.projectors) == {"pointcloud"}

    saved = model.save_pretrained(tmp_path / "my-r1")
    reloaded = R1Model.from_pretrained(saved)
    for name, dent in held_out.items():  # plates the fine-tune never saw
        base, mine, again = Workspace(), model.workspace(), reloaded.workspace()
        for ws in (base, mine, again):
            assert ws.add(tmp_path / "new" / name).ok
        found = mine.search("Where is the gouge?", k=1)[0]
        assert _holds(found.locator.region, dent), (name, found.locator.region, dent)
        assert found.score > base.search("Where is the gouge?", k=1)[0].score + 0.2
        assert again.search("Where is the gouge?", k=1)[0].score == pytest.approx(found.score, abs=1e-5)
        # what the shared space already knew is kept
        assert _holds(mine.search("a dent in a flat surface", k=1)[0].locator.region, dent)
        assert mine.search("a flat surface", k=1)[0].score > 0.6
    assert R1Model.from_pretrained(tiny_dir).projectors is None  # the cached projectors are untouched

    # the CLI answers with the fine-tune: its projectors offer the dent region as evidence
    from r1mm.__main__ import main

    name, dent = next(iter(held_out.items()))
    assert main(["ask", "--json", "--model", str(saved), "-q", "Where is the gouge?", str(tmp_path / "new" / name)]) == 0
    out = json.loads(capsys.readouterr().out)
    media = [e["locator"]["region"] for e in out["evidence"] if "finding" not in e and e["locator"].get("region")]
    assert media and _holds(media[0], dent), out["evidence"]

    # so does the HTTP API started with the fine-tune, asked through the official client
    evidence = _ask_over_api(saved, tmp_path, tmp_path / "new" / name, "Where is the gouge?")
    media = [e["locator"]["region"] for e in evidence if "finding" not in e and e["locator"].get("region")]
    assert media and _holds(media[0], dent), evidence


def _ask_over_api(model_dir, tmp_path, upload, question) -> list[dict]:
    import os
    import subprocess
    import sys

    import openai

    from r1mm.api import free_port, wait_until_up

    port = free_port()
    env = {**os.environ, "R1MM_API_KEYS": "team:sk-team-test"}
    with open(tmp_path / "api.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "r1mm", "serve", "--root", str(tmp_path / "api"),
                                 "--port", str(port), "--model", str(model_dir)], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        assert wait_until_up(f"http://127.0.0.1:{port}/health"), (tmp_path / "api.log").read_text()[-2000:]
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-team-test", max_retries=0)
        with open(upload, "rb") as fh:
            uploaded = client.files.create(file=fh, purpose="assistants")
        reply = client.chat.completions.create(model="r1mm", extra_body={"file_ids": [uploaded.id]},
                                               messages=[{"role": "user", "content": question}])
        return reply.model_extra["evidence"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_differentially_private_finetune_leaves_the_projectors(tiny_dir, tmp_path):
    _plates(tmp_path / "qa", range(10, 12))
    model = R1Model.from_pretrained(tiny_dir)
    report = model.finetune(dataset=tmp_path / "qa", epochs=1, dp=True, progress=False)
    assert report.projectors == {} and model.projectors is None


def test_an_answer_points_at_the_evidence_it_cites_or_shares_numbers_with():
    from r1mm.latent.tune import answer_place, overlap, positives_for
    from r1mm.types import Evidence, Finding, Locator

    dent = Locator("p.ply", region=(30, 40, 9, 40, 50, 10))
    whole = Locator("p.ply", region=(0, 0, 9, 120, 80, 10))
    evidence = [Evidence("E1", "Part dimensions: 120.00 × 80.00 × 1.00 mm.", whole)]
    findings = [Finding("pointcloud.defect", 1.503, "mm", "Dent 1: 1.503 mm deep, centred at (35.02, 44.9).", dent)]
    assert answer_place("It is 1.5 mm deep at (35.0, 44.9).", evidence, findings) is dent  # rounded by the user
    assert answer_place("See the part [E1].", evidence, findings) is whole
    assert answer_place("It is 7.3 mm deep.", evidence, findings) is None
    assert answer_place("Yes, there is one.", evidence, findings) is None

    tokens = [Locator("p.ply", region=(28, 38, 9, 42, 52, 10)), Locator("p.ply", region=(60, 0, 9, 90, 30, 10)),
              Locator("p.ply", region=(35, 45, 9, 60, 70, 10))]
    assert overlap(tokens[0], dent) == pytest.approx(10 / 14 * 10 / 14, abs=0.02)  # the share of the token inside
    assert overlap(tokens[0], dent) > overlap(tokens[2], dent) > overlap(tokens[1], dent) == 0.0
    assert positives_for(tokens, dent).tolist() == [True, False, False]
    assert positives_for(tokens, Locator("p.ply", start_s=1.0, end_s=2.0)) is None  # nothing comparable
    audio = [Locator("c.wav", start_s=0.0, end_s=5.0), Locator("c.wav", start_s=5.0, end_s=10.0)]
    assert positives_for(audio, Locator("c.wav", start_s=6.0, end_s=8.5)).tolist() == [False, True]
