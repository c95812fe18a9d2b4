"""Phase 4, transition: rank the candidates by J, commit the best, adopt its statistics.

SPEC §1 step 4: J = IG - C ranks as -U(x'_a) - C(a|x) (``info_gain``) or -U(x'_a) (``lookum``),
among unique candidates; plain steps commit the variant's pick, a bypass its only set. The
committed canvas's statistics become the current ones (``stats.adopt``), so a step costs one
forward.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .evaluate import Evaluation
from .propose import Proposal
from .schedule import LOOKAHEAD, StepPlan
from .stats import PositionStats, adopt
from .strategy import Strategy


class Choice(NamedTuple):
    chosen: torch.Tensor     # [B] committed candidate
    cost: torch.Tensor       # [B, Nc] C(a_c|x), summed entropies of the candidate's positions
    J: torch.Tensor          # [B, Nc] objective (-inf for duplicates)


def choose(plan: StepPlan, proposal: Proposal, evaluation: Evaluation, stats: PositionStats,
           strategy: Strategy) -> Choice:
    B, Nc, kmax = proposal.positions.shape
    entropies = stats.entropy.gather(1, proposal.positions.clamp(min=0).reshape(B, -1)).reshape(B, Nc, kmax)
    cost = (entropies * (proposal.positions >= 0)).sum(-1)
    J = -evaluation.uncertainty - cost if strategy.variant.with_cost else -evaluation.uncertainty
    J = J.masked_fill(~proposal.unique, float("-inf"))
    chosen = torch.where(plan.kind == LOOKAHEAD, J.argmax(1),
                         torch.where(plan.bypass, 0, strategy.variant.plain_pick))
    return Choice(chosen, cost, J)


def commit(x: torch.Tensor, plan: StepPlan, proposal: Proposal, evaluation: Evaluation, stats: PositionStats,
           choice: Choice) -> tuple[torch.Tensor, PositionStats]:
    """The new canvases [B, T] and current statistics after committing ``choice.chosen``."""
    B = x.shape[0]
    committed = proposal.canvases[torch.arange(B, device=x.device), choice.chosen]
    x = torch.where(plan.active[:, None], committed, x)
    take = choice.chosen[evaluation.seq] == evaluation.cand
    return x, adopt(stats, evaluation.rows, evaluation.seq, take)
