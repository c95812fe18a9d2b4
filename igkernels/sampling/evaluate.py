"""Phase 3, evaluate: the canvases that need a forward, in one batched forward and one K1 call.

SPEC §1 step 3. A lookahead sequence sends its distinct candidate canvases (a duplicate is
never evaluated; with one distinct candidate left, that is the canvas the next step needs
anyway); a plain or bypass step sends its one committed canvas when masks remain after it, so
that the next step's statistics come from the same forward (a step costs one forward); an idle
step sends nothing. Every masked row of every evaluated
canvas goes through ``softmax_entropy`` (or, with ``fuse_lm_head``, through
``linear_softmax_entropy`` on the model's final hidden states), which also draws the next
step's token proposals. Rows are laid out with host-known capacities, so no host sync sizes
them.

Random streams (``igkernels.backends.philox``): the token draws of position ``l`` of a sequence
with seed ``s``, made while evaluating step ``t - 1``'s canvases, use the per-row key
``s * 2**24 + l`` (counter row 0), ``offset = t`` and stream ``c`` = candidate ``c``; no draw
depends on the batch layout.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..models.base import Adapter
from ..ops import TokenStats, linear_softmax_entropy, softmax_entropy
from .canvas import Canvas
from .config import DecodeConfig
from .host import upload
from .propose import Proposal
from .schedule import BYPASS, LOOKAHEAD, PLAIN, HostPlan
from .stats import RowStats
from .strategy import Strategy


class Evaluation(NamedTuple):
    seq: torch.Tensor          # [M] sequence of each evaluated canvas
    cand: torch.Tensor         # [M] its candidate index
    rows: RowStats             # the masked rows of the M canvases
    uncertainty: torch.Tensor  # [B, Nc] U(x'_c) of the evaluated canvases (0 elsewhere)
    canvases: np.ndarray       # [B] canvases each sequence sent through the model (host)


class Evaluator:
    """Runs the model on canvases and reads their masked rows (counts the forwards)."""

    def __init__(self, adapter: Adapter, canvas: Canvas, config: DecodeConfig, strategy: Strategy):
        self.adapter, self.canvas, self.strategy = adapter, canvas, strategy
        self.max_batch = config.max_forward_batch
        self.mask_id = adapter.mask_id
        pad_ids = [adapter.pad_id] if adapter.pad_id is not None else []
        self.penalties = [(ids, pen) for ids, pen in ((adapter.eos_ids, config.eos_penalty),
                                                      (pad_ids, config.pad_penalty)) if pen > 0 and ids]
        self.head, self.head_bias = (self._fused_head() if config.fuse_lm_head else (None, None))
        self.num_forward = 0

    def _fused_head(self) -> tuple[torch.nn.Module, torch.Tensor]:
        """The model's LM head and its bias with the mask ban and penalties folded in, so the
        logits never exist."""
        head = self.adapter.lm_head()
        w = head.weight
        bias = getattr(head, "bias", None)
        bias = (bias.detach().clone() if isinstance(bias, torch.Tensor)
                else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device))
        if self.mask_id < w.shape[0]:
            bias[self.mask_id] = float("-inf")
        for ids, pen in self.penalties:
            bias[ids] -= pen
        return head, bias

    # ---------------------------------------------------------------- one step
    def step(self, host: HostPlan, proposal: Proposal, step: int) -> Evaluation:
        """Evaluate the canvases of this step that need a forward (module doc): the distinct
        candidates of a lookahead step, the committed canvas of a plain or bypass step."""
        seq, cand = [], []
        for b, kind in enumerate(host.kinds.tolist()):
            if kind == LOOKAHEAD:
                chosen = np.flatnonzero(host.unique[b]).tolist()
            elif kind in (PLAIN, BYPASS) and host.left[b] > host.ks[b]:
                chosen = [self.strategy.variant.plain_pick if kind == PLAIN else 0]
            else:
                continue
            seq += [b] * len(chosen)
            cand += chosen
        caps = (host.left - host.ks)[np.asarray(seq, dtype=np.int64)]
        dev = proposal.canvases.device
        seq_t, cand_t = upload(seq, dev), upload(cand, dev)
        rows = self.rows(proposal.canvases[seq_t, cand_t], seq_t, caps, offset=step + 1)
        U = torch.zeros(len(host.kinds), self.strategy.num_candidates, dtype=torch.float32, device=dev)
        U[seq_t, cand_t] = uncertainty(rows, len(seq))
        return Evaluation(seq_t, cand_t, rows, U, np.bincount(seq, minlength=len(host.kinds)))

    # ---------------------------------------------------------------- canvases -> rows
    def rows(self, canvases: torch.Tensor, seq: torch.Tensor, caps: np.ndarray, offset: int) -> RowStats:
        """K1 statistics of every masked row of ``canvases`` [M, T] (of sequences ``seq`` [M]).

        ``caps[m]`` (host) bounds the masked count of canvas m; rows are laid out with that
        capacity and filler rows (valid False) re-read position 0 of their canvas. One forward
        and one K1 call per chunk of ``max_forward_batch`` canvases.
        """
        M, T = canvases.shape
        dev = canvases.device
        chunk = self.max_batch or max(M, 1)
        masked = (canvases == self.mask_id) & self.canvas.attn[seq]
        parts = []
        for lo in range(0, M, chunk):
            hi = min(M, lo + chunk)
            cap = caps[lo:hi]
            R = int(cap.sum())
            if R == 0:
                continue
            start = upload(np.cumsum(cap) - cap, dev)
            m = masked[lo:hi]
            slot = torch.where(m, start[:, None] + m.cumsum(1) - 1, R)
            position = torch.zeros(R + 1, dtype=torch.int64, device=dev)
            position.scatter_(0, slot.reshape(-1), torch.arange(T, device=dev).repeat(hi - lo))
            valid = torch.zeros(R + 1, dtype=torch.bool, device=dev)
            valid.scatter_(0, slot.reshape(-1), m.reshape(-1))
            canvas = upload(np.repeat(np.arange(hi - lo), cap), dev)
            position, valid = position[:R], valid[:R]
            attn = self.canvas.attn[seq[lo:hi]] if self.canvas.padded else None
            keys = self.canvas.seeds[seq[lo:hi]][canvas] * 2 ** 24 + position
            stats = self.forward_stats(canvases[lo:hi], attn, self.adapter.logit_rows(canvas, position, T), keys,
                                       offset)
            parts.append(RowStats(canvas + lo, position, valid, stats))
        return RowStats.cat(parts, dev)

    def forward_stats(self, canvases: torch.Tensor, attn: torch.Tensor | None, rows: torch.Tensor,
                      keys: torch.Tensor, offset: int) -> TokenStats:
        """K1 statistics of logits rows ``rows`` of the canvases' forward: through the model's LM
        head, or with ``fuse_lm_head`` through the fused head on those rows only."""
        self.num_forward += 1
        s = self.strategy
        args = dict(rows=rows, num_samples=s.num_samples, temperature=s.temperature, seed=keys, offset=offset,
                    backend=s.backend)
        if self.head is not None:
            hidden = self.adapter.forward_hidden(canvases, attn)
            return linear_softmax_entropy(hidden, self.head.weight, bias=self.head_bias, **args)
        logits = self.adapter.forward(canvases, attn)
        if self.mask_id < logits.shape[-1]:
            # A committed mask token would stay masked forever: never propose it.
            logits[..., self.mask_id] = float("-inf")
        for ids, pen in self.penalties:
            logits[..., ids] -= pen
        return softmax_entropy(logits, **args)


def uncertainty(rows: RowStats, M: int) -> torch.Tensor:
    """U of each evaluated canvas [M]: the mean entropy over its still-masked rows (0 if none).

    This is K2 fused by hand: the K1 pass that gives the next step's statistics already returns
    each masked row's entropy, so U is their per-canvas mean; ``state_uncertainty`` would read
    the logits a second time (and needs them as one [M, T, V] tensor, which the fused head never
    forms).
    """
    dev = rows.canvas.device
    if rows.stats is None:
        return torch.zeros(M, dtype=torch.float32, device=dev)
    w = rows.valid.float()
    total = torch.zeros(M, dtype=torch.float32, device=dev).index_add_(0, rows.canvas, rows.stats.entropy * w)
    count = torch.zeros(M, dtype=torch.float32, device=dev).index_add_(0, rows.canvas, w)
    return total / count.clamp(min=1)
