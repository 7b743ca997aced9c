"""The MoE decoder on one set of weights: dense vs top-k vs entropy-adaptive routing.

- perplexity on held-out text (never used for clustering or router training) and FFN
  multiply-adds per token relative to the dense FFN;
- answer accuracy on generated questions whose answer is a number stated in the context;
- decode tokens/s of the MoE model against the same weights in plain transformers (ratio);
- KV memory and needle-in-a-haystack recall at long context, compressed vs full cache.
"""
from __future__ import annotations

import math
import random
import time

import torch
from tqdm import tqdm

from r1mm.decoder.build import calibration_batches, load
from r1mm.decoder.corpus import texts
from r1mm.decoder.kv import full_attention_kv_bytes, kv_bytes, peak_kv_bytes
from r1mm.decoder.moe import ffn_flops_per_token
from r1mm.decoder.model import to_dense

PPL_TOKENS = 6144
FEW_SHOT = ("Context: Net income was 52.3 million dollars and revenue was 410.0 million dollars.\n"
            "Question: What was net income?\nAnswer: 52.3\n\n"
            "Context: The nodule measures 7.5 millimetres and the scan has 120 slices.\n"
            "Question: How many slices does the scan have?\nAnswer: 120\n\n")
_METRICS = ("revenue", "operating expenses", "net income", "free cash flow", "gross profit", "capital expenditure")


def qa_cases(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """(prompt, expected answer) pairs: two figures in the context, the question names one."""
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        a, b = rng.sample(_METRICS, 2)
        va, vb = round(rng.uniform(10, 999), 1), round(rng.uniform(10, 999), 1)
        asked, value = (a, va) if rng.random() < 0.5 else (b, vb)
        prompt = (f"{FEW_SHOT}Context: {a.capitalize()} was {va} million dollars and {b} was {vb} million dollars.\n"
                  f"Question: What was {asked}?\nAnswer:")
        cases.append((prompt, f"{value}"))
    return cases


@torch.no_grad()
def perplexity(model, batches: list[torch.Tensor]) -> tuple[float, float]:
    """(perplexity, mean routed experts per token over all layers)."""
    nll, count, experts, routed_tokens = 0.0, 0, 0.0, 0
    model.record_routing(True)
    for ids in batches:
        out = model(input_ids=ids, labels=ids, use_cache=False)
        n = ids.numel() - 1
        nll += out.loss.item() * n
        count += n
        for r in model.routing_trace():
            experts += r.chosen.sum().item()
            routed_tokens += r.chosen.shape[0]
    model.record_routing(False)
    return math.exp(nll / count), experts / routed_tokens


@torch.no_grad()
def qa_accuracy(model, tokenizer, cases) -> float:
    right = 0
    for prompt, expected in cases:
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False)
        answer = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).split("\n")[0].strip()
        right += answer.startswith(expected)
    return right / len(cases)


@torch.no_grad()
def decode_rate(model, tokenizer, tokens: int = 48) -> float:
    ids = tokenizer(FEW_SHOT + "Context: Revenue grew because", return_tensors="pt").input_ids
    model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False)  # warm-up
    started = time.perf_counter()
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens,
                         min_new_tokens=tokens, do_sample=False)
    return (out.shape[1] - ids.shape[1]) / (time.perf_counter() - started)


def haystack(tokenizer, context: int, depth: float, code: str, rng: random.Random) -> torch.Tensor:
    """Filler prose of ``context`` tokens with the needle at ``depth`` and the question at the end."""
    filler = texts("heldout")
    needle = f" The access code for the north vault is {code}. "
    question = "\n\nWhat is the access code for the north vault? The access code for the north vault is"
    budget = context - len(tokenizer(needle + question).input_ids)
    pieces, length = [], 0
    while length < budget:
        p = rng.choice(filler)
        pieces.append(p)
        length += len(tokenizer(p).input_ids) + 1
    ids = tokenizer(" ".join(pieces), add_special_tokens=False).input_ids[:budget]
    cut = int(len(ids) * depth)
    text = tokenizer.decode(ids[:cut]) + needle + tokenizer.decode(ids[cut:]) + question
    return tokenizer(text, return_tensors="pt").input_ids


