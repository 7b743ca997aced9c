"""The int8 decoding layers (r1mm/decoder/step.py) on a tiny random R1 decoder: against the fp32
layers holding the same int8-rounded weights, every cache kind and routing mode, prompts longer than
the sliding window and the block memory's local window."""
from __future__ import annotations

import copy

import pytest
import torch

from r1mm.config import R1Config
from r1mm.decoder.grounded import GroundedDecoder
from r1mm.decoder.memory import memory_bytes
from r1mm.decoder.model import R1ForCausalLM
from r1mm.decoder.step import Int8Layers, Int8Rows, RingWindowLayer, ring_windows

TINY = dict(vocab_size=300, hidden_size=64, intermediate_size=160, num_hidden_layers=4, num_attention_heads=2,
            num_key_value_heads=1, head_dim=32, sliding_window=16,
            layer_types=["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
            moe_shared_size=32, moe_num_experts=8, moe_routing="dense",
            kv_memory="blocks", kv_block=8, kv_local=32, kv_sinks=2, kv_recall=4, kv_representatives=4,
            kv_budget=48, kv_recent=8, kv_pool=4)


def _rounded(weight: torch.Tensor) -> torch.Tensor:
    rows = Int8Rows.of(weight)
    return rows.values.float() * rows.scales.float()[:, None]


@pytest.fixture(scope="module")
def model():
    """Random weights large enough that every layer changes the hidden state."""
    torch.manual_seed(0)
    model = R1ForCausalLM(R1Config(**TINY)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.15)
    return model


@pytest.fixture(scope="module")
def rounded(model):
    """The model with each layer weight rounded to its int8 rows (as Int8Layers fuses them), in fp32."""
    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for layer in rounded.model.layers:
            a, moe = layer.self_attn, layer.mlp
            qkv = _rounded(torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]))
            q, k, v = qkv.split([a.q_proj.weight.shape[0], a.k_proj.weight.shape[0], a.v_proj.weight.shape[0]])
            for proj, w in ((a.q_proj, q), (a.k_proj, k), (a.v_proj, v)):
                proj.weight.copy_(w)
            a.o_proj.weight.copy_(_rounded(a.o_proj.weight))
            shared, experts = moe.shared_gate.shape[0], moe.expert_gate.shape
            gate_up = _rounded(torch.cat([moe.shared_gate, moe.expert_gate.flatten(0, 1),
                                          moe.shared_up, moe.expert_up.flatten(0, 1)]))
            gate, up = gate_up.chunk(2)
            down = _rounded(torch.cat([moe.shared_down, moe.expert_down.flatten(0, 1).t()], dim=1))
            moe.shared_gate.copy_(gate[:shared])
            moe.expert_gate.copy_(gate[shared:].view(experts))
            moe.shared_up.copy_(up[:shared])
            moe.expert_up.copy_(up[shared:].view(experts))
            moe.shared_down.copy_(down[:, :shared])
            moe.expert_down.copy_(down[:, shared:].t().reshape(experts))
    return rounded


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_int8_rows_round_to_half_a_step_and_multiply_like_the_weight():
    torch.manual_seed(1)
    w = torch.randn(48, 64) * torch.linspace(0.1, 3, 48)[:, None]
    rows = Int8Rows.of(w)
    assert rows.values.dtype == torch.int8 and rows.values.abs().max() == 127
    step = rows.scales.float()[:, None]  # the bf16 scale the kernel multiplies by
    assert ((rows.values.float() * step - w).abs() <= step * 0.5 * (1 + 1e-5)).all()
    x = torch.randn(3, 64)
    assert _relative(rows(x), x @ w.t()) < 0.02
    with pytest.raises(ValueError, match="multiple of 16"):
        Int8Rows.of(torch.randn(8, 24))


@pytest.mark.parametrize("memory", ["blocks", "compressed", "full"])
@pytest.mark.parametrize("routing", ["dense", "top_k", "adaptive"])
def test_a_decoding_step_matches_the_fp32_layers_on_the_same_weights(model, rounded, memory, routing):
    """60 prompt tokens: past the sliding window (16) and the block memory's local window (32), so
    evicted, recalled and compressed entries are all in play; then ten decoding steps each way."""
    knobs = {"moe_top_k": 3} if routing == "top_k" else {"moe_top_p": 0.6} if routing == "adaptive" else {}
    rounded.set_routing(routing, **knobs)
    layers = Int8Layers(rounded)
    prompt = torch.randint(0, 300, (1, 60), generator=torch.Generator().manual_seed(2))
    ours, theirs = rounded.new_cache(memory), rounded.new_cache(memory)
    rounded.prefill(prompt, ours, chunk=16)
    rounded.prefill(prompt, theirs, chunk=16)
    rounded.record_routing(True)
    flipped = 0
    try:
        for token in torch.randint(0, 300, (10,), generator=torch.Generator().manual_seed(3)).tolist():
            step = torch.tensor([[token]])
            expected = rounded.hidden_step(step, theirs)
            expected_routing = [r.chosen.clone() for r in rounded.routing_trace()]
            got = layers.hidden_step(step, ours)
            routing_now = [r.chosen for r in rounded.routing_trace()]
            if routing == "top_k":
                assert all(int(r.sum()) == 3 for r in routing_now)
            if all(bool((a == b).all()) for a, b in zip(routing_now, expected_routing)):
                assert _relative(got, expected) < 0.03, (memory, routing)
            else:  # bf16 activations tipped a near-tied router choice: another expert, another output
                flipped += 1
    finally:
        rounded.record_routing(False)
        rounded.set_routing("dense")
    assert flipped <= 1, f"{flipped} of 10 steps routed differently"
    assert ours.get_seq_length() == theirs.get_seq_length() == 70


