"""R1Config: one configuration for the decoder, its experts, its KV memory and the latent space.

It extends the base LM's own configuration (Gemma 3 text), so transformers' generation,
caching and masking machinery read it unchanged; the R1 fields say how the dense FFNs were
split into experts, how tokens are routed, and how much KV memory long contexts may keep.
"""
from __future__ import annotations

import os
from pathlib import Path

from transformers import Gemma3TextConfig

ROUTING_MODES = ("dense", "top_k", "adaptive")
MEMORY_KINDS = ("blocks", "compressed", "full")


def cache_dir() -> Path:
    """Where models built or assembled on first use are kept: ``$R1MM_CACHE``, else ~/.cache/r1mm."""
    return Path(os.environ.get("R1MM_CACHE", Path.home() / ".cache" / "r1mm"))


class R1Config(Gemma3TextConfig):
    model_type = "r1mm"

    def __init__(
        self,
        moe_shared_size: int = 512,
        moe_num_experts: int = 64,
        moe_routing: str = "adaptive",
        moe_top_k: int = 8,
        moe_top_p: float = 0.8,
        moe_min_experts: int = 1,
        moe_max_experts: int | None = None,
        moe_router_hidden: int = 0,
        kv_budget: int = 1024,
        kv_recent: int = 256,
        kv_sinks: int = 4,
        kv_pool: int = 8,
        kv_prefill_budget: int | None = None,
        kv_memory: str = "blocks",
        kv_block: int = 64,
        kv_local: int = 1024,
        kv_recall: int = 16,
        kv_representatives: int = 16,
        d_latent: int = 384,
        base_model: str = "",
        backend_url: str | None = None,
        backend_model: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if moe_routing not in ROUTING_MODES:
            raise ValueError(f"moe_routing must be one of {ROUTING_MODES}, got {moe_routing!r}")
        routed = self.intermediate_size - moe_shared_size
        if moe_num_experts < 1 or routed <= 0 or routed % moe_num_experts:
            raise ValueError(f"intermediate_size {self.intermediate_size} minus the shared expert "
                             f"({moe_shared_size}) must split evenly into {moe_num_experts} experts")
        self.moe_shared_size = moe_shared_size
        self.moe_num_experts = moe_num_experts
        self.moe_routing = moe_routing
        self.moe_top_k = moe_top_k
        self.moe_top_p = moe_top_p
        self.moe_min_experts = moe_min_experts
        self.moe_max_experts = moe_max_experts or moe_num_experts
        self.moe_router_hidden = moe_router_hidden
        # Long-context memory for the full-attention layers (sliding layers are already bounded).
        self.kv_budget = kv_budget
        self.kv_recent = kv_recent
        self.kv_sinks = kv_sinks
        self.kv_pool = kv_pool
        self.kv_prefill_budget = kv_prefill_budget  # None: read the whole prompt, then compress
        if kv_memory not in MEMORY_KINDS:
            raise ValueError(f"kv_memory must be one of {MEMORY_KINDS}, got {kv_memory!r}")
        self.kv_memory = kv_memory  # "blocks": block memory (memory.py); "compressed": kv.py
        self.kv_block = kv_block
        self.kv_local = kv_local
        self.kv_recall = kv_recall
        self.kv_representatives = kv_representatives
        self.d_latent = d_latent
        self.base_model = base_model
        # Scale-out: an OpenAI-compatible server (vLLM, …) that writes the answers instead of
        # these weights; R1MM_DECODER_URL overrides it.
        self.backend_url = backend_url
        self.backend_model = backend_model

    @property
    def moe_expert_size(self) -> int:
        return (self.intermediate_size - self.moe_shared_size) // self.moe_num_experts

    @classmethod
    def from_base(cls, base, **r1_fields) -> "R1Config":
        """An R1Config that keeps every field of a base Gemma 3 text config."""
        fields = base.to_dict()
        for key in ("model_type", "architectures", "transformers_version", "quantization_config", "auto_map"):
            fields.pop(key, None)
        return cls(**fields, **r1_fields)
