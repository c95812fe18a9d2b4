"""Phase 2, propose: candidate position sets (K3) and their tokens, applied to the canvases.

SPEC §1 steps 1-2. Tokens come from the current per-position statistics: the argmax, or with
a token temperature draw c for candidate c (drawn from the committed canvas after the previous
step's evaluation). Position sets come from one ``sample_candidates`` call for the
whole batch; a bypass step takes the top-k confident positions.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from ..ops import sample_candidates
from .schedule import LOOKAHEAD, StepPlan
from .stats import PositionStats
from .strategy import Strategy


class Proposal(NamedTuple):
    positions: torch.Tensor   # [B, Nc, kmax] int64, ascending, -1 padded
    tokens: torch.Tensor      # [B, Nc, kmax] int64 proposed at those positions
    canvases: torch.Tensor    # [B, Nc, T] the candidate canvases x'_c = apply(x, a_c), EOS fill included
    unique: torch.Tensor      # [B, Nc] False where a candidate repeats an earlier one


def propose(x: torch.Tensor, plan: StepPlan, stats: PositionStats, strategy: Strategy, seeds: torch.Tensor,
            step: int, k_bound: int, eos_fill) -> Proposal:
    """The candidates of every sequence for this step (``eos_fill`` completes a canvas after EOS);
    ``k_bound`` (host) bounds every sequence's k."""
    positions, unique = candidate_positions(plan, stats, strategy, seeds, step, k_bound)
    tokens = proposed_tokens(positions, plan, stats, strategy)
    B, Nc, _ = positions.shape
    T = x.shape[1]
    grid = torch.cat([x, x.new_zeros(B, 1)], 1)[:, None, :].repeat(1, Nc, 1)
    grid.scatter_(2, torch.where(positions < 0, T, positions), tokens)
    return Proposal(positions, tokens, eos_fill(grid[:, :, :T]), unique)


def candidate_positions(plan: StepPlan, stats: PositionStats, strategy: Strategy, seeds: torch.Tensor,
                        step: int, k_bound: int) -> tuple[torch.Tensor, torch.Tensor]:
    """K3 for every sequence: positions [B, Nc, k_bound] (-1 padded) and unique [B, Nc].

    k is known on the device only (it is read back with the proposal in the step's one sync), so
    K3 takes it per sequence (``seq_k``) with ``k_bound`` as the width.
    """
    score = strategy.variant.score(stats, strategy.num_samples)
    score = torch.where(plan.bypass[:, None, None], stats.max_prob[:, None, :], score).contiguous()
    cand = sample_candidates(score, plan.valid, k=k_bound, num_candidates=strategy.num_candidates,
                             position_temperature=strategy.position_temperature, seed=seeds, offset=step,
                             seq_k=plan.k, backend=strategy.backend)
    return cand.positions, cand.unique


def proposed_tokens(positions: torch.Tensor, plan: StepPlan, stats: PositionStats, strategy: Strategy
                    ) -> torch.Tensor:
    """Tokens [B, Nc, kmax] at ``positions``: the argmax, or candidate c's own draw (stream c of a
    lookahead step, stream 0 otherwise); a bypass commits the argmax."""
    B, Nc, kmax = positions.shape
    T, S = stats.argmax.shape[1], strategy.num_samples
    safe = positions.clamp(min=0)
    tokens = stats.argmax.gather(1, safe.reshape(B, -1)).reshape(B, Nc, kmax)
    if S == 0:
        return tokens
    streams = torch.arange(Nc, device=positions.device)
    stream = torch.where(plan.kind[:, None] == LOOKAHEAD, streams[None, :], 0)          # [B, Nc]
    drawn = stats.samples.reshape(B, T * S).gather(
        1, (safe * S + stream[:, :, None]).reshape(B, -1)).reshape(B, Nc, kmax)
    return torch.where(plan.bypass[:, None, None], tokens, drawn)
