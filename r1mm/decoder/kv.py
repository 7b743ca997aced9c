"""Compressed KV memory for long contexts.

Gemma 3's sliding-window layers already keep only the last 512 positions; its few
full-attention layers keep everything, which is what grows with the context. Here each
full-attention layer keeps, within a fixed budget of entries:

- the first ``kv_sinks`` tokens (attention sinks) and the last ``kv_recent`` tokens, as they are;
- the most salient older tokens, as they are: salience is the most attention a token received
  from the latest queries (the observation window of SnapKV, accumulated as in H2O);
- everything else merged into pooled summaries of ``kv_pool`` consecutive entries (their mean
  key and value), and those summaries merged again when memory runs short, so older context
  ends up at coarser resolution instead of being dropped.

While a prompt is being read (``R1ForCausalLM.prefill``), compression waits until the end, as
in SnapKV: the last block holds the question, so its queries decide which context tokens stay
at full resolution. ``kv_prefill_budget`` bounds the memory while reading too, at the cost of
choosing without the question. While decoding, the budget holds after every step.

Queries are seen through an attention function registered with transformers
(``ATTENTION_NAME``); the model sets ``observing`` to the cache for the duration of a forward.
"""
from __future__ import annotations

import contextvars

import torch
from transformers import AttentionInterface
from transformers.cache_utils import Cache, DynamicSlidingWindowLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from r1mm.decoder.memory import BlockMemoryLayer, PartialLayer

ATTENTION_NAME = "r1_observed_sdpa"
OBSERVATION_WINDOW = 32
SALIENT_SPREAD = 8  # tokens either side of a salient token kept with it
observing: contextvars.ContextVar[Cache | None] = contextvars.ContextVar("r1_observing", default=None)


class CompressedLayer(PartialLayer):
    """A full-attention cache layer that never holds more than ``budget`` entries after a forward."""

    def __init__(self, budget: int, recent: int, sinks: int, pool: int, prefill_budget: int | None = None,
                 **kwargs):
        super().__init__()
        # Compression aims below the limit (see _compress); that target must still hold the sinks,
        # the recent tokens and some pooled entries, or pooling could never fit.
        for limit in filter(None, (budget, prefill_budget)):
            if _target(limit) < sinks + recent + 2 * pool:
                raise ValueError(f"kv budget {limit} is too small for {sinks} sinks + {recent} recent tokens")
        if pool < 2:
            raise ValueError("kv_pool must merge at least 2 entries")
        self.budget, self.recent, self.sinks, self.pool = budget, recent, sinks, pool
        self.prefill_budget = prefill_budget
        self.reading = False                 # set by prefill: compress at the end, with the question
        self.cumulative_length = 0
        self.scores = torch.zeros(0)        # salience per stored entry
        self.span = torch.zeros(0)          # tokens each stored entry stands for

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        new = key_states.shape[-2]
        self.cumulative_length += new
        self.keys = torch.cat([self.keys, key_states], dim=-2)
        self.values = torch.cat([self.values, value_states], dim=-2)
        self.scores = torch.cat([self.scores, torch.zeros(new)])
        self.span = torch.cat([self.span, torch.ones(new)])
        self.peak_held = max(self.peak_held, self.held_bytes())
        return self.keys, self.values

    def observe(self, attention: torch.Tensor) -> None:
        """Record salience ([entries] attention mass from the latest queries), then compress."""
        self.scores = torch.maximum(self.scores, attention.to(self.scores.dtype))
        limit = self.budget if not self.reading else self.prefill_budget
        if limit is not None and self.keys.shape[-2] > limit:
            self._compress(limit)

    def finish_reading(self) -> None:
        """End of the prompt: compress to the budget, salience coming from the prompt's last block."""
        self.reading = False
        if self.is_initialized and self.keys.shape[-2] > self.budget:
            self._compress(self.budget)

    def _compress(self, limit: int) -> None:
        target = _target(limit)
        n = self.keys.shape[-2]
        middle = torch.arange(self.sinks, n - self.recent)
        room = target - self.sinks - self.recent
        heavy_count = room // 2
        # As in SnapKV, a salient token keeps its neighbours: an answer often sits just after the
        # words the question attends to ("... the code is 4817").
        spread = torch.nn.functional.max_pool1d(self.scores[None, None], 2 * SALIENT_SPREAD + 1, stride=1,
                                                padding=SALIENT_SPREAD)[0, 0]
        order = spread[middle].argsort(descending=True)
        heavy = middle[order[:heavy_count]].sort().values
        rest = middle[order[heavy_count:]].sort().values
        pooled_room = room - heavy.numel()
        keys, values, scores, span = self.keys, self.values, self.scores, self.span
        # Pool the rest in runs of `pool` consecutive entries until they fit (coarser each round).
        pk, pv = keys[:, :, rest], values[:, :, rest]
        ps, pw = scores[rest], span[rest]
        while pk.shape[-2] > pooled_room:
            pk, pv, ps, pw = _pool(pk, pv, ps, pw, self.pool)
        keep_front = torch.arange(self.sinks)
        keep_back = torch.arange(n - self.recent, n)
        # Heavy tokens and pooled summaries are placed in one block; attention is order-free
        # except for the causal mask, and every stored entry precedes every future query.
        self.keys = torch.cat([keys[:, :, keep_front], pk, keys[:, :, heavy], keys[:, :, keep_back]], dim=-2)
        self.values = torch.cat([values[:, :, keep_front], pv, values[:, :, heavy], values[:, :, keep_back]],
                                dim=-2)
        self.scores = torch.cat([scores[keep_front], ps, scores[heavy], scores[keep_back]])
        self.span = torch.cat([span[keep_front], pw, span[heavy], span[keep_back]])

    def tokens_represented(self) -> int:
        return int(self.span.sum().item())


