"""Routers re-fit after fine-tuning: each layer's router learns the expert shares it sees on the
fine-tuning prompts, with the adapters on."""
from __future__ import annotations

import sys

import torch


@torch.no_grad()
def refit_routers(model, prompts: list[str], progress: bool) -> None:
    """Re-fit each router of ``model`` (an ``R1Model``) to the expert shares on the fine-tuning
    prompts, with the adapters on."""
    from r1mm.decoder.model import train_router

    layers = model.model.moe_layers()
    inputs: list[list[torch.Tensor]] = [[] for _ in layers]
    hooks = [moe.register_forward_pre_hook(lambda m, args, i=i: inputs[i].append(args[0].reshape(-1, args[0].shape[-1])))
             for i, moe in enumerate(layers)]
    try:
        for prompt in prompts:
            model.model(input_ids=model.tokenizer(prompt, return_tensors="pt").input_ids)
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


