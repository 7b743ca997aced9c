"""The Python SDK: load, fine-tune and save the R1 model as Hugging Face users expect.

    from r1mm import R1Model
    model = R1Model.from_pretrained()                 # the built R1 decoder (or a saved fine-tune)
    model.finetune(dataset="my-qa/", epochs=5)        # a folder of files plus questions.jsonl
    model.save_pretrained("my-r1")

Fine-tuning first trains the projectors of the media the questions are about (images, audio,
CT, point clouds) so that the user's wording finds the places their answers point at
(``r1mm.latent.tune``). It then trains LoRA adapters on the decoder's attention (peft) from the
questions and answers, each asked against the evidence the workspace finds in the user's files
with those projectors (the same prompt the app uses), and re-fits each layer's router to the
expert shares on those prompts. The base weights and the cached projectors are never changed: a
fine-tune is saved as adapters + routers + projectors beside a reference to its base. With
``dp=True`` the adapters are trained with DP-SGD (Opacus) to the asked (ε, δ) and the ε actually
spent is reported; the projectors and routers are then left as they were, since training them
would read the data outside the privacy accounting.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

from r1mm.errors import R1Error

log = logging.getLogger(__name__)

MANIFEST = "r1mm_model.json"
ADAPTER_DIR = "adapter"
ROUTERS_FILE = "routers.safetensors"
PROJECTORS_FILE = "projectors.safetensors"
LORA_TARGETS = ["q_proj", "v_proj"]
QUESTIONS_FILE = "questions.jsonl"


@dataclass
class QAExample:
    question: str
    answer: str
    files: tuple[Path, ...]


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


# ---- datasets -----------------------------------------------------------------------------

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


def _workspace_for(files: tuple[Path, ...], projectors: dict | None):
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
                workspaces[ex.files] = _workspace_for(ex.files, projectors)
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
    from r1mm.ingest.sniff import DOCUMENT_FORMATS
    from r1mm.latent.tune import GroundedQuestion, answer_place, positives_for

    questions, features = [], {}
    workspaces = {}
    try:
        for ex in examples:
            if all(f.is_file() and sniff(f) in DOCUMENT_FORMATS for f in ex.files):
                continue  # nothing to project
            if ex.files not in workspaces:
                workspaces[ex.files] = _workspace_for(ex.files, projectors)
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


# ---- the model ---------------------------------------------------------------------------

class R1Model:
    """The R1 decoder with its tokenizer, optionally with fine-tuned LoRA adapters and routers."""

    def __init__(self, model, tokenizer, base: str, name: str | None = None):
        self.model = model            # R1ForCausalLM (LoRA layers injected in place once fine-tuned)
        self.tokenizer = tokenizer
        self.base = base              # a built decoder's name, or a folder
        self.name = name or Path(base).name
        self.history: list[dict] = []  # one FinetuneReport per fine-tune
        self._peft = None
        self.projectors: dict | None = None  # fine-tuned projectors by tower; None: the cached ones

    # -- loading and saving
    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> "R1Model":
        """``None`` or a built decoder's name: the R1 decoder from the cache (built when missing);
        a folder from ``save_pretrained``: its base plus its adapters and routers; any folder with
        an R1 ``config.json``: that model."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        import r1mm.decoder.model  # noqa: F401  registers R1Config with the Auto classes
        from r1mm.decoder.build import DEFAULT_NAME, build, decoder_dir, is_built

        target = Path(path) if path is not None else None
        if target is not None and (target / MANIFEST).exists():
            manifest = json.loads((target / MANIFEST).read_text())
            model = cls.from_pretrained(manifest["base"])
            model._load_finetune(target, manifest)
            return model
        if target is None or not target.exists():
            name = str(path) if path is not None else DEFAULT_NAME
            if "/" in name or "\\" in name:
                raise R1Error(f"{name}: no such model folder")
            folder = decoder_dir(name)
            if not is_built(name):
                build(name, progress=log.info)
            base = name
        else:
            folder = target
            if not (folder / "config.json").exists():
                raise R1Error(f"{folder}: not a model folder (no config.json or {MANIFEST})")
            base = str(folder.resolve())
        # Loaded afresh (not the app's shared copy), so fine-tuning never touches another user's model.
        lm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        return cls(lm, AutoTokenizer.from_pretrained(folder), base)

    def save_pretrained(self, path: str | Path) -> Path:
        """A fine-tune: its adapters, routers and a manifest naming its base (a few MB). A model
        never fine-tuned: the whole model (config.json + model.safetensors + tokenizer)."""
        from safetensors.torch import save_file

        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        if self._peft is None:
            self.model.save_pretrained(partial)
            self.tokenizer.save_pretrained(partial)
        else:
            self._peft.save_pretrained(partial / ADAPTER_DIR)
            save_file({k: v.detach().contiguous() for k, v in self._router_state().items()}, partial / ROUTERS_FILE)
            if self.projectors:
                from r1mm.encoders.projector import save as save_projectors

                save_projectors(self.projectors, partial / PROJECTORS_FILE)
            (partial / MANIFEST).write_text(json.dumps(
                {"format": 1, "base": self.base, "name": self.name, "finetunes": self.history}, indent=2))
        shutil.rmtree(path, ignore_errors=True)
        partial.rename(path)
        return path

    def _load_finetune(self, folder: Path, manifest: dict) -> None:
        from peft import PeftModel
        from safetensors.torch import load_file

        self._peft = PeftModel.from_pretrained(self.model, str(folder / ADAPTER_DIR))
        self.model = self._peft.base_model.model
        self.model.load_state_dict(load_file(folder / ROUTERS_FILE), strict=False)
        if (folder / PROJECTORS_FILE).exists():
            from r1mm.encoders.projector import load as load_projectors

            self.projectors = load_projectors(folder / PROJECTORS_FILE)
        self.model.eval()
        self.name = manifest.get("name", folder.name)
        self.history = manifest.get("finetunes", [])

    def _router_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.model.state_dict().items() if ".mlp.router." in k}

    # -- using it
    @property
    def decoder(self):
        """For ``Workspace(decoder=model.decoder)``: grounded answers written by this model."""
        from r1mm.decoder.build import decoder_dir
        from r1mm.decoder.grounded import GroundedDecoder

        if getattr(self, "_decoder", None) is None or self._decoder.name != self.name:
            folder = Path(self.base) if Path(self.base).is_absolute() else decoder_dir(self.base)
            self._decoder = GroundedDecoder(self.model, self.tokenizer, self.name, folder=folder)
        return self._decoder

    def workspace(self, root: str | Path | None = None, **options):
        """A workspace whose answers this model writes and whose media tokens its projectors make
        (a new one: tokens already stored in a workspace were made by the projectors of their day)."""
        from r1mm.workspace import Workspace

        return Workspace(root, decoder=self.decoder, projectors=self.projectors, **options)

    def ask(self, question: str, files: Iterable[str | Path]):
        """Answer a question about files (an in-memory workspace), like ``python -m r1mm ask``."""
        ws = self.workspace()
        for f in files:
            record = ws.add(f)
            if not record.ok:
                raise R1Error(record.error or f"{f}: could not be read")
        return ws.ask(question)

    # -- fine-tuning
    def finetune(self, dataset: Any, epochs: int = 5, *, dp: bool = False, epsilon: float = 8.0,
                 delta: float = 1e-5, max_grad_norm: float = 1.0, batch_size: int = 4,
                 learning_rate: float | None = None, lora_rank: int = 8, refit_routers: bool = True,
                 train_projectors: bool = True,
                 checkpoint_dir: str | Path | None = None, resume: bool = True, seed: int = 0,
                 progress: bool = True) -> FinetuneReport:
        """Fine-tune on questions and answers about files (see ``read_dataset``).

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
        tuned = self._finetune_projectors(examples, epochs, seed, progress) if train_projectors and not dp else {}
        pairs = training_prompts(examples, self.projectors)
        settings = dict(epochs=epochs, dp=dp, epsilon=epsilon, delta=delta, max_grad_norm=max_grad_norm,
                        batch_size=batch_size, learning_rate=learning_rate, lora_rank=lora_rank, seed=seed)
        checkpoint = Path(checkpoint_dir) if checkpoint_dir else _default_checkpoint_dir(self, pairs, settings)
        report = FinetuneReport(epochs=epochs, examples=len(pairs), dp=dp, projectors=tuned,
                                epsilon_target=epsilon if dp else None, delta=delta if dp else None)
        torch.manual_seed(seed)
        self._ensure_lora(lora_rank)
        trainable = [p for p in self._peft.parameters() if p.requires_grad]
        lr = learning_rate or (2e-3 if dp else 1e-3)
        optimizer = torch.optim.Adam(trainable, lr=lr)
        eos = self.tokenizer.eos_token_id
        data = _tensors(self.tokenizer, pairs, eos if eos is not None else self.model.config.eos_token_id)
        generator = torch.Generator().manual_seed(seed)
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, generator=generator)
        module, engine = self._peft, None
        if dp:
            from opacus import PrivacyEngine

            engine = PrivacyEngine(accountant="rdp")
            module, optimizer, loader = engine.make_private_with_epsilon(
                module=self._peft, optimizer=optimizer, data_loader=loader, target_epsilon=epsilon,
                target_delta=delta, epochs=epochs, max_grad_norm=max_grad_norm)
            report.noise_multiplier = round(float(optimizer.noise_multiplier), 4)
        first_epoch = 0
        state_file = checkpoint / "last.pt"
        if resume and state_file.exists():
            first_epoch = self._restore(state_file, trainable, optimizer, engine, report)
            log.info("resuming fine-tuning after epoch %d from %s", first_epoch, state_file)
        self.model.train()
        try:
            for epoch in range(first_epoch, epochs):
                total, batches = 0.0, 0
                bar = tqdm(loader, desc=f"fine-tuning{' (DP)' if dp else ''}, epoch {epoch + 1}/{epochs}",
                           unit="batch", disable=not progress, file=sys.stderr)
                for input_ids, attention, labels in bar:
                    if input_ids.shape[0] == 0:  # Poisson sampling can draw an empty batch
                        continue
                    optimizer.zero_grad()
                    loss = _answer_loss(self.model, input_ids, attention, labels)
                    loss.backward()
                    optimizer.step()
                    total, batches = total + loss.item(), batches + 1
                    report.steps += 1
                    bar.set_postfix(loss=f"{loss.item():.3f}")
                report.losses.append(round(total / max(batches, 1), 4))
                if engine is not None:
                    report.epsilon_spent = round(float(engine.get_epsilon(delta)), 3)
                self._checkpoint(state_file, epoch + 1, trainable, optimizer, engine, report)
        finally:
            self.model.eval()
            if engine is not None:
                _detach_opacus(module)
        if refit_routers and not dp:
            self._refit_routers([p for p, _ in pairs], progress)
            report.routers_refit = True
        report.seconds = round(time.perf_counter() - started, 1)
        self.history.append(report.to_dict())
        shutil.rmtree(checkpoint, ignore_errors=True)
        return report

    def _finetune_projectors(self, examples: list[QAExample], epochs: int, seed: int,
                             progress: bool) -> dict[str, dict]:
        """Train the projectors of the towers the media questions touch; per tower, what changed."""
        from r1mm.encoders.projector import trained as cached
        from r1mm.latent.tune import tune_projectors

        questions, features = grounded_questions(examples, self.projectors)
        if not questions:
            return {}
        base = {**cached(), **(self.projectors or {})}
        say = (lambda msg: print(msg, file=sys.stderr)) if progress else None
        tuned, reports = tune_projectors(questions, features, base, epochs=epochs, seed=seed, progress=say)
        self.projectors = {**(self.projectors or {}), **tuned}
        return {tower: r.to_dict() for tower, r in reports.items()}

    def _ensure_lora(self, rank: int) -> None:
        if self._peft is not None:
            return
        from peft import LoraConfig, get_peft_model

        self._peft = get_peft_model(self.model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                                           target_modules=LORA_TARGETS))
        self.model = self._peft.base_model.model
        self.name = f"{self.name}+lora"

    def _checkpoint(self, file: Path, epoch: int, trainable, optimizer, engine, report) -> None:
        file.parent.mkdir(parents=True, exist_ok=True)
        inner = getattr(optimizer, "original_optimizer", optimizer)
        state = {"epoch": epoch, "params": [p.detach().clone() for p in trainable],
                 "optimizer": inner.state_dict(), "report": report.to_dict(),
                 "accountant": engine.accountant.state_dict() if engine is not None else None,
                 "rng": torch.get_rng_state()}
        tmp = file.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(file)  # atomic: a run killed while saving keeps the previous checkpoint

    def _restore(self, file: Path, trainable, optimizer, engine, report) -> int:
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

    @torch.no_grad()
    def _refit_routers(self, prompts: list[str], progress: bool) -> None:
        """Re-fit each router to the expert shares on the fine-tuning prompts (with the adapters on)."""
        from r1mm.decoder.model import train_router

        layers = self.model.moe_layers()
        inputs: list[list[torch.Tensor]] = [[] for _ in layers]
        hooks = [moe.register_forward_pre_hook(lambda m, args, i=i: inputs[i].append(args[0].reshape(-1, args[0].shape[-1])))
                 for i, moe in enumerate(layers)]
        try:
            for prompt in prompts:
                self.model(input_ids=self.tokenizer(prompt, return_tensors="pt").input_ids)
        finally:
            for h in hooks:
                h.remove()
        for i, moe in enumerate(layers):
            moe.router.requires_grad_(True)  # peft froze every non-adapter weight
            with torch.enable_grad():
                loss = train_router(moe, torch.cat(inputs[i]).float(), steps=150, seed=i)
            moe.router.requires_grad_(False)
            if progress:
                print(f"router {i + 1}/{len(layers)} re-fit: loss {loss:.3f}", file=sys.stderr)


def _default_checkpoint_dir(model: R1Model, pairs, settings: dict) -> Path:
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
