"""The MoE decoder on one set of weights: dense vs top-k vs entropy-adaptive routing.

- perplexity on held-out text (never used for clustering or router training) and FFN
  multiply-adds per token relative to the dense FFN;
- answer accuracy on generated questions whose answer is a number stated in the context;
- each routing mode's curve: FFN multiply-adds per token against perplexity, five settings each;
- the int8-screened output head against the full fp32 head (same token? time per token);
- time to first token and to the whole answer on the app's own prompts (``bench answers``'
  questions), and decode tokens/s against the same weights in plain transformers (ratio);
- KV memory and needle-in-a-haystack recall at long context, compressed vs full cache.
"""
from __future__ import annotations

import math
import random
import time

import numpy as np
import torch
from tqdm import tqdm

from r1mm.decoder.build import calibration_batches, load
from r1mm.decoder.corpus import texts
from r1mm.decoder.kv import full_attention_kv_bytes, kv_bytes, peak_kv_bytes
from r1mm.decoder.moe import ffn_flops_per_token
from r1mm.decoder.model import to_dense

PPL_TOKENS = 6144
# Each routing mode's knob over five settings: the FFN-compute vs perplexity curve.
CURVES = {"top_k": ("moe_top_k", (16, 24, 32, 48, 56)), "adaptive": ("moe_top_p", (0.6, 0.7, 0.8, 0.9, 0.95))}
GOAL_SAVED_PCT, GOAL_PPL_PCT = 27, 2
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
def output_head(model, tokenizer, batches: list[torch.Tensor]) -> dict:
    """The int8-screened head against the full fp32 head on held-out positions: same token?
    how far apart are the scores? how many rows were scored in fp32? and the time per token."""
    from r1mm.decoder.head import MARGIN

    head = model.screened_head(next(calibration_batches(tokenizer, "calibration", length=1024)))
    weight = model.lm_head.weight.detach()
    same, positions, worst, rows = 0, 0, 0.0, []
    for ids in batches[:4]:
        hidden = model.model(input_ids=ids, use_cache=False).last_hidden_state[0]
        exact = hidden @ weight.t()
        worst = max(worst, float((head.rough_scores(hidden) - exact).abs().max()))
        for h, full in zip(hidden, exact.argmax(-1).tolist()):
            token, scored = head.argmax(h)
            same += token == full
            rows.append(scored)
        positions += hidden.shape[0]
    h = hidden[-1]
    timing = {}
    for name, pick in (("full_fp32", lambda: int((h @ weight.t()).argmax())), ("screened", lambda: head.argmax(h))):
        pick()
        started = time.perf_counter()
        for _ in range(20):
            pick()
        timing[f"ms_per_token_{name}"] = round((time.perf_counter() - started) / 20 * 1000, 2)
    return {"positions": positions, "same_token_as_full_head": same, "largest_int8_error_logits": round(worst, 3),
            "margin_logits": MARGIN, "rows_scored_fp32_median": _median(rows), "rows_scored_fp32_max": max(rows),
            **timing}


def app_prompts(seed: int = 300) -> list[tuple[str, list]]:
    """The (question, evidence) pairs the app hands the decoder for ``bench answers``' questions: one
    CT phantom, one plate and one report with its call, read and retrieved by a real workspace."""
    import tempfile
    from pathlib import Path

    from r1mm.bench.answers import ct_case, plate_case, report_case
    from r1mm.workspace import Workspace

    class Recorder:  # stands in for the decoder: keeps what it is handed, writes nothing
        name = "recorder"

        def __init__(self):
            self.prompts = []

        def stream(self, question, evidence, draft):
            self.prompts.append((question, evidence))
            return iter(())

    recorder = Recorder()
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-decoder-") as tmp:
        for kind, make in (("ct", ct_case), ("plate", plate_case), ("report", report_case)):
            paths, questions = make(seed, Path(tmp) / kind)
            ws = Workspace(decoder=recorder)
            for p in paths if isinstance(paths, list) else [paths]:
                ws.add(p)
            for question, _ in questions:
                for _ in ws.ask_stream(question):
                    pass
            ws.close()
    return recorder.prompts


