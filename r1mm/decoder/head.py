"""The greedy next token from the 262,144-row tied output head, reading a quarter of its bytes.

A greedy step needs only the highest logit, yet the fp32 head reads 640 MiB per token (25 ms
here, a third of a decoding step). ``ScreenedHead`` scores every row with an int8 copy of the
head (per-row scales, fbgemm's dynamic int8 product, about 7 ms), re-scores in fp32 only the
rows whose int8 score is within ``MARGIN`` of the best, and returns the best of those.

That is the fp32 argmax whenever no int8 score is off by more than ``MARGIN / 2``. The input is
rounded to 7 bits over its whole range, and a few hidden dimensions are 40 times the others, so
the dimensions are first rebalanced between input and weights as in SmoothQuant (Xiao et al.,
2023; α = 0.5, from hidden states of sample text): the largest error measured over 3,072 held-out
positions fell from 3.6 to 1.9 logits. ``bench decoder`` measures it again and counts any token
that differs from the full head's.
"""
from __future__ import annotations

import warnings

import torch

MARGIN = 6.0            # logits: three times the largest int8 error measured (1.94)
MAX_CANDIDATES = 1024   # more rows than this near the top: score the full head in fp32 instead
SAMPLE_TOKENS = 1024


def head_samples(tokenizer) -> torch.Tensor:
    """Token ids [1, 1,024] of ordinary text whose hidden states set the screen's rebalancing."""
    from r1mm.decoder.corpus import texts

    return tokenizer("\n\n".join(texts("calibration"))[:8000], return_tensors="pt").input_ids[:, :SAMPLE_TOKENS]


def mask_banned(scores: torch.Tensor, banned: set[int] | None) -> torch.Tensor:
    """``scores`` over the vocabulary (last dimension) with the ``banned`` tokens at -inf (a copy)."""
    if not banned:
        return scores
    scores = scores.clone()
    scores[..., list(banned)] = float("-inf")
    return scores


class ScreenedHead:
    def __init__(self, weight: torch.Tensor, hidden_samples: torch.Tensor | None = None):
        """``weight`` is the head [vocab, hidden]; ``hidden_samples`` [positions, hidden] are final hidden
        states of sample text, whose per-dimension range sets the rebalancing (none: no rebalancing)."""
        self.weight = weight
        w = weight.detach().float()
        if hidden_samples is None:
            self.smooth = torch.ones(w.shape[1])
        else:
            spread = hidden_samples.detach().float().abs().amax(0).clamp_min(1e-6)
            self.smooth = (spread / w.abs().amax(0).clamp_min(1e-6)).sqrt()
        w = w * self.smooth
        scales = (w.abs().amax(dim=1) / 127).clamp_min(1e-12).double()
        zero = torch.zeros(w.shape[0], dtype=torch.long)
        with warnings.catch_warnings():  # qint8 tensors are deprecated after torch 2.13, which is pinned
            warnings.simplefilter("ignore", UserWarning)
            quantised = torch.quantize_per_channel(w, scales, zero, 0, torch.qint8)
        self.packed = torch.ops.quantized.linear_prepack(quantised, None)

    def rough_scores(self, h: torch.Tensor) -> torch.Tensor:
        """int8 scores of every row for hidden states ``h`` [positions, hidden]."""
        return torch.ops.quantized.linear_dynamic(h.float() / self.smooth, self.packed, reduce_range=True)

    @torch.no_grad()
    def argmax(self, h: torch.Tensor, banned: set[int] | None = None) -> tuple[int, int]:
        """(the highest-scoring token for one hidden state ``h`` that is not ``banned``, rows scored in fp32)."""
        h = h.reshape(1, -1).float()
        rough = mask_banned(self.rough_scores(h)[0], banned)
        candidates = (rough >= rough.max() - MARGIN).nonzero().squeeze(-1)
        if candidates.numel() > MAX_CANDIDATES:
            exact = mask_banned(h[0] @ self.weight.detach().t(), banned)
            return int(exact.argmax()), exact.numel()
        exact = self.weight.detach().index_select(0, candidates) @ h[0]
        return int(candidates[exact.argmax()]), candidates.numel()
