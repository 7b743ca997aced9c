"""A dense FFN split into one always-on shared expert plus routed experts (MoEfication).

The experts are disjoint slices of the original FFN's neurons, so summing the shared expert
and every routed expert reproduces the dense FFN exactly; routing then drops the slices the
router predicts matter least. Stacked, the experts are also one FFN (views, nothing copied):
dense mode and prompts run them as one matrix product (a routed prompt then zeroes each token's
unchosen neurons, faster on a CPU than an expert at a time); a routed decoding step reads only
the chosen experts' slices.

Routing modes:
- ``dense``: every expert (the parity mode).
- ``top_k``: the k most probable experts per token.
- ``adaptive``: per token, the fewest experts whose router probability adds up to ``top_p``
  ("Harder Tasks Need More Experts", top-p routing), clamped to [min, max]. A flat router
  distribution (high entropy, the router is unsure) needs many experts to reach ``top_p``;
  a peaked one (low entropy) needs few.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.activations import ACT2FN


@dataclass
class Routing:
    """What the router did for one forward pass of one layer (kept for the Model lab)."""
    entropy: torch.Tensor   # [tokens] router entropy in nats
    chosen: torch.Tensor    # [tokens, experts] bool
    probs: torch.Tensor     # [tokens, experts]


def select_experts(probs: torch.Tensor, mode: str, top_k: int, top_p: float,
                   min_experts: int, max_experts: int) -> torch.Tensor:
    """Boolean [tokens, experts] mask of the experts each token uses."""
    tokens, n = probs.shape
    if mode == "dense":
        return torch.ones_like(probs, dtype=torch.bool)
    order = probs.argsort(dim=-1, descending=True)
    if mode == "top_k":
        counts = torch.full((tokens,), min(top_k, n), dtype=torch.long)
    elif mode == "adaptive":
        cumulative = probs.gather(-1, order).cumsum(-1)
        # Experts needed to reach top_p: the first index where the running sum passes it, plus one.
        counts = (cumulative < top_p).sum(-1) + 1
        counts = counts.clamp(min_experts, max_experts)
    else:
        raise ValueError(f"unknown routing mode {mode!r}")
    rank = torch.arange(n).expand(tokens, n)
    keep_sorted = rank < counts.unsqueeze(-1)
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


class MoEFeedForward(nn.Module):
    """Shared expert + routed experts with the gated-GELU FFN of the base model."""

    def __init__(self, config):
        super().__init__()
        hidden, shared, size, n = (config.hidden_size, config.moe_shared_size,
                                   config.moe_expert_size, config.moe_num_experts)
        self.config = config
        self.act_fn = ACT2FN[config.hidden_activation]
        self.shared_gate = nn.Parameter(torch.empty(shared, hidden))
        self.shared_up = nn.Parameter(torch.empty(shared, hidden))
        self.shared_down = nn.Parameter(torch.empty(hidden, shared))
        # Routed experts stacked as [experts, neurons, hidden] so one expert is one contiguous slice.
        self.expert_gate = nn.Parameter(torch.empty(n, size, hidden))
        self.expert_up = nn.Parameter(torch.empty(n, size, hidden))
        self.expert_down = nn.Parameter(torch.empty(n, size, hidden))  # transposed: rows are neurons
        # The router predicts each expert's share of the FFN output from the layer input. Linear is
        # the default: a hidden layer (moe_router_hidden) measured no better on Gemma 3.
        width = config.moe_router_hidden
        self.router = (nn.Sequential(nn.Linear(hidden, width), nn.ReLU(), nn.Linear(width, n)) if width
                       else nn.Sequential(nn.Linear(hidden, n)))
        self.record = False
        self.last_routing: Routing | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in (self.shared_gate, self.shared_up, self.shared_down, self.expert_gate, self.expert_up,
                  self.expert_down):
            nn.init.normal_(p, std=0.02)
        for layer in self.router:
            if isinstance(layer, nn.Linear):
                nn.init.normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)

    @torch.no_grad()
    def load_dense(self, gate: torch.Tensor, up: torch.Tensor, down: torch.Tensor,
                   shared_idx: torch.Tensor, expert_idx: torch.Tensor) -> None:
        """Copy a dense FFN in: ``gate``/``up`` are [neurons, hidden], ``down`` is [hidden, neurons];
        ``shared_idx`` lists the shared expert's neurons and ``expert_idx`` is [experts, size]."""
        self.shared_gate.copy_(gate[shared_idx])
        self.shared_up.copy_(up[shared_idx])
        self.shared_down.copy_(down[:, shared_idx])
        self.expert_gate.copy_(gate[expert_idx])
        self.expert_up.copy_(up[expert_idx])
        self.expert_down.copy_(down.t()[expert_idx])

    def router_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.router(x).float(), dim=-1)

    def expert_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Per-expert contribution size ``sum |a_j| * ||down_j||`` for every token: [tokens, experts].
        The router is trained to predict this (normalised) from the layer input."""
        h = self.act_fn(torch.einsum("th,esh->tes", x, self.expert_gate)) * torch.einsum(
            "th,esh->tes", x, self.expert_up)
        return (h.abs() * self.expert_down.norm(dim=-1)).sum(-1)

    def route(self, x: torch.Tensor) -> torch.Tensor | None:
        """The experts each token of ``x`` [tokens, hidden] uses ([tokens, experts] bool), None in
        dense mode; kept in ``last_routing`` while recording."""
        cfg = self.config
        dense = cfg.moe_routing == "dense"
        probs = self.router_probs(x) if self.record or not dense else None
        chosen = None if dense else select_experts(probs, cfg.moe_routing, cfg.moe_top_k, cfg.moe_top_p,
                                                   cfg.moe_min_experts, cfg.moe_max_experts)
        if self.record:
            entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1)
            mask = torch.ones_like(probs, dtype=torch.bool) if chosen is None else chosen
            self.last_routing = Routing(entropy.detach(), mask.detach(), probs.detach())
        return chosen

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        shape = hidden_states.shape
        x = hidden_states.reshape(-1, shape[-1])
        out = (self.act_fn(x @ self.shared_gate.t()) * (x @ self.shared_up.t())) @ self.shared_down.t()
        chosen = self.route(x)

        # The stacked experts seen as one FFN: views of the same memory, nothing copied.
        gate, up, down = (self.expert_gate.flatten(0, 1), self.expert_up.flatten(0, 1),
                          self.expert_down.flatten(0, 1))
        if chosen is not None and x.shape[0] == 1:
            # Decoding one token: only the chosen experts' slices are read.
            idx = chosen[0].nonzero().squeeze(-1)
            gate, up, down = (w.index_select(0, idx).flatten(0, 1)
                              for w in (self.expert_gate, self.expert_up, self.expert_down))
            return (out + (self.act_fn(x @ gate.t()) * (x @ up.t())) @ down).reshape(shape)
        h = self.act_fn(x @ gate.t()) * (x @ up.t())
        if chosen is not None:
            # Many tokens (a prompt): one matrix product over all experts, then each token keeps its
            # chosen experts' neurons. Faster here than running each expert on its own tokens.
            h = h * chosen.repeat_interleave(self.expert_gate.shape[1], dim=1)
        return (out + h @ down).reshape(shape)


def ffn_flops_per_token(config, experts_used: float) -> float:
    """Multiply-adds of one FFN for one token when ``experts_used`` routed experts run."""
    neurons = config.moe_shared_size + experts_used * config.moe_expert_size
    router = config.hidden_size * config.moe_num_experts
    return 3 * config.hidden_size * neurons + router
