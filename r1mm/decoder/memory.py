"""Block memory: read 128K tokens with a model trained to 32K, in bounded memory.

Gemma 3's sliding-window layers already keep only the last 512 positions; its full-attention
layers are what grows with the context, and what sees distances the model never trained on.
Here, as in InfLLM (Xiao et al., 2024), each full-attention layer attends to

- the first ``sinks`` tokens (attention sinks),
- the blocks of older context that the current queries recall (``recall`` blocks of ``block``
  tokens), and
- the last ``local`` tokens, as they are,

and every older block leaves RAM: its keys and values go to a temporary file (fp16, removed with
the cache), and only a few representative keys per block stay (int8), to score blocks against the
queries. Sinks and recalled
blocks are given positions just before the local window (their keys are stored without their
rotary rotation and rotated again when recalled), so no query ever sees a distance beyond
``sinks + recall·block + local + chunk`` tokens: a few thousand, inside what the model knows.

Representatives cover a block's keys: the token the queries attended to most while the block was
in the local window (InfLLM keeps only such tokens), then each time the token farthest from those
kept, so a rare phrase in ordinary prose keeps a key of its own. Blocks are scored by
the queries minus the usual query, so blocks that every query likes do not crowd out what a
question asks for. A prompt's last chunk (the question) scores with each of its last 32 queries
and chooses the blocks the answer's tokens see (``question_recall`` of them, four times as many);
earlier chunks score with their mean query.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
import torch
from transformers.cache_utils import Cache, DynamicLayer, DynamicSlidingWindowLayer

QUERY_WINDOW = 32  # the last queries of a chunk choose its blocks (the question, in a prompt's last chunk)


def rotate(x: torch.Tensor, positions: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    """Rotary embedding (Gemma's half-split layout) of ``x`` [..., tokens, dim] at ``positions``
    [tokens], angles in float64 so positions past 100K stay exact; negative positions undo it."""
    angles = positions.double()[:, None] * inv_freq.double()[None, :]
    cos = torch.cat([angles.cos(), angles.cos()], -1).to(x.dtype)
    sin = torch.cat([angles.sin(), angles.sin()], -1).to(x.dtype)
    half = x.shape[-1] // 2
    rotated_half = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated_half * sin


class BlockStore:
    """Keys and values of evicted blocks, fp16, in one file; read back a block at a time."""

    def __init__(self, block: int, kv_heads: int, head_dim: int):
        self._dir = tempfile.TemporaryDirectory(prefix="r1mm-kv-")
        self._fd = os.open(os.path.join(self._dir.name, "blocks.bin"), os.O_RDWR | os.O_CREAT)
        self.shape = (2, kv_heads, block, head_dim)
        self.block_bytes = int(np.prod(self.shape)) * 2
        self.blocks = 0

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> int:
        """Store one block ([kv_heads, block, dim] each); returns its index."""
        data = torch.stack([keys, values]).to(torch.float16).contiguous().numpy().tobytes()
        os.pwrite(self._fd, data, self.blocks * self.block_bytes)
        self.blocks += 1
        return self.blocks - 1

    def read(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values [kv_heads, len(indices) * block, dim] of the blocks, in the given order."""
        parts = [np.frombuffer(os.pread(self._fd, self.block_bytes, i * self.block_bytes), dtype=np.float16)
                 .reshape(self.shape) for i in indices]
        both = torch.from_numpy(np.concatenate(parts, axis=2)).float()
        return both[0], both[1]

    def disk_bytes(self) -> int:
        return self.blocks * self.block_bytes

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._dir.cleanup()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutting down
            pass

    def __deepcopy__(self, memo):
        return self  # append-only and addressed by index: copies of a cache can share it


class PartialLayer(DynamicLayer):
    """A full-attention cache layer that stores fewer entries than the tokens it has seen."""

    is_sliding = False
    is_croppable = False
    cumulative_length = 0
    peak_held = 0  # bytes: the most held in RAM at once

    def held_bytes(self) -> int:
        """Bytes kept in RAM between forwards."""
        return _tensor_bytes(self) if self.is_initialized else 0

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        # Stored entries all lie before the new queries; the offset lines the new keys up with
        # their true positions so the causal mask inside the new block stays exact.
        stored = self.keys.shape[-2] if self.is_initialized else 0
        return stored + query_length, self.cumulative_length - stored

    def get_seq_length(self) -> int:
        return self.cumulative_length


class BlockMemoryLayer(PartialLayer):
    """A full-attention cache layer holding sinks, a local window and block representatives in RAM
    (the memory that ``with_memory`` adds goes in front of the local window's keys)."""

    def __init__(self, inv_freq: torch.Tensor, block: int = 64, sinks: int = 4, local: int = 1024,
                 recall: int = 16, representatives: int = 16, question_recall: int | None = None, **kwargs):
        super().__init__()
        if not 1 <= representatives <= block:
            raise ValueError(f"a block of {block} tokens cannot have {representatives} representatives")
        self.inv_freq = inv_freq
        self.block, self.sinks, self.local, self.recall = block, sinks, local, recall
        # A question is one chunk, so it can afford four times the blocks (64 × 64 tokens still lie
        # well inside the trained 32K): at 64K tokens, 25/30 needles found against 5/10 with 16.
        self.question_recall = question_recall or 4 * recall
        self.representatives = representatives
        self.cumulative_length = 0
        self.local_start = 0                 # position of the local window's first token
        self.salience = torch.zeros(0)       # attention each local token has received
        self.sink_keys = self.sink_values = None  # [kv_heads, sinks, dim], keys unrotated
        self.rep_keys: torch.Tensor | None = None   # [kv_heads, capacity, dim], unrotated, int8
        self.rep_scales: torch.Tensor | None = None # [kv_heads, capacity, 1]: rep_keys × scale = the key
        self.block_ids: list[int] = []       # this layer's blocks in the store (copies of a cache share it)
        self.store: BlockStore | None = None
        self.recalled: list[int] = []        # the blocks the latest queries chose
        self.asking = True                   # False while a prompt's earlier chunks are read (cheaper choice)
        self.query_sum, self.query_count = torch.zeros(()), 0  # unrotated queries seen, for centring
        self.key_sum, self.key_count = torch.zeros(()), 0      # unrotated keys stored, for centring
        self.peak_recalled = 0               # bytes: the most recalled for one forward
        self.queries: torch.Tensor | None = None  # this chunk's last queries, unrotated
        self.question_scores: torch.Tensor | None = None  # every block's score for the latest question

    # -- what transformers calls ------------------------------------------------------------

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        self.cumulative_length += key_states.shape[-2]
        self.keys = torch.cat([self.keys, key_states], dim=-2)
        self.values = torch.cat([self.values, value_states], dim=-2)
        self.salience = torch.cat([self.salience, torch.zeros(key_states.shape[-2])])
        self.peak_held = max(self.peak_held, self.held_bytes())
        return self.keys, self.values

    # -- attending with memory ---------------------------------------------------------------

    @property
    def blocks(self) -> int:
        return len(self.block_ids)

    def with_memory(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                    mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Keys, values and mask for this forward: the sinks and the recalled blocks placed just
        before the local window (``keys``/``values`` as ``update`` returned them)."""
        if self.sink_keys is None:
            return keys, values, mask
        q_len = query.shape[-2]
        if q_len > 1 or not self.recalled:  # a decoding step keeps the blocks its prompt chose
            self.queries = self._unrotated_queries(query)
            self.recalled = self._choose(self.queries)
        memory_k, memory_v = self.sink_keys, self.sink_values
        if self.recalled:
            recalled_k, recalled_v = self.store.read([self.block_ids[i] for i in sorted(self.recalled)])
            memory_k, memory_v = torch.cat([memory_k, recalled_k], -2), torch.cat([memory_v, recalled_v], -2)
        count = memory_k.shape[-2]
        positions = torch.arange(self.local_start - count, self.local_start)
        keys = torch.cat([rotate(memory_k, positions, self.inv_freq)[None].to(keys.dtype), keys], -2)
        values = torch.cat([memory_v[None].to(values.dtype), values], -2)
        self.peak_recalled = max(self.peak_recalled, (count - self.sinks) * self._entry_bytes())
        if mask is None and q_len == 1:
            return keys, values, None
        if mask is None:  # transformers left causality to SDPA, which would misalign the longer keys
            k_len = keys.shape[-2]
            causal = torch.arange(k_len)[None, :] <= (k_len - q_len + torch.arange(q_len))[:, None]
            return keys, values, causal[None, None]
        visible = torch.ones(*mask.shape[:-1], count, dtype=torch.bool)
        visible = visible if mask.dtype == torch.bool else torch.zeros(visible.shape, dtype=mask.dtype)
        return keys, values, torch.cat([visible, mask], -1)

    def _choose(self, q: torch.Tensor) -> list[int]:
        """The ``recall`` blocks whose representatives the latest queries ``q`` ([heads, queries,
        dim], unrotated) score highest."""
        count = self.question_recall if self.asking else self.recall
        if not self.blocks or (self.blocks <= count and not self.asking):
            return list(range(self.blocks))
        per_block = self._block_scores(q)
        if self.asking:  # the whole ranking, for a reader that re-reads what the question recalls
            self.question_scores = per_block
        if self.blocks <= count:
            return list(range(self.blocks))
        # Each block comes with the one after it: what a question matches is often the cue, and the
        # answer ("... combination is 74|09") may run into the next block.
        chosen: dict[int, None] = {}
        for best in per_block.topk(min(self.blocks, count)).indices.tolist():
            chosen.update(dict.fromkeys(b for b in (best, best + 1) if b < self.blocks))
            if len(chosen) >= count:
                break
        return list(chosen)[:count]

    def _block_scores(self, q: torch.Tensor) -> torch.Tensor:
        """Each stored block's score [blocks] for the queries ``q`` (see ``_choose``)."""
        if not self.asking:   # reading: the chunk's mean query is enough, and 32 times cheaper
            q = q.mean(1, keepdim=True)
        # What these queries want more than queries usually do: blocks every query likes
        # (generic keys) are not what a question asks for.
        if self.query_count:
            q = q - self.query_sum / self.query_count
        # Scored as if every block sat just before the local window, where recalled blocks go:
        # rotate(q, d)·k = q·rotate(k, -d) for the stored, unrotated keys k at distance d.
        distance = self.cumulative_length - self.local_start + self.block
        q = rotate(q, torch.full((q.shape[1],), distance), self.inv_freq)
        used = self.blocks * self.representatives
        kv_heads, queries = self.rep_keys.shape[0], q.shape[1]
        # Query heads that share a key head are scored together: [kv_heads, group * queries, dim].
        grouped = q.reshape(kv_heads, -1, q.shape[-1])
        scores = (grouped @ self.rep_keys[:, :used].float().transpose(-1, -2)) * self.rep_scales[:, :used].transpose(-1, -2)
        # A block is as relevant as its best representative for the best query in any one head.
        scores = scores.view(-1, queries, used).amax(1).amax(0)
        return scores.view(self.blocks, self.representatives).amax(-1)

    def _unrotated_queries(self, query: torch.Tensor) -> torch.Tensor:
        q = query[0, :, -QUERY_WINDOW:].float()
        positions = torch.arange(self.cumulative_length - q.shape[1], self.cumulative_length)
        return rotate(q, -positions, self.inv_freq)

    # -- after attending -----------------------------------------------------------------------

    def observe(self, query: torch.Tensor, local_keys: torch.Tensor, scaling: float) -> None:
        """After attention: note the attention the local tokens got from the last queries and the
        usual query, then move whole blocks that left the local window to the store."""
        q = query[0, :, -QUERY_WINDOW:].float()
        if query.shape[-2] > 1:
            unrotated = self.queries if self.queries is not None else self._unrotated_queries(query)
            self.query_sum = self.query_sum + unrotated.sum(1, keepdim=True)
            self.query_count += unrotated.shape[1]
        self.queries = None
        k = local_keys[0].float().repeat_interleave(q.shape[0] // local_keys.shape[1], 0)
        logits = q @ k.transpose(-1, -2) * scaling                        # [heads, queries, local]
        n, k_len = q.shape[1], k.shape[1]
        later = torch.arange(k_len)[None, :] > (k_len - n + torch.arange(n))[:, None]
        self.salience += logits.masked_fill(later, float("-inf")).softmax(-1).sum((0, 1))
        self._evict()

    def _evict(self) -> None:
        if self.sink_keys is None and self.keys.shape[-2] >= self.sinks + self.local + self.block:
            self.sink_keys, self.sink_values = self._unrotated(self.sinks)
            self._drop(self.sinks)
        while self.sink_keys is not None and self.keys.shape[-2] >= self.local + self.block:
            if self.store is None:
                self.store = BlockStore(self.block, self.keys.shape[1], self.keys.shape[-1])
            keys, values = self._unrotated(self.block)
            self.key_sum = self.key_sum + keys.sum(1, keepdim=True)
            self.key_count += keys.shape[1]
            self._add_representatives(keys[:, self._representatives(keys, self.salience[:self.block])])
            self.block_ids.append(self.store.append(keys, values))
            self._drop(self.block)

    def flush(self) -> None:
        """Move every whole block of the local window to the store, so that every block read can be
        recalled (for a reader that answers only from recalled blocks; see recall.py)."""
        local, self.local = self.local, 0
        try:
            self._evict()
        finally:
            self.local = local

    def _representatives(self, keys: torch.Tensor, salience: torch.Tensor) -> torch.Tensor:
        """Token indices that cover the block's keys: the most attended token first, then each
        time the token farthest from those picked (keys centred on the mean key), so a rare
        phrase in a block of ordinary prose keeps a key of its own."""
        centred = (keys - self.key_sum / self.key_count).permute(1, 0, 2).flatten(1)  # [block, heads*dim]
        picked = [int(salience.argmax())]
        gap = (centred - centred[picked[0]]).norm(dim=-1)
        for _ in range(self.representatives - 1):
            picked.append(int(gap.argmax()))
            gap = torch.minimum(gap, (centred - centred[picked[-1]]).norm(dim=-1))
        return torch.tensor(sorted(picked))

    def _add_representatives(self, reps: torch.Tensor) -> None:
        """Keep ``reps`` [kv_heads, n, dim] in int8, one scale per key (ranking blocks needs no more)."""
        used = self.blocks * self.representatives
        if self.rep_keys is None or self.rep_keys.shape[1] < used + reps.shape[1]:
            capacity = max(64, 2 * (used + reps.shape[1]))
            keys = torch.zeros(reps.shape[0], capacity, reps.shape[2], dtype=torch.int8)
            scales = torch.zeros(reps.shape[0], capacity, 1)
            if self.rep_keys is not None:
                keys[:, :used], scales[:, :used] = self.rep_keys[:, :used], self.rep_scales[:, :used]
            self.rep_keys, self.rep_scales = keys, scales
        scale = reps.abs().amax(-1, keepdim=True).clamp_min(1e-8) / 127
        self.rep_keys[:, used:used + reps.shape[1]] = (reps / scale).round().to(torch.int8)
        self.rep_scales[:, used:used + reps.shape[1]] = scale

    def _unrotated(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(self.local_start, self.local_start + count)
        keys = rotate(self.keys[0, :, :count].float(), -positions, self.inv_freq)
        return keys, self.values[0, :, :count].float()

    def _drop(self, count: int) -> None:
        self.keys, self.values = self.keys[..., count:, :], self.values[..., count:, :]
        self.salience = self.salience[count:]
        self.local_start += count

    # -- accounting ------------------------------------------------------------------------------

    def _entry_bytes(self) -> int:
        return 2 * self.keys.shape[1] * self.keys.shape[-1] * self.keys.element_size()

    def _rep_bytes(self) -> int:
        """int8 keys and an fp32 scale each."""
        return self.blocks * self.representatives * self.keys.shape[1] * (self.keys.shape[-1] + 4)

    def held_bytes(self) -> int:
        """Bytes kept in RAM between forwards: local window, sinks and representatives."""
        sinks = 0 if self.sink_keys is None else self.sinks
        return (self.keys.shape[-2] + sinks) * self._entry_bytes() + self._rep_bytes()


def block_memory_cache(model, **knobs) -> Cache:
    """A cache for ``model`` (Gemma 3 layout): sliding layers as transformers keeps them, full-attention
    layers as block memory. ``knobs``: block, sinks, local, recall, representatives."""
    config = model.config
    rotary = model.model.rotary_emb
    if "full_attention" in config.layer_types and getattr(rotary, "full_attention_attention_scaling", 1.0) != 1.0:
        raise ValueError("block memory re-rotates keys and supports only unscaled rotary embeddings")
    layers = []
    for kind in config.layer_types:
        if kind == "sliding_attention":
            layers.append(DynamicSlidingWindowLayer(sliding_window=config.sliding_window))
        else:
            layers.append(BlockMemoryLayer(rotary.full_attention_inv_freq.detach().clone(), **knobs))
    return Cache(layers=layers)


def memory_bytes(cache: Cache) -> dict:
    """Key/value bytes of a cache: held in RAM now, the most in RAM at once, and on disk. A
    block-memory layer holds its local window (a chunk being read included), sinks and
    representatives; recalled blocks are in RAM only while their layer attends, one layer at a time."""
    held = peak = disk = recalled = 0
    for layer in cache.layers:
        if not getattr(layer, "is_initialized", False):
            continue
        if isinstance(layer, PartialLayer):  # block memory, or the compressed cache of kv.py
            held += layer.held_bytes()
            peak += layer.peak_held
        else:                                # transformers' own layers keep what they hold
            held += _tensor_bytes(layer)
            peak += _tensor_bytes(layer)
        if isinstance(layer, BlockMemoryLayer):
            recalled = max(recalled, layer.peak_recalled)
            disk += layer.store.disk_bytes() if layer.store is not None else 0
    return {"ram": held, "peak_ram": peak + recalled, "disk": disk}


def _tensor_bytes(layer) -> int:
    # A ring window (step.py) holds room for its whole window from its first answer token on.
    keys, values = getattr(layer, "buffer", None) or (layer.keys, layer.values)
    return keys.numel() * keys.element_size() + values.numel() * values.element_size()


def transformers_cache_bytes(config, tokens: int, bytes_per_value: int = 4) -> int:
    """What transformers' own cache holds for this model after ``tokens`` tokens: every token in the
    full-attention layers, the window in the sliding ones."""
    per_token = 2 * config.num_key_value_heads * config.head_dim * bytes_per_value
    total = 0
    for kind in config.layer_types:
        total += per_token * (min(tokens, config.sliding_window - 1) if kind == "sliding_attention" else tokens)
    return total
