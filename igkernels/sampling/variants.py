"""The decoding variants: one table, read by every phase of the loop.

``info_gain`` and ``lookum`` look ahead (SPEC §1: N candidate actions evaluated in one forward,
ranked by J = -U(x'_a) - C(a|x), or -U(x'_a) for lookum); the baselines commit the top-k of a
per-position score with no lookahead. ``random`` is a baseline whose score is flat and whose
committed set is a noisy candidate (two candidate sets, the second one taken, position
temperature 1): every special case of it is a field here. ``docs/adding_a_variant.md`` says
how to add one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

if TYPE_CHECKING:
    from .stats import PositionStats


@dataclass(frozen=True)
class Variant:
    """How a variant scores positions, whether it looks ahead, and what a plain step commits.

    score:       per-position score [B, S', T] from the current statistics (S' = 1, or the
                 candidates' own rows) — higher is committed first
    lookahead:   evaluates N candidates and commits argmax J (needs candidates > 1 and a
                 position temperature > 0, otherwise the variant steps plainly)
    with_cost:   J includes -C(a|x) (info_gain) or not (lookum)
    plain_candidates / plain_pick / position_temperature: a plain step draws that many
                 candidate sets and commits set ``plain_pick``; a fixed position temperature
                 overrides the configured one
    """

    name: str
    score: Callable[["PositionStats", int], torch.Tensor]
    lookahead: bool = False
    with_cost: bool = False
    plain_candidates: int = 1
    plain_pick: int = 0
    position_temperature: float | None = None


def _proposal_prob(stats, num_samples: int) -> torch.Tensor:
    """Confidence of the proposed tokens: p of each candidate's own draw, or of the argmax."""
    return stats.sample_prob.permute(0, 2, 1) if num_samples > 0 else stats.max_prob[:, None, :]


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("info_gain", _proposal_prob, lookahead=True, with_cost=True),
    Variant("lookum", _proposal_prob, lookahead=True),
    Variant("confidence", _proposal_prob),
    Variant("margin", lambda st, S: (st.max_prob - st.second_prob)[:, None, :]),
    Variant("entropy", lambda st, S: -st.entropy[:, None, :]),
    Variant("random", lambda st, S: torch.zeros_like(st.max_prob)[:, None, :],
            plain_candidates=2, plain_pick=1, position_temperature=1.0),
)}