@pytest.mark.parametrize("memory", ["blocks", "full"])
@pytest.mark.parametrize("prompt_tokens", [30, 5])
def test_ring_windows_decode_as_transformers_sliding_layers_do(model, memory, prompt_tokens):
    """After a prompt past the 16-token window, or shorter than it (the window fills in place first),
    25 steps with ring windows (wrapping) give the hidden states of transformers' own layers, with the
    fp32 and the int8 layers; a multi-token forward afterwards finds the window back in order."""
    layers = Int8Layers(model)
    prompt = torch.randint(0, 300, (1, prompt_tokens), generator=torch.Generator().manual_seed(7))
    steps = torch.randint(0, 300, (25,), generator=torch.Generator().manual_seed(8)).tolist()
    # fp32: the same sums in another order; int8 layers: their bf16 activations may round either way
    for step_layers, tolerance in ((model, 1e-5), (layers, 1e-2)):
        ring, plain = model.new_cache(memory), model.new_cache(memory)
        model.prefill(prompt, ring, chunk=16)
        model.prefill(prompt, plain, chunk=16)
        ring_windows(ring)
        assert sum(isinstance(layer, RingWindowLayer) for layer in ring.layers) == 3
        for token in steps:
            step = torch.tensor([[token]])
            assert _relative(step_layers.hidden_step(step, ring), step_layers.hidden_step(step, plain)) < tolerance
        assert ring.get_seq_length() == plain.get_seq_length() == prompt_tokens + 25
        assert all(layer.oldest for layer in ring.layers if isinstance(layer, RingWindowLayer))
        # the ring's room for the whole window is counted as held (transformers' layer: window - 1)
        assert memory_bytes(ring)["ram"] > memory_bytes(plain)["ram"]
        more = torch.randint(0, 300, (1, 5), generator=torch.Generator().manual_seed(9))
        with torch.no_grad():
            got = model.prefill(more, ring, chunk=16)
            expected = model.prefill(more, plain, chunk=16)
        assert _relative(got, expected) < tolerance
        for a, b in zip(ring.layers, plain.layers):
            if isinstance(a, RingWindowLayer):
                assert a.buffer is None and _relative(a.keys, b.keys) < tolerance


def test_a_whole_sequence_matches_the_fp32_model_with_its_sliding_window(model, rounded):
    ids = torch.randint(0, 300, (1, 40), generator=torch.Generator().manual_seed(4))
    layers = Int8Layers(rounded)
    with torch.no_grad():
        expected = rounded.model(input_ids=ids, use_cache=False).last_hidden_state
    got = layers.hidden_states(ids)
    assert _relative(got, expected) < 0.03
    # and the int8 layers of the unrounded model stay close to its fp32 layers
    with torch.no_grad():
        fp32 = model.model(input_ids=ids, use_cache=False).last_hidden_state
    assert _relative(Int8Layers(model).hidden_states(ids), fp32) < 0.1


def test_the_grounded_decoder_rebuilds_its_int8_layers_when_the_weights_change(model, tiny_decoder):
    decoder = GroundedDecoder(copy.deepcopy(model), tiny_decoder.tokenizer, "tiny")
    first = decoder._step_layers()
    assert first is not None and decoder._step_layers() is first and not first.stale()
    with torch.no_grad():
        decoder.model.model.layers[0].self_attn.o_proj.weight.mul_(1.01)   # what fine-tuning does in place
    assert first.stale()
    second = decoder._step_layers()
    assert second is not first and not second.stale()
    decoder.int8_layers = False
    assert decoder._step_layers() is None
    assert not Int8Layers.fit(R1Config(**{**TINY, "hidden_size": 72}))


def test_fine_tuned_lora_adapters_are_part_of_the_int8_weights(model):
    """Fine-tuning adds LoRA adapters to q_proj and v_proj; answers decoded in int8 must include them."""
    from peft import LoraConfig, get_peft_model

    from r1mm.decoder.step import _weight
    from r1mm.sdk import LORA_TARGETS

    tuned = copy.deepcopy(model)
    get_peft_model(tuned, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=LORA_TARGETS))
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3)
    q_proj = tuned.model.layers[0].self_attn.q_proj
    x = torch.randn(5, 64)
    with torch.no_grad():
        assert torch.allclose(x @ _weight(q_proj).t(), q_proj(x), atol=1e-4)
    ids = torch.randint(0, 300, (1, 30), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = tuned.model(input_ids=ids, use_cache=False).last_hidden_state
    with_adapters = _relative(Int8Layers(tuned).hidden_states(ids), expected)
    without = _relative(Int8Layers(model).hidden_states(ids), expected)
    assert with_adapters < 0.1 < without


def test_bench_decoder_reports_the_int8_layers_perplexity_and_answers(tiny_decoder):
    from r1mm.bench.decoder import int8_layers, qa_cases

    model, tokenizer = tiny_decoder.model, tiny_decoder.tokenizer
    batches = [torch.randint(0, tokenizer.vocab_size, (1, 48), generator=torch.Generator().manual_seed(6))]
    result = int8_layers(model, tokenizer, batches, qa_cases(2))
    # an untrained model over a 30K vocabulary: perplexity near the vocabulary size, no answer right
    assert 1_000 < result["perplexity"] < 100_000
    assert result["qa_accuracy_int8_layers"] == result["qa_accuracy_fp32_layers"] == 0.0
    assert 0 < result["weights_mib"] < 1
