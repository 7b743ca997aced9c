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
would read the data outside the privacy accounting. The training itself is ``r1mm.finetune``.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Iterable

import torch

from r1mm.errors import R1Error
from r1mm.finetune import FinetuneReport

log = logging.getLogger(__name__)

MANIFEST = "r1mm_model.json"
ADAPTER_DIR = "adapter"
ROUTERS_FILE = "routers.safetensors"
PROJECTORS_FILE = "projectors.safetensors"
LORA_TARGETS = ["q_proj", "v_proj"]


# ---- the model ---------------------------------------------------------------------------

class R1Model:
    """The R1 decoder with its tokenizer, optionally with fine-tuned LoRA adapters and routers."""

    def __init__(self, model, tokenizer, base: str, name: str | None = None):
        self.model = model            # R1ForCausalLM (LoRA layers injected in place once fine-tuned)
        self.tokenizer = tokenizer
        self.base = base              # a built decoder's name, or a folder
        self.name = name or Path(base).name
        self.history: list[dict] = []  # one FinetuneReport per fine-tune
        self.peft = None  # the peft wrapper once adapters are added
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
        if self.peft is None:
            self.model.save_pretrained(partial)
            self.tokenizer.save_pretrained(partial)
        else:
            self.peft.save_pretrained(partial / ADAPTER_DIR)
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

        self.peft = PeftModel.from_pretrained(self.model, str(folder / ADAPTER_DIR))
        self.model = self.peft.base_model.model
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

    def read(self, text: str):
        """Read a long text once (128K tokens and more, in bounded memory: block memory), for
        questions: ``model.read(text).ask(question)`` answers from the passages the question recalls,
        read again (``r1mm.decoder.recall``); the answer's ``passages`` are its evidence."""
        from r1mm.decoder.recall import RecallReader

        ids = self.tokenizer(text, return_tensors="pt").input_ids  # with BOS, as the model was trained
        return RecallReader(self.model, self.tokenizer).read(ids)

    # -- fine-tuning
    def finetune(self, dataset: Any, epochs: int = 5, *, dp: bool = False, epsilon: float = 8.0,
                 delta: float = 1e-5, max_grad_norm: float = 1.0, batch_size: int = 4,
                 learning_rate: float | None = None, lora_rank: int = 8, refit_routers: bool = True,
                 train_projectors: bool = True,
                 checkpoint_dir: str | Path | None = None, resume: bool = True, seed: int = 0,
                 progress: bool = True) -> FinetuneReport:
        """Fine-tune on questions and answers about files (see ``r1mm.finetune.read_dataset``).

        Checkpoints are written after every epoch (to ``checkpoint_dir``, by default a folder in
        the cache named after the data and settings); with ``resume`` an interrupted run picks up
        after its last finished epoch. They are removed once the run completes.
        """
        from r1mm.finetune import finetune

        return finetune(self, dataset, epochs, dp=dp, epsilon=epsilon, delta=delta, max_grad_norm=max_grad_norm,
                        batch_size=batch_size, learning_rate=learning_rate, lora_rank=lora_rank,
                        refit=refit_routers, train_projectors=train_projectors, checkpoint_dir=checkpoint_dir,
                        resume=resume, seed=seed, progress=progress)

    def add_lora(self, rank: int) -> None:
        """LoRA adapters of this rank on the attention's query and value projections (once)."""
        if self.peft is not None:
            return
        from peft import LoraConfig, get_peft_model

        self.peft = get_peft_model(self.model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                                           target_modules=LORA_TARGETS))
        self.model = self.peft.base_model.model
        self.name = f"{self.name}+lora"

