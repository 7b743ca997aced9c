"""The R1 decoder's layers with int8 weights, for decoding one token at a time.

Decoding a token reads every layer weight once (400 MB in fp32 for the 270M model: 20 ms of a
45 ms step on 2 cores), so the step is bound by memory bandwidth. ``Int8Layers`` keeps a copy of
the attention and FFN weights as int8 rows with one scale per row (100 MB) and multiplies with
torch's weight-only int8 kernel (activations in bf16, accumulation in fp32): the same step reads
a quarter of the bytes. The embedding, the norms and the output head stay as they are, and
prompts are still read by the fp32 model: only the answer's tokens come from these weights.

Weight-only rounding keeps the activations' outliers intact (int8 activations, as in fbgemm's
dynamic product, raised held-out perplexity from 42.7 to 63 here; int8 weights alone stay within 1.5%).
``bench decoder`` measures the perplexity, the answers and the time against the fp32 layers.

Routed modes record the same routing for the Model lab and keep each token's chosen experts, but
compute every neuron, as ``MoEFeedForward.forward`` does for prompts: gathering the chosen
experts' int8 rows took longer than reading all of them (3.3 ms a layer against 0.3 ms). The
step uses the model's own cache and attention function, so block memory and the compressed cache
work unchanged.

``ring_windows(cache)``, called once a prompt is read, has each sliding-window layer write answer
tokens in place (over its oldest entry once the window is full) instead of copying everything it
holds to append one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicSlidingWindowLayer
from transformers.models.gemma3.modeling_gemma3 import apply_rotary_pos_emb

from r1mm.decoder import kv

# torch's int8 kernel reads each row in steps of 16 values; other widths give wrong sums.
INNER_MULTIPLE = 16


@dataclass
class Int8Rows:
    """A weight [out, in] as int8 rows and one bf16 scale per row: ``values * scales[:, None] ≈ weight``."""
    values: torch.Tensor  # int8 [out, in]
    scales: torch.Tensor  # bf16 [out]

    @classmethod
    def of(cls, weight: torch.Tensor) -> Int8Rows:
        if weight.shape[1] % INNER_MULTIPLE:
            raise ValueError(f"int8 rows need a width that is a multiple of {INNER_MULTIPLE}, got {weight.shape[1]}")
        w = weight.detach().float()
        # The kernel multiplies by the bf16 scale, so the values are rounded against that scale.
        scales = (w.abs().amax(1) / 127).clamp_min(1e-12).to(torch.bfloat16)
        values = (w / scales.float()[:, None]).round().clamp(-127, 127).to(torch.int8).contiguous()
        return cls(values, scales)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x [tokens, in] (any float dtype) → [tokens, out] fp32."""
        return torch._weight_int8pack_mm(x.to(torch.bfloat16), self.values, self.scales).float()

    def nbytes(self) -> int:
        return self.values.numel() + self.scales.numel() * 2