def _target(limit: int) -> int:
    """Entries kept after compressing past ``limit``: below it, so decoding does not compress every token."""
    return limit - max(1, limit // 8)


def _pool(k, v, scores, span, size):
    """Merge runs of ``size`` consecutive entries into span-weighted means."""
    n = k.shape[-2]
    groups = torch.arange(n) // size
    count = int(groups[-1].item()) + 1 if n else 0
    weight = span / torch.zeros(count).index_add_(0, groups, span)[groups]
    w = weight.to(k.dtype)[None, None, :, None]
    shape = (*k.shape[:2], count, k.shape[-1])
    pk = torch.zeros(shape, dtype=k.dtype).index_add_(2, groups, k * w)
    pv = torch.zeros(shape, dtype=v.dtype).index_add_(2, groups, v * w)
    ps = torch.full((count,), float("-inf")).scatter_reduce(0, groups, scores, "amax")
    pw = torch.zeros(count).index_add_(0, groups, span)
    return pk, pv, ps, pw


def compressed_cache(config) -> Cache:
    """One cache layer per decoder layer: sliding layers as transformers keeps them, full ones compressed."""
    layers = []
    for kind in config.layer_types:
        if kind == "sliding_attention":
            layers.append(DynamicSlidingWindowLayer(sliding_window=config.sliding_window))
        else:
            layers.append(CompressedLayer(config.kv_budget, config.kv_recent, config.kv_sinks, config.kv_pool,
                                          config.kv_prefill_budget))
    return Cache(layers=layers)


def full_attention_kv_bytes(config, tokens: int, bytes_per_value: int = 4) -> int:
    """What every layer attending to every token would hold, for comparison."""
    per_token = 2 * config.num_key_value_heads * config.head_dim * bytes_per_value
    return config.num_hidden_layers * tokens * per_token


def observed_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None,
                       **kwargs):
    """SDPA, plus salience for compressed layers from the last queries of this block; a block-memory
    layer adds the blocks these queries recall (see memory.py)."""
    cache = observing.get()
    layer = None if cache is None or getattr(module, "is_sliding", False) else cache.layers[module.layer_idx]
    if isinstance(layer, BlockMemoryLayer):
        local_keys = key
        key, value, attention_mask = layer.with_memory(query, key, value, attention_mask)
        out = sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                     is_causal=is_causal, **kwargs)
        with torch.no_grad():
            layer.observe(query, local_keys, scaling or query.shape[-1] ** -0.5)
        return out
    out = sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                 is_causal=is_causal, **kwargs)
    if not isinstance(layer, CompressedLayer):
        return out
    with torch.no_grad():
        q_len, k_len = query.shape[-2], key.shape[-2]
        window = min(OBSERVATION_WINDOW, q_len)
        groups = query.shape[1] // key.shape[1]
        k = key.repeat_interleave(groups, dim=1)
        logits = query[:, :, -window:] @ k.transpose(-1, -2) * (scaling or query.shape[-1] ** -0.5)
        # Causal within the block: query i (of the last `window`) sees keys up to its own position.
        positions = torch.arange(k_len)
        last = k_len - window + torch.arange(window)
        logits = logits.masked_fill(positions[None, :] > last[:, None], float("-inf"))
        attention = logits.softmax(-1).amax(dim=(0, 1, 2))
        layer.observe(attention.float())
    return out


AttentionInterface.register(ATTENTION_NAME, observed_attention)
