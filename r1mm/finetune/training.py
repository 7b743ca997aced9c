"""The fine-tuning run: LoRA adapters on the decoder's attention (peft), trained on the answers only,
optionally with DP-SGD (Opacus), checkpointed after every epoch and resumable."""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from r1mm.errors import R1Error
from r1mm.finetune.data import read_dataset, training_prompts
from r1mm.finetune.projectors import tune_for_questions
from r1mm.finetune.routers import refit_routers

log = logging.getLogger(__name__)


@dataclass
class FinetuneReport:
    """What a fine-tune did: per-epoch mean loss, steps, and for DP the privacy spent."""
    epochs: int
    examples: int
    steps: int = 0
    losses: list[float] = field(default_factory=list)
    dp: bool = False
    epsilon_target: float | None = None
    epsilon_spent: float | None = None
    delta: float | None = None
    noise_multiplier: float | None = None
    routers_refit: bool = False
    projectors: dict[str, dict] = field(default_factory=dict)  # per tower: questions, top-1 before/after
    resumed_from_epoch: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def finetune(model, dataset: Any, epochs: int = 5, *, dp: bool = False, epsilon: float = 8.0,
             delta: float = 1e-5, max_grad_norm: float = 1.0, batch_size: int = 4,
             learning_rate: float | None = None, lora_rank: int = 8, refit: bool = True,
             train_projectors: bool = True,
             checkpoint_dir: str | Path | None = None, resume: bool = True, seed: int = 0,
             progress: bool = True) -> FinetuneReport:
    """Fine-tune ``model`` (an ``R1Model``) on questions and answers about files (see ``read_dataset``).

    Checkpoints are written after every epoch (to ``checkpoint_dir``, by default a folder in
    the cache named after the data and settings); with ``resume`` an interrupted run picks up
    after its last finished epoch. They are removed once the run completes.
    """
    import time

    from tqdm import tqdm

    started = time.perf_counter()
    examples = read_dataset(dataset)
    if len(examples) < 2:
        raise R1Error("fine-tuning needs at least 2 questions with answers")
    tuned = tune_for_questions(model, examples, epochs, seed, progress) if train_projectors and not dp else {}
    pairs = training_prompts(examples, model.projectors)
    settings = dict(epochs=epochs, dp=dp, epsilon=epsilon, delta=delta, max_grad_norm=max_grad_norm,
                    batch_size=batch_size, learning_rate=learning_rate, lora_rank=lora_rank, seed=seed)
    checkpoint = Path(checkpoint_dir) if checkpoint_dir else _default_checkpoint_dir(model, pairs, settings)
    report = FinetuneReport(epochs=epochs, examples=len(pairs), dp=dp, projectors=tuned,
                            epsilon_target=epsilon if dp else None, delta=delta if dp else None)
    torch.manual_seed(seed)
    model.add_lora(lora_rank)
    trainable = [p for p in model.peft.parameters() if p.requires_grad]
    lr = learning_rate or (2e-3 if dp else 1e-3)
    optimizer = torch.optim.Adam(trainable, lr=lr)
    eos = model.tokenizer.eos_token_id
    data = _tensors(model.tokenizer, pairs, eos if eos is not None else model.model.config.eos_token_id)
    generator = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, generator=generator)
    module, engine = model.peft, None
    if dp:
        from opacus import PrivacyEngine

        engine = PrivacyEngine(accountant="rdp")
        module, optimizer, loader = engine.make_private_with_epsilon(
            module=model.peft, optimizer=optimizer, data_loader=loader, target_epsilon=epsilon,
            target_delta=delta, epochs=epochs, max_grad_norm=max_grad_norm)
        report.noise_multiplier = round(float(optimizer.noise_multiplier), 4)
    first_epoch = 0
    state_file = checkpoint / "last.pt"
    if resume and state_file.exists():
        first_epoch = restore_checkpoint(state_file, trainable, optimizer, engine, report)
        log.info("resuming fine-tuning after epoch %d from %s", first_epoch, state_file)
    model.model.train()
    try:
        for epoch in range(first_epoch, epochs):
            total, batches = 0.0, 0
            bar = tqdm(loader, desc=f"fine-tuning{' (DP)' if dp else ''}, epoch {epoch + 1}/{epochs}",
                       unit="batch", disable=not progress, file=sys.stderr)
            for input_ids, attention, labels in bar:
                if input_ids.shape[0] == 0:  # Poisson sampling can draw an empty batch
                    continue
                optimizer.zero_grad()
                loss = _answer_loss(model.model, input_ids, attention, labels)
                loss.backward()
                optimizer.step()
                total, batches = total + loss.item(), batches + 1
                report.steps += 1
                bar.set_postfix(loss=f"{loss.item():.3f}")
            report.losses.append(round(total / max(batches, 1), 4))
            if engine is not None:
                report.epsilon_spent = round(float(engine.get_epsilon(delta)), 3)
            save_checkpoint(state_file, epoch + 1, trainable, optimizer, engine, report)
    finally:
        model.model.eval()
        if engine is not None:
            _detach_opacus(module)
    if refit and not dp:
        refit_routers(model, [p for p, _ in pairs], progress)
        report.routers_refit = True
    report.seconds = round(time.perf_counter() - started, 1)
    model.history.append(report.to_dict())
    shutil.rmtree(checkpoint, ignore_errors=True)
    return report