class Int8FeedForward:
    """One MoEFeedForward as int8 rows: gate and up of the shared and every routed expert in one
    matrix [2 × neurons, hidden] (gate rows, then up rows), down as [hidden, neurons]."""

    def __init__(self, moe):
        self.moe = moe
        gate = torch.cat([moe.shared_gate, moe.expert_gate.flatten(0, 1)])            # [neurons, hidden]
        up = torch.cat([moe.shared_up, moe.expert_up.flatten(0, 1)])
        down = torch.cat([moe.shared_down, moe.expert_down.flatten(0, 1).t()], dim=1)  # [hidden, neurons]
        self.gate_up, self.down = Int8Rows.of(torch.cat([gate, up])), Int8Rows.of(down)
        self.neurons, self.shared = gate.shape[0], moe.shared_gate.shape[0]
        self.expert_size = moe.expert_gate.shape[1]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x [tokens, hidden] → [tokens, hidden]."""
        moe = self.moe
        chosen = moe.route(x)
        h = self.gate_up(x)
        h = moe.act_fn(h[:, :self.neurons]) * h[:, self.neurons:]                 # (tokens, neurons)
        if chosen is not None:  # each token keeps the shared neurons and its chosen experts'
            h = h * torch.cat([torch.ones(x.shape[0], self.shared, dtype=torch.bool),
                               chosen.repeat_interleave(self.expert_size, dim=1)], dim=1)
        return self.down(h)


class Int8Layers:
    """The decoder layers of an R1ForCausalLM with int8 weights (built in under a second; 96 MiB
    for the 270M model).

    ``hidden_step(input_ids, cache)`` is ``R1ForCausalLM.hidden_step`` on these weights; without a
    cache, ``hidden_states(input_ids)`` reads a whole sequence (perplexity in ``bench decoder``).
    """

    @staticmethod
    def fit(config) -> bool:
        """Whether this torch has the int8 kernel (2.13, pinned, does) and every layer weight's width
        suits it (the 270M model's all do)."""
        widths = (config.hidden_size, config.num_attention_heads * config.head_dim, config.intermediate_size)
        return hasattr(torch, "_weight_int8pack_mm") and all(w % INNER_MULTIPLE == 0 for w in widths)

    def __init__(self, model):
        self.model, self.config = model, model.config
        self.layers = []
        for layer in model.model.layers:
            a = layer.self_attn
            self.layers.append({
                "qkv": Int8Rows.of(torch.cat([_weight(a.q_proj), _weight(a.k_proj), _weight(a.v_proj)])),
                "o": Int8Rows.of(_weight(a.o_proj)),
                "ffn": Int8FeedForward(layer.mlp),
            })
        self.version = self._weights_version()

    def _weights_version(self) -> tuple[int, int]:
        # Every in-place change of a parameter (fine-tuning) bumps its version counter; adapters
        # added (LoRA) add parameters.
        params = list(self.model.parameters())
        return len(params), sum(p._version for p in params)

    def stale(self) -> bool:
        """Whether the model's weights changed since these were made."""
        return self._weights_version() != self.version

    def nbytes(self) -> int:
        return sum(rows.nbytes() for layer in self.layers
                   for rows in (layer["qkv"], layer["o"], layer["ffn"].gate_up, layer["ffn"].down))

    @torch.no_grad()
    def hidden_step(self, input_ids: torch.Tensor, cache) -> torch.Tensor:
        """Feed one token [1, 1] into ``cache``; its final hidden state [1, hidden]."""
        assert input_ids.shape == (1, 1), "a decoding step feeds one token"
        token = kv.observing.set(cache)
        try:
            return self._forward(input_ids, cache)[:, -1]
        finally:
            kv.observing.reset(token)

    @torch.no_grad()
    def hidden_states(self, input_ids: torch.Tensor) -> torch.Tensor:
        """A whole sequence [1, tokens] without a cache: final hidden states [1, tokens, hidden]."""
        return self._forward(input_ids, None)

    def _forward(self, input_ids: torch.Tensor, cache) -> torch.Tensor:
        cfg, m = self.config, self.model.model
        heads, kv_heads, dim = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        h = m.embed_tokens(input_ids)                                      # (1, T, hidden)
        tokens = h.shape[1]
        start = cache.get_seq_length() if cache is not None else 0
        positions = torch.arange(start, start + tokens)[None]
        rope = {kind: m.rotary_emb(h, positions, kind) for kind in set(cfg.layer_types)}
        for i, (layer, weights) in enumerate(zip(m.layers, self.layers)):
            a = layer.self_attn
            qkv = weights["qkv"](layer.input_layernorm(h)[0])              # (T, (heads + 2 kv_heads) dim)
            q, k, v = qkv.split([heads * dim, kv_heads * dim, kv_heads * dim], dim=-1)
            q = a.q_norm(q.view(1, tokens, heads, dim).transpose(1, 2))     # (1, heads, T, dim)
            k = a.k_norm(k.view(1, tokens, kv_heads, dim).transpose(1, 2))
            v = v.view(1, tokens, kv_heads, dim).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, *rope[cfg.layer_types[i]])
            if cache is not None:
                k, v = cache.update(k, v, i)
                out, _ = kv.observed_attention(a, q, k, v, None, scaling=a.scaling, sliding_window=a.sliding_window)
            else:
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=_causal(tokens, a.sliding_window),
                                                     scale=a.scaling, enable_gqa=True).transpose(1, 2)
            h = h + layer.post_attention_layernorm(weights["o"](out.reshape(tokens, -1))[None])
            ffn = weights["ffn"](layer.pre_feedforward_layernorm(h)[0])
            h = h + layer.post_feedforward_layernorm(ffn[None])
        return m.norm(h)


