"""Block memory (r1mm/decoder/memory.py) on a tiny random Gemma 3 layout: exactness when
everything is recalled, bounded RAM while reading, recall by the question, positions."""
from __future__ import annotations

import copy

import pytest
import torch
from transformers.models.gemma3.modeling_gemma3 import apply_rotary_pos_emb

from r1mm.config import R1Config
from r1mm.decoder.memory import BlockMemoryLayer, memory_bytes, rotate, transformers_cache_bytes
from r1mm.decoder.model import R1ForCausalLM

TINY = dict(vocab_size=300, hidden_size=64, intermediate_size=160, num_hidden_layers=4, num_attention_heads=2,
            num_key_value_heads=1, head_dim=32, sliding_window=16,
            layer_types=["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
            moe_shared_size=32, moe_num_experts=8, moe_routing="dense",
            kv_memory="blocks", kv_block=8, kv_local=32, kv_sinks=2, kv_recall=4, kv_representatives=4)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return R1ForCausalLM(R1Config(**TINY)).eval()


def _full_layer(cache) -> BlockMemoryLayer:
    return next(layer for layer in cache.layers if isinstance(layer, BlockMemoryLayer))


def test_rotation_matches_transformers_and_undoes_itself(model):
    rotary = model.model.rotary_emb
    x = torch.randn(1, 1, 4, 32)
    positions = torch.tensor([[0, 5, 999, 20_000]])
    cos, sin = rotary(x, positions, layer_type="full_attention")
    expected, _ = apply_rotary_pos_emb(x, x, cos, sin)
    ours = rotate(x[0], positions[0], rotary.full_attention_inv_freq)
    assert torch.allclose(ours, expected[0], atol=1e-2)   # transformers' angles are float32: 2e-3 rad at 20K
    far = torch.tensor([131_000, 7, 64_000, 1])
    assert torch.allclose(rotate(rotate(x[0], far, rotary.full_attention_inv_freq), -far,
                                 rotary.full_attention_inv_freq), x[0], atol=1e-4)


def test_short_prompts_stay_whole_and_match_the_full_cache(model):
    ids = torch.randint(0, 300, (1, 30))                   # under the local window
    blocks, full = model.new_cache("blocks"), model.new_cache("full")
    assert torch.allclose(model.prefill(ids, blocks, chunk=8), model.prefill(ids, full, chunk=8), atol=1e-5)
    assert _full_layer(blocks).blocks == 0


def test_recalling_every_block_gives_the_full_caches_answer(model):
    # Blocks go to disk in fp16 and come back at their own positions (nothing is left out when
    # `recall` covers them all), so the logits equal full attention's up to fp16 rounding.
    ids = torch.randint(0, 300, (1, 200))
    blocks = model.new_cache("blocks")
    layer = _full_layer(blocks)
    layer.recall = layer.question_recall = 1000
    logits = model.prefill(ids, blocks, chunk=16)
    reference = model.prefill(ids, model.new_cache("full"), chunk=16)
    assert layer.blocks >= 15 and blocks.get_seq_length() == 200
    assert torch.allclose(logits, reference, atol=2e-3)
    # With only a few blocks recalled the answer differs: the memory really is partial.
    few = model.prefill(ids, model.new_cache("blocks"), chunk=16)
    assert not torch.allclose(few, reference, atol=2e-3)


def test_ram_stays_bounded_while_reading_and_the_rest_goes_to_disk(model):
    c = model.config
    cache = model.new_cache("blocks")
    held = []
    for start in range(0, 1200, 40):
        model.prefill(torch.randint(0, 300, (1, 40)), cache, chunk=40)
        held.append(_full_layer(cache).held_bytes() - _full_layer(cache)._rep_bytes())
    layer = _full_layer(cache)
    entry = 2 * c.num_key_value_heads * c.head_dim * 4
    # Local window (plus at most one block and the chunk being read) and sinks, whatever the length.
    assert max(held) <= (c.kv_local + c.kv_block + 40 + c.kv_sinks) * entry
    assert layer.blocks == (1200 - c.kv_sinks - layer.keys.shape[-2]) // c.kv_block
    used = memory_bytes(cache)
    assert used["disk"] == layer.blocks * c.kv_block * entry // 2             # fp16 on disk
    assert used["peak_ram"] < transformers_cache_bytes(c, 1200) / 2
    # Generation continues at the right position, and a copy of the cache answers on its own.
    fork = copy.deepcopy(cache)
    out = model.generate(input_ids=torch.randint(0, 300, (1, 1201)), attention_mask=torch.ones(1, 1201, dtype=torch.long),
                         cache=fork, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape[1] == 1205 and fork.get_seq_length() == 1204 and cache.get_seq_length() == 1200


def test_the_question_recalls_the_block_that_holds_its_key():
    torch.manual_seed(3)
    dim, inv_freq = 32, 1.0 / (10_000 ** (torch.arange(0, 32, 2).float() / 32))
    layer = BlockMemoryLayer(inv_freq, block=8, sinks=2, local=16, recall=2, representatives=2)
    planted = torch.randn(dim) * 3
    length = 400
    keys = torch.randn(length, dim)
    keys[123] = planted                                      # token 123 lies in block (123 - 2) // 8 = 15
    positions = torch.arange(length)
    rotated = rotate(keys[None], positions, inv_freq)[None]  # [1, 1, tokens, dim] as transformers stores them
    for start in range(0, length, 16):
        chunk = rotated[..., start:start + 16, :]
        layer.update(chunk, torch.randn_like(chunk))
        query = torch.randn(1, 1, chunk.shape[-2], dim)
        layer.observe(query, layer.keys, dim ** -0.5)
    assert layer.blocks > 40
    question = rotate(planted[None, None], torch.tensor([length]), inv_freq)[None]   # asks at the next position
    layer.update(torch.randn(1, 1, 1, dim), torch.randn(1, 1, 1, dim))
    chosen = layer._choose(layer._unrotated_queries(question))
    assert chosen[:2] == [15, 16]          # the block, then the one after it (an answer may run on)
    assert len(chosen) == len(set(chosen)) == layer.question_recall


def test_a_block_cannot_have_more_representatives_than_tokens():
    with pytest.raises(ValueError, match="representatives"):
        BlockMemoryLayer(torch.ones(4), block=4, representatives=5)
    with pytest.raises(ValueError, match="kv_memory"):
        R1Config(**{**TINY, "kv_memory": "paged"})
