"""What the decoder keeps between steps: per-position statistics, never logits."""
from __future__ import annotations

from typing import NamedTuple

import torch

from ..ops import TokenStats


class PositionStats(NamedTuple):
    """K1 statistics of the current canvases, dense [B, T] (samples [B, T, S]); meaningful at
    masked positions only."""
    entropy: torch.Tensor
    max_prob: torch.Tensor
    second_prob: torch.Tensor
    argmax: torch.Tensor
    samples: torch.Tensor
    sample_prob: torch.Tensor

    @classmethod
    def zeros(cls, B: int, T: int, S: int, device: torch.device) -> PositionStats:
        f = torch.zeros(B, T, dtype=torch.float32, device=device)
        return cls(f, f.clone(), f.clone(), torch.zeros(B, T, dtype=torch.int64, device=device),
                   torch.zeros(B, T, S, dtype=torch.int64, device=device),
                   torch.zeros(B, T, S, dtype=torch.float32, device=device))


class RowStats(NamedTuple):
    """The masked rows of a batch of evaluated canvases, with their K1 statistics."""
    canvas: torch.Tensor     # [R] index into the evaluated canvases
    position: torch.Tensor   # [R] position in the canvas
    valid: torch.Tensor      # [R] False for filler rows (capacity beyond the masked count)
    stats: TokenStats | None  # [R]; None when no canvas had a masked row

    @classmethod
    def cat(cls, parts: list[RowStats], device: torch.device) -> RowStats:
        parts = [p for p in parts if p.stats is not None]   # a part without rows adds none
        if not parts:
            empty = (torch.zeros(0, dtype=t, device=device) for t in (torch.int64, torch.int64, torch.bool))
            return cls(*empty, None)
        if len(parts) == 1:
            return parts[0]
        return cls(torch.cat([p.canvas for p in parts]), torch.cat([p.position for p in parts]),
                   torch.cat([p.valid for p in parts]),
                   TokenStats(*(torch.cat(f) for f in zip(*(p.stats for p in parts)))))


def adopt(stats: PositionStats, rows: RowStats, seq: torch.Tensor, take: torch.Tensor) -> PositionStats:
    """New current statistics: the rows of evaluated canvases with ``take[canvas]`` (canvas m
    belongs to sequence ``seq[m]``) scattered into [B, T]; other positions keep theirs."""
    if rows.stats is None:
        return stats
    B, T = stats.entropy.shape
    keep = rows.valid & take[rows.canvas]
    dest = torch.where(keep, seq[rows.canvas] * T + rows.position, B * T)
    st = rows.stats
    new = []
    for cur, val in zip(stats, (st.entropy, st.max_prob, st.second_prob, st.argmax, st.samples, st.sample_prob)):
        flat = torch.cat([cur.reshape(B * T, *cur.shape[2:]), cur.new_zeros(1, *cur.shape[2:])])
        flat.index_copy_(0, dest, val)
        new.append(flat[:B * T].reshape(cur.shape))
    return PositionStats(*new)