def save_checkpoint(file: Path, epoch: int, trainable, optimizer, engine, report) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    inner = getattr(optimizer, "original_optimizer", optimizer)
    state = {"epoch": epoch, "params": [p.detach().clone() for p in trainable],
             "optimizer": inner.state_dict(), "report": report.to_dict(),
             "accountant": engine.accountant.state_dict() if engine is not None else None,
             "rng": torch.get_rng_state()}
    tmp = file.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(file)  # atomic: a run killed while saving keeps the previous checkpoint

def restore_checkpoint(file: Path, trainable, optimizer, engine, report) -> int:
    state = torch.load(file, weights_only=False)
    with torch.no_grad():
        for p, saved in zip(trainable, state["params"]):
            p.copy_(saved)
    getattr(optimizer, "original_optimizer", optimizer).load_state_dict(state["optimizer"])
    if engine is not None and state["accountant"] is not None:
        engine.accountant.load_state_dict(state["accountant"])
    torch.set_rng_state(state["rng"])
    saved = state["report"]
    report.losses, report.steps = saved["losses"], saved["steps"]
    report.epsilon_spent = saved["epsilon_spent"]
    report.resumed_from_epoch = state["epoch"]
    return state["epoch"]


def _default_checkpoint_dir(model, pairs, settings: dict) -> Path:
    from r1mm.config import cache_dir

    digest = hashlib.sha256(json.dumps([model.base, model.name, pairs, settings], sort_keys=True).encode())
    return cache_dir() / "finetune" / digest.hexdigest()[:16]


def _tensors(tokenizer, pairs: list[tuple[str, str]], eos: int) -> torch.utils.data.TensorDataset:
    """Right-padded (input ids, attention mask, labels); labels are -100 except on the answer."""
    rows = []
    for prompt, target in pairs:
        p = tokenizer(prompt).input_ids
        t = tokenizer(target, add_special_tokens=False).input_ids + [eos]
        rows.append((p + t, [-100] * len(p) + t))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id or 0
    ids = torch.full((len(rows), width), pad)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100)
    for k, (i, lab) in enumerate(rows):
        ids[k, :len(i)], mask[k, :len(i)], labels[k, :len(lab)] = torch.tensor(i), 1, torch.tensor(lab)
    return torch.utils.data.TensorDataset(ids, mask, labels)


def _answer_loss(model, input_ids, attention, labels) -> torch.Tensor:
    """Mean over examples of each example's mean token loss on its answer. The LM head runs only on
    answer positions (the vocabulary is 262k wide); per-example means keep DP-SGD's clipping per example."""
    hidden = model.model(input_ids=input_ids, attention_mask=attention).last_hidden_state
    target = labels[:, 1:]
    where = target != -100
    logits = model.lm_head(hidden[:, :-1][where])
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    token_loss = torch.nn.functional.cross_entropy(logits.float(), target[where], reduction="none")
    per_example = torch.zeros(input_ids.shape[0]).index_add(0, where.nonzero()[:, 0], token_loss)
    return (per_example / where.sum(1).clamp_min(1)).mean()


def _detach_opacus(module) -> None:
    """Remove Opacus' per-sample gradient hooks, leaving the adapters' trained weights in place."""
    remove = getattr(module, "_close", None)
    if callable(remove):
        remove()
