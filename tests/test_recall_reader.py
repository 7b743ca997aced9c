"""Recall and re-read (r1mm/decoder/recall.py): what a question recalls is read again as a short
prompt. On a tiny random Gemma 3 layout: the spans are the tokens the recalled blocks hold; on the
built decoder: needles in a haystack of held-out prose."""
from __future__ import annotations

import random

import pytest
import torch

from r1mm.config import R1Config
from r1mm.decoder import recall
from r1mm.decoder.memory import BlockMemoryLayer, rotate
from r1mm.decoder.model import R1ForCausalLM
from r1mm.decoder.recall import RecallReader

TINY = dict(vocab_size=300, hidden_size=64, intermediate_size=160, num_hidden_layers=4, num_attention_heads=2,
            num_key_value_heads=1, head_dim=32, sliding_window=16,
            layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
            moe_shared_size=32, moe_num_experts=8, moe_routing="dense",
            kv_memory="blocks", kv_block=8, kv_local=32, kv_sinks=2, kv_recall=4, kv_representatives=4)


class Tokens:
    """Token ids as text: enough of a tokenizer for the reader on a tiny model."""
    bos_token_id = 1

    def __call__(self, text, add_special_tokens=False, return_tensors=None):
        ids = [2 + ord(ch) % 200 for ch in text]
        return type("Encoded", (), {"input_ids": torch.tensor([ids]) if return_tensors == "pt" else ids})

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(map(str, ids))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return R1ForCausalLM(R1Config(**TINY)).eval()


@pytest.fixture
def document():
    return torch.cat([torch.tensor([[1]]), torch.randint(2, 300, (1, 600), generator=torch.Generator().manual_seed(1))], 1)


def _memory_layers(cache) -> list[BlockMemoryLayer]:
    return [layer for layer in cache.layers if isinstance(layer, BlockMemoryLayer)]


def test_flush_moves_every_whole_block_to_the_store_and_leaves_the_read_cache_alone(model, document, monkeypatch):
    monkeypatch.setattr(recall, "WHOLE_BELOW", 0)
    cache = model.new_cache("blocks")
    model.prefill(document, cache, chunk=64)
    before = [layer.blocks for layer in _memory_layers(cache)]
    reader = RecallReader(model, Tokens()).read(document, cache)
    assert [layer.blocks for layer in _memory_layers(cache)] == before   # the reader flushed a copy
    for layer in _memory_layers(reader.cache):
        assert layer.blocks == (601 - 2) // 8 and layer.keys.shape[-2] == (601 - 2) % 8
        assert layer.local == 32                                         # the window size is back


def test_each_recalled_block_is_re_read_as_the_tokens_whose_keys_it_holds(model, document, monkeypatch):
    monkeypatch.setattr(recall, "WHOLE_BELOW", 0)
    reader = RecallReader(model, Tokens(), blocks=2).read(document)
    layer = _memory_layers(reader.cache)[0]
    favourite = {"block": 40}

    def scores(self, q):  # every layer ranks one block first, another second
        ranking = torch.zeros(self.blocks)
        ranking[favourite["block"]], ranking[7] = 2.0, 1.0
        return ranking

    monkeypatch.setattr(BlockMemoryLayer, "_block_scores", scores)
    spans = reader.spans("which block?")
    tail = 2 + layer.blocks * 8
    assert spans == [(0, 2), (2 + 7 * 8, 2 + 9 * 8), (2 + 40 * 8, 2 + 42 * 8), (tail, 601)]
    # The keys stored for block 40 are those of exactly these tokens in a full cache.
    full = model.new_cache("full")
    model.prefill(document, full, chunk=64)
    index = [k for k, kind in enumerate(model.config.layer_types) if kind == "full_attention"][0]
    positions = torch.arange(2 + 40 * 8, 2 + 41 * 8)
    expected = rotate(full.layers[index].keys[0, :, positions].float(), -positions, layer.inv_freq)
    stored, _ = layer.store.read([layer.block_ids[40]])
    assert torch.allclose(stored.float(), expected, atol=2e-3)
    # The last block wins when it is the favourite: it comes without a successor past the end.
    favourite["block"] = layer.blocks - 1
    assert reader.spans("and now?")[-2:] == [(2 + 7 * 8, 2 + 9 * 8), (2 + (layer.blocks - 1) * 8, 601)]


def test_the_prompt_holds_the_spans_the_question_and_nothing_else(model, document, monkeypatch):
    monkeypatch.setattr(recall, "WHOLE_BELOW", 0)
    reader = RecallReader(model, Tokens(), blocks=3).read(document)
    tokens = Tokens()
    seen = {}
    # the "model" answers with the first token it re-read: a number the passages hold
    monkeypatch.setattr(recall, "greedy", lambda m, ids, cache, n: [seen.setdefault("prompt", ids[0].tolist())[0]] * n)
    answer = reader.ask("Q?", tokens=4)
    expected = []
    for start, end in answer.spans:
        expected += document[0, start:end].tolist() + tokens("\n\n").input_ids
    expected += tokens("Q?").input_ids
    assert seen["prompt"] == expected and answer.prompt_tokens == len(expected)
    assert answer.answer == answer.draft == " ".join([str(expected[0])] * 4) and not answer.unsupported
    assert len(expected) < 601 and len(answer.spans) >= 3


def test_a_recalled_answer_stating_a_number_the_passages_lack_is_not_given(model, document, monkeypatch):
    reader = RecallReader(model, Tokens(), blocks=3).read(document)
    monkeypatch.setattr(recall, "greedy", lambda m, ids, cache, n: [999] * n)  # no token id of the document
    answer = reader.ask("Q?", tokens=2)
    assert answer.answer == "" and answer.draft == "999 999" and answer.unsupported == ["999"]


def test_a_short_document_is_re_read_whole(model):
    short = torch.randint(2, 300, (1, 50), generator=torch.Generator().manual_seed(2))
    reader = RecallReader(model, Tokens()).read(short)
    assert reader.spans("anything?") == [(0, 50)]


@pytest.mark.slow
def test_the_built_decoder_finds_needles_by_re_reading_what_the_question_recalls():
    from r1mm import R1Model
    from r1mm.bench.decoder import haystack

    model = R1Model.from_pretrained()
    ids, needles = haystack(model.tokenizer, 8192, random.Random(11))
    document = model.read(model.tokenizer.decode(ids[0], skip_special_tokens=True))   # as a user hands it text
    assert _memory_layers(document.cache)[0].blocks > 100
    found = 0
    for question, code, _ in needles:
        recalled = document.ask(question, tokens=6)
        assert recalled.prompt_tokens <= 4 + 2 * 8 * 64 + 64 + 2 * len(recalled.spans) + 40
        found += code in recalled.answer.replace(" ", "") and code in "".join(recalled.passages).replace(" ", "")
    assert found >= 9, found
