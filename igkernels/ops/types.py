"""Result types of the public API."""
from __future__ import annotations

from typing import NamedTuple

import torch


class TokenStats(NamedTuple):
    """Per-row statistics of p = softmax(logits); leading shape [...] of the selected rows.

    All float32 unless said.
    entropy      [...]     H = -sum_v p_v log p_v, in nats
    logsumexp    [...]     log sum_v exp(logit_v)
    max_prob     [...]     max_v p_v
    argmax       [...]     int64, lowest index among ties
    second_prob  [...]     second largest entry of p (= max_prob on a tie, 0 if V = 1)
    samples      [..., S]  int64 draws from softmax(logits / temperature) (argmax when 0)
    sample_prob  [..., S]  untempered p of each draw
    """
    entropy: torch.Tensor
    logsumexp: torch.Tensor
    max_prob: torch.Tensor
    argmax: torch.Tensor
    second_prob: torch.Tensor
    samples: torch.Tensor
    sample_prob: torch.Tensor


class Candidates(NamedTuple):
    """Candidate actions of the sampler.

    positions [B, N, k]  int64, ascending within a candidate, -1 padding when a sequence has
                         fewer than k valid positions
    unique    [B, N]     bool, False where the position set repeats an earlier candidate's
    """
    positions: torch.Tensor
    unique: torch.Tensor


class BadRowError(ValueError):
    """A selected logits row holds NaN or +inf, or is entirely -inf: its softmax is undefined.

    ``row`` is the row's logical index (in the flattened leading dims of the logits); ``where``
    says what the row is to the caller (the sampler: its sequence and position), if it said.
    """

    def __init__(self, row: int, where: str | None = None):
        at = f" ({where})" if where else ""
        super().__init__(f"logits row {row}{at} holds NaN/+inf or is entirely -inf: its softmax is undefined")
        self.row, self.where = row, where
