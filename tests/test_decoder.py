"""The MoE decoder on a tiny random Gemma 3: parity, routing, KV compression, save/load."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, Gemma3ForCausalLM, Gemma3TextConfig

from r1mm.config import R1Config
from r1mm.decoder.kv import CompressedLayer
from r1mm.decoder.memory import memory_bytes
from r1mm.decoder.model import R1ForCausalLM, to_dense, upcycle
from r1mm.decoder.moe import select_experts

TINY = dict(vocab_size=300, hidden_size=64, intermediate_size=160, num_hidden_layers=4, num_attention_heads=2,
            num_key_value_heads=1, head_dim=32, sliding_window=16,
            layer_types=["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"])
R1_FIELDS = dict(moe_shared_size=32, moe_num_experts=8, kv_budget=48, kv_recent=8, kv_sinks=2, kv_pool=4)


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    dense = Gemma3ForCausalLM(Gemma3TextConfig(**TINY)).eval()
    g = torch.Generator().manual_seed(1)
    batches = iter([torch.randint(0, 300, (2, 64), generator=g) for _ in range(8)])
    model = upcycle(dense, R1_FIELDS, batches, calibration_tokens=512, router_steps=60)
    return dense, model


def test_all_experts_on_equals_the_dense_ffn(pair):
    dense, model = pair
    model.set_routing("dense")
    ids = torch.randint(0, 300, (2, 40))
    with torch.no_grad():
        assert torch.allclose(dense(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)
        # One-token decoding takes the gathered-weights path; it must agree too.
        one = ids[:, :1]
        assert torch.allclose(dense(input_ids=one[:1]).logits, model(input_ids=one[:1]).logits, atol=1e-5)


def test_to_dense_puts_the_experts_back(pair):
    _, model = pair
    model.set_routing("dense")
    ids = torch.randint(0, 300, (1, 30))
    with torch.no_grad():
        assert torch.allclose(to_dense(model)(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)


def test_fewer_experts_change_the_output_and_top_k_uses_exactly_k(pair):
    dense, model = pair
    ids = torch.randint(0, 300, (1, 30))
    model.set_routing("top_k", moe_top_k=2)
    model.record_routing(True)
    with torch.no_grad():
        sparse = model(input_ids=ids).logits
    trace = model.routing_trace()
    model.record_routing(False)
    assert all((r.chosen.sum(-1) == 2).all() for r in trace)
    with torch.no_grad():
        assert not torch.allclose(sparse, dense(input_ids=ids).logits, atol=1e-4)


def test_adaptive_routing_uses_more_experts_when_the_router_is_unsure():
    sure = torch.tensor([[0.90, 0.04, 0.03, 0.02, 0.01]])
    unsure = torch.full((1, 5), 0.2)
    count = lambda p: int(select_experts(p, "adaptive", 0, 0.8, 1, 5).sum())
    assert count(sure) == 1
    assert count(unsure) == 4
    # The budget knob caps it, and the floor holds.
    assert int(select_experts(unsure, "adaptive", 0, 0.8, 1, 2).sum()) == 2
    assert int(select_experts(sure, "adaptive", 0, 0.5, 3, 5).sum()) == 3


def test_router_entropy_tracks_expert_count(pair):
    _, model = pair
    model.set_routing("adaptive", moe_top_p=0.6)
    model.record_routing(True)
    with torch.no_grad():
        model(input_ids=torch.randint(0, 300, (1, 120), generator=torch.Generator().manual_seed(0)))
    model.record_routing(False)
    r = model.routing_trace()[1]
    counts = r.chosen.sum(-1).float()
    assert counts.min() >= 1 and counts.max() <= 8 and counts.std() > 0  # adaptive: not one count for all
    # Flatter router distributions (higher entropy) need more experts to reach top_p.
    corr = torch.corrcoef(torch.stack([r.entropy, counts]))[0, 1]
    assert corr > 0


def test_the_trained_router_beats_chance_at_finding_the_biggest_expert(pair):
    _, model = pair
    moe = model.moe_layers()[0]
    x = torch.randn(256, 64)
    with torch.no_grad():
        best = moe.expert_activations(x).argmax(-1)
        predicted_top3 = moe.router_probs(x).topk(3, dim=-1).indices
    hit = (predicted_top3 == best[:, None]).any(-1).float().mean()
    assert hit > 3 / 8


def test_compressed_cache_stays_within_budget_and_keeps_positions(pair):
    _, model = pair
    model.set_routing("dense")
    cache = model.new_cache(memory="compressed")
    ids = torch.randint(0, 300, (1, 300))
    model.prefill(ids, cache, chunk=32)
    full_layer = cache.layers[3]
    assert isinstance(full_layer, CompressedLayer)
    assert full_layer.keys.shape[-2] <= model.config.kv_budget
    assert cache.get_seq_length() == 300                      # true positions continue
    assert full_layer.tokens_represented() == 300             # pooled, not dropped
    # Sinks and the most recent tokens are kept exactly.
    reference = model.new_cache("full")
    model.prefill(ids, reference, chunk=32)
    assert torch.allclose(full_layer.keys[..., -8:, :], reference.layers[3].keys[..., -8:, :], atol=1e-5)
    assert torch.allclose(full_layer.keys[..., :2, :], reference.layers[3].keys[..., :2, :], atol=1e-5)
    assert memory_bytes(cache)["ram"] < memory_bytes(reference)["ram"]
    # Generation continues from a compressed prefill (all but the last prompt token) at the right position.
    cache = model.new_cache(memory="compressed")
    model.prefill(ids[:, :-1], cache, chunk=32)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), cache=cache, max_new_tokens=5,
                         min_new_tokens=5, do_sample=False)
    assert out.shape[1] == 305 and cache.get_seq_length() == 304
    assert cache.layers[3].keys.shape[-2] <= model.config.kv_budget


def test_short_prompts_are_not_compressed_so_outputs_match(pair):
    _, model = pair
    ids = torch.randint(0, 300, (1, 40))                      # under the budget
    logits = [model.prefill(ids, model.new_cache("compressed" if c else "full"), chunk=16) for c in (True, False)]
    assert torch.allclose(*logits, atol=1e-5)


def test_save_and_load_round_trip_through_the_auto_classes(pair, tmp_path):
    _, model = pair
    model.set_routing("adaptive", moe_top_p=0.7)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert AutoConfig.from_pretrained(tmp_path).model_type == "r1mm"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, R1ForCausalLM) and loaded.config.moe_top_p == 0.7
    ids = torch.randint(0, 300, (1, 20))
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-6)


def test_config_rejects_experts_that_do_not_divide_the_ffn():
    with pytest.raises(ValueError, match="split evenly"):
        R1Config(**TINY, moe_shared_size=30, moe_num_experts=8)
    with pytest.raises(ValueError, match="moe_routing"):
        R1Config(**TINY, **R1_FIELDS, moe_routing="random")


def test_compression_keeps_a_salient_token_with_its_neighbours_and_pools_the_rest():
    layer = CompressedLayer(budget=64, recent=8, sinks=2, pool=4)
    keys = torch.arange(400, dtype=torch.float32).view(1, 1, 400, 1).expand(1, 1, 400, 4).contiguous()
    layer.reading = True
    layer.update(keys, keys.clone())
    scores = torch.zeros(400)
    scores[200] = 1.0                       # what the question attended to
    layer.observe(scores)
    layer.finish_reading()
    kept = set(layer.keys[0, 0, :, 0].tolist())
    assert layer.keys.shape[-2] <= 64
    assert {float(p) for p in range(192, 209)} <= kept         # the token and 8 either side, exactly
    assert {0.0, 1.0} <= kept and {float(p) for p in range(392, 400)} <= kept
    assert layer.tokens_represented() == 400                    # the rest pooled, not dropped


def test_a_budget_that_compression_could_never_meet_is_refused():
    # 276 = 4 sinks + 256 recent + 2 pools of 8, but compression aims at 7/8 of the budget.
    with pytest.raises(ValueError, match="too small"):
        CompressedLayer(budget=276, recent=256, sinks=4, pool=8)
    with pytest.raises(ValueError, match="too small"):
        CompressedLayer(budget=1024, recent=256, sinks=4, pool=8, prefill_budget=276)


def test_a_prompt_routed_at_once_matches_its_tokens_routed_one_by_one(pair):
    """Prefill keeps each token's experts by masking one product over all experts; decoding gathers the
    chosen experts' weights. Both must compute the same FFN."""
    _, model = pair
    moe = model.moe_layers()[1]
    x = torch.randn(7, model.config.hidden_size)
    for mode in ("top_k", "adaptive", "dense"):
        model.set_routing(mode, moe_top_k=3)
        with torch.no_grad():
            together = moe(x)
            alone = torch.cat([moe(x[i:i + 1]) for i in range(len(x))])
        assert torch.allclose(together, alone, atol=1e-5), mode
    model.set_routing("adaptive")


