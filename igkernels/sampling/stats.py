"""What the decoder keeps between steps: per-position statistics, never logits."""
from __future__ import annotations

from typing import NamedTuple

import torch

from ..ops import TokenStats


class PositionStats(NamedTuple):
    """K1 statistics of the current canvases, dense [B, T] (samples [B, T, S]); meaningful at
    masked positions only. The six fields are views of ``buffers``, flat [B * T + 1, ...] with
    a last row that takes the writes ``adopt`` discards, so adopting is one copy per field."""
    entropy: torch.Tensor
    max_prob: torch.Tensor
    second_prob: torch.Tensor
    argmax: torch.Tensor
    samples: torch.Tensor
    sample_prob: torch.Tensor
    buffers: tuple[torch.Tensor, ...]

    @classmethod
    def zeros(cls, B: int, T: int, S: int, device: torch.device) -> PositionStats:
        n = B * T + 1
        f32, i64 = dict(dtype=torch.float32, device=device), dict(dtype=torch.int64, device=device)
        buffers = (torch.zeros(n, **f32), torch.zeros(n, **f32), torch.zeros(n, **f32), torch.zeros(n, **i64),
                   torch.zeros(n, S, **i64), torch.zeros(n, S, **f32))
        return cls(*(b[:B * T].view(B, T, *b.shape[1:]) for b in buffers), buffers)


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
    """The rows of evaluated canvases with ``take[canvas]`` (canvas m belongs to sequence
    ``seq[m]``) written into ``stats`` in place (other positions keep theirs); returns it.
    The caller's previous statistics are gone: the decode loop adopts after their last use."""
    if rows.stats is None:
        return stats
    B, T = stats.entropy.shape
    keep = rows.valid & take[rows.canvas]
    dest = torch.where(keep, seq[rows.canvas] * T + rows.position, B * T)
    st = rows.stats
    for buf, val in zip(stats.buffers, (st.entropy, st.max_prob, st.second_prob, st.argmax, st.samples,
                                        st.sample_prob)):
        buf.index_copy_(0, dest, val)
    return stats