def _weight(projection) -> torch.Tensor:
    """The [out, in] matrix a projection applies: its weight, or with LoRA adapters (fine-tuning
    adds them to q_proj and v_proj) the weight plus the adapters' product; read off the identity."""
    with torch.no_grad():
        eye = torch.eye(projection.in_features)
        return (projection(eye) - projection(torch.zeros(1, projection.in_features))).t()


def _causal(tokens: int, window: int | None) -> torch.Tensor:
    """[tokens, tokens] bool: query i sees key j ≤ i, and within ``window`` tokens for a sliding layer."""
    i, j = torch.arange(tokens)[:, None], torch.arange(tokens)[None, :]
    visible = j <= i
    return visible & (i - j < window) if window else visible


class RingWindowLayer(DynamicSlidingWindowLayer):
    """A sliding-window cache layer with room for its whole window, written in place: a decoded
    token fills the next free slot, and once the window is full, overwrites the oldest entry.

    transformers' layer appends by concatenation, copying everything it holds for every token (up
    to 15 sliding layers × 1 MiB of keys and values a token here). Order does not matter to the
    attention of one query: every entry of the window is visible to it, and each key carries its
    position in its rotation. Anything else (several tokens at once, rolling back) first puts the
    window back in order and goes through transformers' own update.
    """

    count = 0                  # entries in the buffer
    oldest = 0                 # where the next token goes once the buffer is full
    buffer: tuple | None = None  # (keys, values), sliding_window entries each

    @classmethod
    def of(cls, layer: DynamicSlidingWindowLayer) -> RingWindowLayer:
        ring = cls(layer.sliding_window)
        ring.__dict__.update(layer.__dict__)
        return ring

    def update(self, key_states, value_states, *args, **kwargs):
        if key_states.shape[-2] != 1 or not self.is_initialized or self.record_past:
            self.in_order()
            return super().update(key_states, value_states, *args, **kwargs)
        if self.buffer is None:
            self._allocate()
        keys, values = self.buffer
        self.cumulative_length += 1
        if self.count < self.sliding_window:
            slot, self.count = self.count, self.count + 1
        else:
            slot, self.oldest = self.oldest, (self.oldest + 1) % self.sliding_window
        keys[:, :, slot] = key_states[:, :, 0]
        values[:, :, slot] = value_states[:, :, 0]
        self.keys, self.values = keys[:, :, :self.count], values[:, :, :self.count]
        return self.keys, self.values

    def _allocate(self) -> None:
        held = self.keys.shape[-2]
        shape = (*self.keys.shape[:2], self.sliding_window, self.keys.shape[-1])
        self.buffer = (self.keys.new_empty(shape), self.values.new_empty(shape))
        self.buffer[0][:, :, :held] = self.keys
        self.buffer[1][:, :, :held] = self.values
        self.count, self.oldest = held, 0

    def in_order(self) -> None:
        """Back to transformers' layout: the last sliding_window - 1 entries, oldest first."""
        if self.buffer is None:
            return
        keep = min(self.count, self.sliding_window - 1)
        self.keys = self.keys.roll(-self.oldest, dims=-2)[:, :, -keep:].clone()
        self.values = self.values.roll(-self.oldest, dims=-2)[:, :, -keep:].clone()
        self.buffer, self.count, self.oldest = None, 0, 0

    def crop(self, tokens_to_remove: int) -> None:
        self.in_order()
        super().crop(tokens_to_remove)


def ring_windows(cache) -> None:
    """Turn the sliding-window layers of ``cache`` into ``RingWindowLayer`` (state kept)."""
    for i, layer in enumerate(cache.layers):
        if type(layer) is DynamicSlidingWindowLayer:
            cache.layers[i] = RingWindowLayer.of(layer)