@torch.no_grad()
def needle_trial(model, tokenizer, ids: torch.Tensor, code: str, compressed: bool) -> tuple[bool, int, int]:
    """(found, KV bytes held while answering, most KV bytes held at once)."""
    cache = model.new_cache(compressed=compressed)
    model.prefill(ids[:, :-1], cache)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), cache=cache, max_new_tokens=6,
                         do_sample=False)
    answer = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    return code in answer.replace(" ", ""), kv_bytes(cache), peak_kv_bytes(cache)


def run(cases: int = 20, contexts: tuple[int, ...] = (8192,), needles: int | None = None) -> dict:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, tokenizer = load()
    config = model.config
    heldout = list(calibration_batches(tokenizer, "heldout", length=512))[: PPL_TOKENS // 512]
    dense_flops = 3 * config.hidden_size * config.intermediate_size

    modes = {"dense": dict(moe_routing="dense"),
             "top_k": dict(moe_routing="top_k", moe_top_k=config.moe_top_k),
             "adaptive": dict(moe_routing="adaptive", moe_top_p=config.moe_top_p)}
    qa = qa_cases(cases)
    routing = {}
    for name, knobs in tqdm(modes.items(), desc="routing modes", unit="mode"):
        model.set_routing(**knobs)
        ppl, experts = perplexity(model, heldout)
        routing[name] = {"perplexity": round(ppl, 3), "routed_experts_per_token": round(experts, 2),
                         "ffn_flops_vs_dense": round(ffn_flops_per_token(config, experts) / dense_flops, 3),
                         "qa_accuracy": round(qa_accuracy(model, tokenizer, qa), 3)}
    for name in ("top_k", "adaptive"):
        r = routing[name]
        r["perplexity_increase_pct"] = round(100 * (r["perplexity"] / routing["dense"]["perplexity"] - 1), 2)
        r["ffn_flops_saved_pct"] = round(100 * (1 - r["ffn_flops_vs_dense"]), 1)

    model.set_routing("adaptive", moe_top_p=config.moe_top_p)
    plain = to_dense(model)
    moe_rate, plain_rate = decode_rate(model, tokenizer), decode_rate(plain, tokenizer)
    del plain

    rng = random.Random(11)
    long_context = {}
    model.set_routing("dense")
    for context in contexts:
        trials = needles or (4 if context <= 8192 else 2)
        found = {"compressed": 0, "full": 0}
        held = {"compressed": 0, "full": 0}
        peak = {"compressed": 0, "full": 0}
        for trial in tqdm(range(trials), desc=f"needles at {context} tokens", unit="needle"):
            code = str(rng.randint(1000, 9999))
            ids = haystack(tokenizer, context, depth=(trial + 0.5) / trials, code=code, rng=rng)
            for kind in found:
                ok, used, most = needle_trial(model, tokenizer, ids, code, compressed=kind == "compressed")
                found[kind] += ok
                held[kind], peak[kind] = max(held[kind], used), max(peak[kind], most)
        all_full = full_attention_kv_bytes(config, context)
        mib = lambda b: round(b / 2**20, 1)
        long_context[str(context)] = {
            "needles": trials,
            "needle_recall": {k: round(v / trials, 3) for k, v in found.items()},
            "kv_mib_while_answering": {"compressed": mib(held["compressed"]), "transformers_cache": mib(held["full"]),
                                       "full_attention_all_layers": mib(all_full)},
            "kv_mib_peak_while_reading": {"compressed": mib(peak["compressed"]), "transformers_cache": mib(peak["full"])},
            "kv_memory_vs_full_attention": round(held["compressed"] / all_full, 3),
            "kv_memory_vs_transformers_cache": round(held["compressed"] / held["full"], 3),
        }
    model.set_routing("adaptive", moe_top_p=config.moe_top_p)
    return {
        "model": config.base_model, "experts": f"1 shared ({config.moe_shared_size} neurons) + "
                                               f"{config.moe_num_experts} routed ({config.moe_expert_size} each)",
        "heldout_tokens": sum(b.numel() for b in heldout), "qa_cases": len(qa),
        "routing": routing,
        "decode_tokens_per_s": {"moe_adaptive": round(moe_rate, 2), "plain_transformers_dense": round(plain_rate, 2),
                                "ratio": round(moe_rate / plain_rate, 3)},
        "long_context": long_context,
    }
