"""Long documents: read once into block memory, answer each question by re-reading what it recalls.

Block memory (memory.py) reads 128K tokens in bounded memory, and a question asked from it attends
to the 64 blocks it recalls and the local window. Among those few thousand tokens the 270M model
still falls back on its priors now and then ('12345' for a password it was told). Here the
question's recall serves as a retriever instead: the full-attention layers each rank every stored
block for the question (memory.py's ``question_scores``), the ranks are fused over the layers
(reciprocal rank), and the best ``blocks`` blocks, each with the block after it, are read again
in document order as a short prompt (about 1,100 tokens) followed by the question. The answer comes
from that prompt, and its evidence is those spans of the document.

Reading keeps block memory's bound (a local window, sinks, representatives in RAM; blocks on
disk); answering adds a transformers cache for the short prompt only. The document's token ids
are kept (4 bytes a token) so that recalled blocks can be read again.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from r1mm.decoder.grounded import unsupported_numbers
from r1mm.decoder.memory import BlockMemoryLayer

BLOCKS = 8  # re-read per question, each with its successor (up to 16 × 64 tokens); 4 found as many
            # needles on three haystacks, 8 recalled one more of the reworded questions
WHOLE_BELOW = 2048  # a document this short is re-read whole


@dataclass
class Recalled:
    """An answer and its evidence: the document's token spans [start, end) that were re-read, and
    their text. ``answer`` is the model's continuation when every number it states stands in those
    passages; otherwise it is empty, and ``draft`` and ``unsupported`` say what was written and which
    numbers the passages do not hold."""
    answer: str
    spans: list[tuple[int, int]]
    passages: list[str]
    prompt_tokens: int
    draft: str = ""
    unsupported: list[str] = field(default_factory=list)


@torch.no_grad()
def greedy(model, ids: torch.Tensor, cache, tokens: int) -> list[int]:
    """``tokens`` greedy tokens after ``ids`` [1, n], read into ``cache`` (which is changed)."""
    generated = [int(model.prefill(ids, cache).argmax())]
    for _ in range(tokens - 1):
        generated.append(int(model.lm_head(model.hidden_step(torch.tensor([[generated[-1]]]), cache)).argmax()))
    return generated


class RecallReader:
    """``read`` a long document once; ``ask`` questions about it, each from the blocks it recalls."""

    def __init__(self, model, tokenizer, blocks: int = BLOCKS):
        self.model, self.tokenizer, self.blocks = model, tokenizer, blocks
        self.ids: list[int] = []
        self.cache = None
        self._separator = tokenizer("\n\n", add_special_tokens=False).input_ids

    @torch.no_grad()
    def read(self, ids: torch.Tensor, cache=None) -> RecallReader:
        """Read ``ids`` [1, n] (starting with BOS) into block memory; ``cache``: a block-memory cache
        that has already read them (a copy is taken, the cache stays as it was)."""
        if cache is None:
            cache = self.model.new_cache("blocks")
            self.model.prefill(ids, cache)
        else:
            cache = copy.deepcopy(cache)
        for layer in self._memory_layers(cache):
            layer.flush()  # the document's end becomes blocks too: only blocks are re-read
        self.ids, self.cache = ids[0].tolist(), cache
        return self

    @staticmethod
    def _memory_layers(cache) -> list[BlockMemoryLayer]:
        return [layer for layer in getattr(cache, "layers", []) if isinstance(layer, BlockMemoryLayer)]

    @torch.no_grad()
    def spans(self, question: str) -> list[tuple[int, int]]:
        """The document's token spans to re-read for ``question``, in document order."""
        layers = self._memory_layers(self.cache)
        if len(self.ids) <= WHOLE_BELOW or not layers or not layers[0].blocks:
            return [(0, len(self.ids))]
        probe = copy.deepcopy(self.cache)  # the question must not stay in the document's cache
        question_ids = self.tokenizer(f"\n\n{question}", add_special_tokens=False, return_tensors="pt").input_ids
        self.model.prefill(question_ids, probe)
        stored = layers[0].blocks
        fused = torch.zeros(stored)
        for layer in self._memory_layers(probe):
            order = layer.question_scores[:stored].argsort(descending=True)
            fused[order] += 1.0 / torch.arange(1, stored + 1)
        best = fused.topk(min(self.blocks, stored)).indices.tolist()
        chosen = sorted({b for first in best for b in (first, first + 1) if b < stored})
        first, size = layers[0].sinks, layers[0].block  # block b holds tokens first + b·size onwards
        pieces = [(0, first)]  # the sinks: BOS and the document's first words
        pieces += [(first + b * size, first + (b + 1) * size) for b in chosen]
        pieces.append((first + stored * size, len(self.ids)))  # what flush left: under one block
        spans: list[tuple[int, int]] = []
        for start, end in pieces:
            if spans and spans[-1][1] == start:
                spans[-1] = (spans[-1][0], end)
            elif end > start:
                spans.append((start, end))
        return spans

    @torch.no_grad()
    def ask(self, question: str, tokens: int = 8) -> Recalled:
        """Continue ``question`` greedily (``tokens`` tokens) after the spans it recalls."""
        spans = self.spans(question)
        prompt: list[int] = []
        for start, end in spans:
            prompt += self.ids[start:end] + self._separator
        prompt += self.tokenizer(question, add_special_tokens=False).input_ids
        generated = greedy(self.model, torch.tensor([prompt]), self.model.new_cache("full"), tokens)
        passages = [self.tokenizer.decode(self.ids[start:end], skip_special_tokens=True) for start, end in spans]
        draft = self.tokenizer.decode(generated, skip_special_tokens=True)
        unsupported = unsupported_numbers(draft, question, passages)  # checked as every shown answer is
        return Recalled("" if unsupported else draft, spans, passages, len(prompt), draft, unsupported)
