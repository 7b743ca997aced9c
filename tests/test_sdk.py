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
    model = R1Model.from_pretrained(tiny_dir)
    checkpoints = tmp_path / "ckpt"
    save = R1Model._checkpoint

    def save_then_die(self, file, epoch, *args):
        save(self, file, epoch, *args)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(R1Model, "_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        model.finetune(dataset=qa_folder, epochs=2, checkpoint_dir=checkpoints, progress=False)
    assert (checkpoints / "last.pt").exists()
    monkeypatch.setattr(R1Model, "_checkpoint", save)
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

    from r1mm.sdk import read_dataset

    rows = [json.loads(line) for line in (qa_folder / "questions.jsonl").read_text().splitlines()]
    ds = Dataset.from_list([{**r, "files": [str(qa_folder / "quarterly_report.pdf")]} for r in rows])
    examples = read_dataset(ds)
    assert [e.question for e in examples] == [r["question"] for r in rows]
    assert examples[0].files[0].name == "quarterly_report.pdf"
