"""R1ForCausalLM: a pretrained Gemma 3 decoder whose FFNs are Mixtures of Experts.

It subclasses transformers' own Gemma 3 causal LM, so attention, generation, caching and
``save_pretrained``/``from_pretrained`` (config.json + safetensors) work as for any
transformers model, and registers itself with ``AutoConfig``/``AutoModelForCausalLM``.
``upcycle`` turns a dense model into one: neurons are grouped into experts by how they fire
together on calibration text, and a small router per layer learns to predict which groups matter.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import torch
from transformers import AutoConfig, AutoModelForCausalLM, Gemma3ForCausalLM
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask

from r1mm.config import R1Config
from r1mm.decoder import kv
from r1mm.decoder.head import ScreenedHead
from r1mm.decoder.memory import BlockMemoryLayer, block_memory_cache
from r1mm.decoder.moe import MoEFeedForward, Routing

log = logging.getLogger(__name__)
AttentionMaskInterface.register(kv.ATTENTION_NAME, ALL_MASK_ATTENTION_FUNCTIONS.get("sdpa", sdpa_mask))


class R1ForCausalLM(Gemma3ForCausalLM):
    config_class = R1Config

    def __init__(self, config: R1Config):
        config._attn_implementation = kv.ATTENTION_NAME
        super().__init__(config)
        for layer in self.model.layers:
            layer.mlp = MoEFeedForward(config)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, MoEFeedForward):
            module.reset_parameters()
        else:
            super()._init_weights(module)

    def moe_layers(self) -> list[MoEFeedForward]:
        return [layer.mlp for layer in self.model.layers]

    def set_routing(self, mode: str | None = None, **knobs) -> None:
        """Switch routing for every layer at once, e.g. ``set_routing("top_k", moe_top_k=4)``."""
        if mode is not None:
            knobs["moe_routing"] = mode
        probe = self.config.to_dict() | knobs
        R1Config(**{k: v for k, v in probe.items() if k not in ("model_type", "transformers_version")})
        for key, value in knobs.items():
            setattr(self.config, key, value)

    def record_routing(self, on: bool = True) -> None:
        """Keep each layer's routing of the next forward passes (read with ``routing_trace``)."""
        for moe in self.moe_layers():
            moe.record = on
            if on:
                moe.last_routing = None

    def routing_trace(self) -> list[Routing | None]:
        return [moe.last_routing for moe in self.moe_layers()]

    def new_cache(self, memory: str | None = None):
        """A cache for ``generate``/``forward``/``prefill``: ``"blocks"`` (block memory, bounded
        while reading and recalled by the question; see memory.py), ``"compressed"`` (pooled
        summaries and salient tokens; see kv.py) or ``"full"`` (transformers' own); the
        config's ``kv_memory`` when not given."""
        memory = memory or self.config.kv_memory
        if memory == "blocks":
            c = self.config
            return block_memory_cache(self, block=c.kv_block, sinks=c.kv_sinks, local=c.kv_local,
                                      recall=c.kv_recall, representatives=c.kv_representatives)
        if memory == "compressed":
            return kv.compressed_cache(self.config)
        if memory == "full":
            from transformers import DynamicCache
            return DynamicCache(config=self.config)
        raise ValueError(f"memory must be 'blocks', 'compressed' or 'full', got {memory!r}")

    def forward(self, *args, **kwargs):
        # transformers 5 names the cache `cache` (formerly `past_key_values`).
        token = kv.observing.set(kwargs.get("cache", kwargs.get("past_key_values")))
        try:
            return super().forward(*args, **kwargs)
        finally:
            kv.observing.reset(token)

    @torch.no_grad()
    def hidden_step(self, input_ids: torch.Tensor, cache) -> torch.Tensor:
        """Feed tokens; the last one's final hidden state [batch, hidden], before the output head
        (a greedy decoder picks the token with ``screened_head``, not the full head)."""
        token = kv.observing.set(cache)
        try:
            return self.model(input_ids=input_ids, cache=cache, use_cache=True).last_hidden_state[:, -1]
        finally:
            kv.observing.reset(token)

    @torch.no_grad()
    def screened_head(self, sample_ids: torch.Tensor | None = None) -> ScreenedHead:
        """The output head's int8 screen, built on first use from the hidden states of ``sample_ids``
        [1, tokens] of ordinary text (about 3 s for 1,000 tokens; 170 MB)."""
        head = getattr(self, "_screened_head", None)
        if head is None or head.weight is not self.lm_head.weight:
            samples = None if sample_ids is None else self.model(input_ids=sample_ids, use_cache=False).last_hidden_state[0]
            head = self._screened_head = ScreenedHead(self.lm_head.weight, samples)
        return head

    @torch.no_grad()
    def prefill(self, input_ids: torch.Tensor | None, cache, chunk: int = 512,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Feed a long prompt (token ids, or input embeddings holding soft tokens) in chunks;
        returns the logits of the last token.

        With a compressed cache, salience from earlier chunks is dropped before the last one, so
        the final compression keeps what the end of the prompt (the question) attends to. With
        block memory, earlier chunks recall blocks by their mean query, and the last chunk (the
        question) by each of its last queries.
        """
        layers = getattr(cache, "layers", [])
        compressed = [layer for layer in layers if isinstance(layer, kv.CompressedLayer)]
        blocks = [layer for layer in layers if isinstance(layer, BlockMemoryLayer)]
        for layer in compressed:
            layer.reading = True
        prompt = inputs_embeds if inputs_embeds is not None else input_ids
        key = "inputs_embeds" if inputs_embeds is not None else "input_ids"
        starts = list(range(0, prompt.shape[1], chunk))
        logits = None
        for start in starts:
            for layer in blocks:
                layer.asking = start == starts[-1]
            if start == starts[-1]:
                for layer in compressed:
                    layer.scores.zero_()
            out = self(**{key: prompt[:, start:start + chunk]}, cache=cache, use_cache=True, logits_to_keep=1)
            logits = out.logits[:, -1]
        for layer in compressed:
            layer.finish_reading()
        return logits


AutoConfig.register(R1Config.model_type, R1Config)
AutoModelForCausalLM.register(R1Config, R1ForCausalLM)


# ---- upcycling a dense model -------------------------------------------------------------------

def _mlp_inputs(dense, batches: Iterator[torch.Tensor], max_tokens: int) -> list[torch.Tensor]:
    """The normalised input of every FFN on calibration tokens: one [tokens, hidden] per layer."""
    captured: list[list[torch.Tensor]] = [[] for _ in dense.model.layers]
    hooks = [layer.mlp.register_forward_pre_hook(lambda m, a, i=i: captured[i].append(a[0].reshape(-1, a[0].shape[-1])))
             for i, layer in enumerate(dense.model.layers)]
    seen = 0
    try:
        with torch.no_grad():
            for ids in batches:
                dense(input_ids=ids, use_cache=False, logits_to_keep=1)
                seen += ids.numel()
                if seen >= max_tokens:
                    break
    finally:
        for h in hooks:
            h.remove()
    return [torch.cat(c)[:max_tokens] for c in captured]


def _balanced_clusters(features: torch.Tensor, clusters: int, iterations: int = 12, seed: int = 0) -> torch.Tensor:
    """Split rows of ``features`` into equal-size groups of similar rows (balanced spherical k-means)."""
    n = features.shape[0]
    size = n // clusters
    f = torch.nn.functional.normalize(features, dim=-1)
    g = torch.Generator().manual_seed(seed)
    centroids = f[torch.randperm(n, generator=g)[:clusters]]
    for _ in range(iterations):
        sim = f @ centroids.t()                                      # [n, clusters]
        assignment = [-1] * n
        filled = [0] * clusters
        for flat in sim.flatten().argsort(descending=True).tolist():  # greedy by similarity, capacity `size`
            row, col = divmod(flat, clusters)
            if assignment[row] < 0 and filled[col] < size:
                assignment[row] = col
                filled[col] += 1
        assign = torch.tensor(assignment)
        centroids = torch.nn.functional.normalize(
            torch.zeros(clusters, f.shape[1]).index_add_(0, assign, f), dim=-1)
    return torch.stack([(assign == c).nonzero().squeeze(-1) for c in range(clusters)])


def train_router(moe: MoEFeedForward, x: torch.Tensor, steps: int, seed: int) -> float:
    """Fit softmax(router(x)) to each expert's share of the FFN output (cross-entropy with soft
    targets), so top-p over router probabilities means "the experts carrying p of the output"."""
    torch.manual_seed(seed)
    with torch.no_grad():
        contribution = moe.expert_activations(x)
        share = contribution / contribution.sum(-1, keepdim=True).clamp_min(1e-12)
    opt = torch.optim.Adam(moe.router.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    loss = torch.tensor(0.0)
    for _ in range(steps):
        batch = torch.randint(0, x.shape[0], (2048,), generator=generator)
        opt.zero_grad()
        loss = -(share[batch] * torch.log_softmax(moe.router(x[batch]), dim=-1)).sum(-1).mean()
        loss.backward()
        opt.step()
    return float(loss.detach())


def upcycle(dense, r1_fields: dict, batches: Iterator[torch.Tensor], calibration_tokens: int = 8192,
            router_steps: int = 600, seed: int = 0,
            progress: Callable[[str], None] = lambda msg: None) -> R1ForCausalLM:
    """Build an R1ForCausalLM from a dense Gemma 3 causal LM and calibration token batches."""
    config = R1Config.from_base(dense.config, **r1_fields)
    model = R1ForCausalLM(config).eval()
    missing, unexpected = model.load_state_dict(dense.state_dict(), strict=False)
    assert not [k for k in missing if ".mlp." not in k], missing
    progress("collecting FFN inputs on calibration text")
    inputs = _mlp_inputs(dense, batches, calibration_tokens)
    for i, (layer, moe) in enumerate(zip(dense.model.layers, model.moe_layers())):
        mlp = layer.mlp
        gate, up, down = mlp.gate_proj.weight.data, mlp.up_proj.weight.data, mlp.down_proj.weight.data
        x = inputs[i].float()
        with torch.no_grad():
            h = mlp.act_fn(x @ gate.t()) * (x @ up.t())                 # [tokens, neurons]
            importance = h.abs().mean(0) * down.norm(dim=0)
        shared = importance.argsort(descending=True)[:config.moe_shared_size].sort().values
        rest_mask = torch.ones(gate.shape[0], dtype=torch.bool)
        rest_mask[shared] = False
        rest = rest_mask.nonzero().squeeze(-1)
        # Neurons that fire together go together: cluster on |activation| profiles.
        g = torch.Generator().manual_seed(seed + i)
        projection = torch.randn(h.shape[0], 256, generator=g) / 16
        profiles = h[:, rest].abs().t() @ projection
        groups = rest[_balanced_clusters(profiles, config.moe_num_experts, seed=seed + i)]
        moe.load_dense(gate, up, down, shared, groups)
        loss = train_router(moe, x, router_steps, seed + i)
        progress(f"layer {i + 1}/{len(model.moe_layers())}: router loss {loss:.3f}")
        log.info("layer %d router loss %.3f", i, loss)
    return model


def to_dense(model: R1ForCausalLM) -> Gemma3ForCausalLM:
    """The same weights as a plain transformers Gemma 3 model (experts put back into one FFN)."""
    from transformers import Gemma3TextConfig
    fields = {k: v for k, v in model.config.to_dict().items()
              if not k.startswith(("moe_", "kv_")) and k not in ("model_type", "d_latent", "base_model",
                                                                 "transformers_version", "architectures")}
    dense = Gemma3ForCausalLM(Gemma3TextConfig(**fields)).eval()
    state = {k: v for k, v in model.state_dict().items() if ".mlp." not in k}
    dense.load_state_dict(state, strict=False)
    with torch.no_grad():
        for layer, moe in zip(dense.model.layers, model.moe_layers()):
            layer.mlp.gate_proj.weight.copy_(torch.cat([moe.shared_gate, moe.expert_gate.flatten(0, 1)]))
            layer.mlp.up_proj.weight.copy_(torch.cat([moe.shared_up, moe.expert_up.flatten(0, 1)]))
            layer.mlp.down_proj.weight.copy_(torch.cat([moe.shared_down, moe.expert_down.flatten(0, 1).t()], dim=1))
    return dense