@torch.no_grad()
def latency(model, tokenizer, prompts: list[tuple[str, list]]) -> dict:
    """Time to first token and to the whole answer for the app's prompts: the R1 decoder as the app runs
    it (each routing mode), and the same weights in plain transformers (greedy, same answer length).
    Also whether the int8-screened head ever picks another token than the full fp32 head."""
    from r1mm.decoder.grounded import Draft, GroundedDecoder, lead_for, prompt_for
    from r1mm.decoder.soft import prompt_embeddings

    decoder = GroundedDecoder(model, tokenizer, "r1")
    for _ in decoder.stream(*prompts[0], Draft()):  # load the soft projector, build the head's screen
        pass

    def answer(question, evidence, screened=True):
        decoder.screened_head = screened
        draft = Draft()
        text = "".join(decoder.stream(question, evidence, draft))
        return draft, text

    rows, lengths = {}, []
    for mode in ("dense", "adaptive"):
        model.set_routing(mode)
        firsts, totals, rates, mismatched, words = [], [], [], 0, []
        for question, evidence in tqdm(prompts, desc=f"app prompts, {mode} routing", unit="answer"):
            draft, text = answer(question, evidence)
            firsts.append(draft.first_token_seconds)
            totals.append(draft.seconds)
            if draft.tokens > 1:
                rates.append((draft.tokens - 1) / (draft.seconds - draft.first_token_seconds))
            words.append(draft.tokens)
            if mode == "dense":
                lengths.append(draft.tokens)
                _, full_head_text = answer(question, evidence, screened=False)
                mismatched += full_head_text != text
        rows[mode] = {"first_token_s_median": round(_median(firsts), 3), "first_token_s_max": round(max(firsts), 3),
                      "answer_s_median": round(_median(totals), 3), "answer_s_max": round(max(totals), 3),
                      "answer_tokens_median": _median(words), "decode_tokens_per_s": round(_median(rates), 2)}
        if mode == "dense":
            rows[mode]["answers_differing_from_full_fp32_head"] = mismatched
    decoder.screened_head = True

    # The same weights in plain transformers: one FFN per layer, its own cache, the full head.
    model.set_routing("adaptive")
    plain = to_dense(model)
    firsts, totals, rates = [], [], []
    for (question, evidence), tokens in tqdm(list(zip(prompts, lengths)), desc="app prompts, plain transformers",
                                             unit="answer"):
        latents = [e.latent for e in evidence if e.latent is not None]
        prompt = prompt_for(question, evidence, media=bool(latents), lead=lead_for(question, evidence))
        if latents:
            embeds = prompt_embeddings(model, tokenizer, prompt, decoder.soft_projector()(np.stack(latents)))
        else:
            embeds = model.get_input_embeddings()(tokenizer(prompt, return_tensors="pt").input_ids)
        tokens = max(2, tokens)
        started = time.perf_counter()
        plain.generate(inputs_embeds=embeds, max_new_tokens=1, do_sample=False)
        first = time.perf_counter() - started
        started = time.perf_counter()
        plain.generate(inputs_embeds=embeds, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        total = time.perf_counter() - started
        firsts.append(first)
        totals.append(total)
        rates.append((tokens - 1) / max(1e-6, total - first))
    del plain
    rows["plain_transformers_dense"] = {"first_token_s_median": round(_median(firsts), 3),
                                        "answer_s_median": round(_median(totals), 3),
                                        "decode_tokens_per_s": round(_median(rates), 2)}
    for mode in ("dense", "adaptive"):
        rows[mode]["decode_vs_plain_transformers"] = round(
            rows[mode]["decode_tokens_per_s"] / rows["plain_transformers_dense"]["decode_tokens_per_s"], 2)
    return {"prompts": len(prompts), **rows}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


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
    config_routing = config.moe_routing
    heldout = list(calibration_batches(tokenizer, "heldout", length=512))[: PPL_TOKENS // 512]
    dense_flops = 3 * config.hidden_size * config.intermediate_size

    qa = qa_cases(cases)
    model.set_routing("dense")
    ppl, _ = perplexity(model, heldout)
    routing = {"dense": {"perplexity": round(ppl, 3), "ffn_flops_vs_dense": 1.0,
                         "qa_accuracy": round(qa_accuracy(model, tokenizer, qa), 3)}}
    for mode, (knob, values) in CURVES.items():
        points = []
        for value in tqdm(values, desc=f"{mode} routing curve", unit="point"):
            model.set_routing(mode, **{knob: value})
            p, experts = perplexity(model, heldout)
            share = ffn_flops_per_token(config, experts) / dense_flops
            points.append({knob: value, "perplexity": round(p, 3), "perplexity_increase_pct": round(100 * (p / ppl - 1), 2),
                           "routed_experts_per_token": round(experts, 2), "ffn_flops_vs_dense": round(share, 3),
                           "ffn_flops_saved_pct": round(100 * (1 - share), 1)})
        model.set_routing(mode, **{knob: values[len(values) // 2]})
        routing[mode] = {"curve": points, f"qa_accuracy_at_{knob}_{values[len(values) // 2]}":
                         round(qa_accuracy(model, tokenizer, qa), 3),
                         "points_meeting_goal": [pt[knob] for pt in points if pt["ffn_flops_saved_pct"] >= GOAL_SAVED_PCT
                                                 and pt["perplexity_increase_pct"] <= GOAL_PPL_PCT]}
    model.set_routing("dense")
    head = output_head(model, tokenizer, heldout)
    answers = latency(model, tokenizer, app_prompts())

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
    model.set_routing(config_routing)
    return {
        "model": config.base_model, "experts": f"1 shared ({config.moe_shared_size} neurons) + "
                                               f"{config.moe_num_experts} routed ({config.moe_expert_size} each)",
        "heldout_tokens": sum(b.numel() for b in heldout), "qa_cases": len(qa),
        "routing": routing, "routing_goal": f"at least {GOAL_SAVED_PCT}% fewer FFN multiply-adds at most "
                                            f"{GOAL_PPL_PCT}% perplexity increase",
        "output_head": head, "app_answers": answers,
        "long_context": long_context,
    }