def test_the_screened_head_picks_the_full_heads_token_reading_few_rows_in_fp32():
    from r1mm.decoder.head import ScreenedHead

    g = torch.Generator().manual_seed(3)
    weight = torch.randn(20000, 64, generator=g) * 0.3
    head = ScreenedHead(weight)
    scored = []
    for _ in range(50):
        h = torch.randn(64, generator=g) * 3
        logits = weight @ h
        token, rows = head.argmax(h)
        assert token == int(logits.argmax())
        banned = set(logits.topk(3).indices.tolist())
        token, _ = head.argmax(h, banned)
        assert token == int(logits.topk(4).indices[3])
        scored.append(rows)
    assert max(scored) < 1000  # the int8 screen, not the full head, did the work


def test_rebalancing_a_massive_hidden_dimension_shrinks_the_int8_error():
    from r1mm.decoder.head import ScreenedHead

    g = torch.Generator().manual_seed(4)
    weight = torch.randn(5000, 64, generator=g) * 0.3
    samples = torch.randn(200, 64, generator=g)
    samples[:, 5] *= 40  # one dimension 40 times the others, as in Gemma 3's final hidden states
    h = torch.randn(50, 64, generator=g)
    h[:, 5] *= 40
    exact = h @ weight.t()
    error = {name: float((head.rough_scores(h) - exact).abs().max())
             for name, head in (("plain", ScreenedHead(weight)), ("rebalanced", ScreenedHead(weight, samples)))}
    assert error["rebalanced"] < 0.6 * error["plain"], error
