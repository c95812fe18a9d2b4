"""Phase 1, schedule: which positions each sequence may commit this step, how many, and how.

SPEC §1: blocks are decoded left to right; a block's steps split its masks evenly (the
remainder to the first steps) and its last step fills every remaining mask; a step looks
ahead unless the block has <= k masks left or the strategy cannot (N <= 1, tau_pos <= 0);
with a threshold, a block whose masks include confident ones commits the most confident of
them instead (the bypass). Reading the step kinds back is the decode's one host sync per step;
the statuses the ops deferred (``igkernels.ops.deferred``) ride along in the same copy.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..ops import deferred
from .canvas import Canvas
from .stats import PositionStats

# Step kinds of a sequence.
DONE, PLAIN, LOOKAHEAD, BYPASS = 0, 1, 2, 3
KIND_NAMES = {DONE: "done", PLAIN: "plain", LOOKAHEAD: "lookahead", BYPASS: "bypass"}

_NO_BLOCK = 2 ** 40


class StepPlan(NamedTuple):
    """One step of every sequence: device tensors [B] ([B, T] for ``valid``) and their host copies."""
    kind: torch.Tensor       # DONE / PLAIN / LOOKAHEAD / BYPASS
    k: torch.Tensor          # positions to commit (>= 1 where active)
    valid: torch.Tensor      # [B, T] positions the step may commit
    active: torch.Tensor     # kind != DONE
    bypass: torch.Tensor     # kind == BYPASS
    kinds: np.ndarray        # host copies of kind, k, and the masks left in all blocks
    ks: np.ndarray
    remaining: np.ndarray

    @property
    def done(self) -> bool:
        return not self.kinds.any()


class Scheduler:
    """Tracks, across steps, each sequence's block and its step within the block."""

    def __init__(self, canvas: Canvas, mask_id: int, threshold: float | None, lookahead: bool):
        B = canvas.x.shape[0]
        dev = canvas.x.device
        self.canvas, self.mask_id, self.threshold, self.lookahead = canvas, mask_id, threshold, lookahead
        self.block = torch.full((B,), -1, dtype=torch.int64, device=dev)   # block of the last step
        self.local = torch.zeros(B, dtype=torch.int64, device=dev)         # step index inside it
        self.start = torch.zeros(B, dtype=torch.int64, device=dev)         # its masks when it began

    def plan(self, x: torch.Tensor, stats: PositionStats) -> StepPlan:
        """The plan of the next step for canvases ``x`` [B, T] with current statistics ``stats``."""
        c = self.canvas
        masked = (x == self.mask_id) & c.attn
        cur = torch.where(masked & (c.block >= 0), c.block, _NO_BLOCK).min(1).values
        active = cur < _NO_BLOCK
        in_block = masked & (c.block == cur[:, None])
        left_in_block, left = in_block.sum(1), masked.sum(1)
        new_block = cur != self.block
        self.local = torch.where(new_block, 0, self.local)
        self.start = torch.where(new_block, left_in_block, self.start)
        self.block = cur
        steps = c.block_steps.gather(1, cur.clamp(max=c.block_steps.shape[1] - 1)[:, None]).squeeze(1).clamp(min=1)
        k = self.start // steps + (self.local < self.start % steps).long()
        k = torch.where(self.local >= steps - 1, left_in_block, torch.minimum(k, left_in_block)).clamp(min=1)
        valid, bypass = in_block, torch.zeros_like(active)
        if self.threshold is not None:
            confident = in_block & (stats.max_prob >= self.threshold)
            n_confident = confident.sum(1)
            bypass = active & (n_confident > 0)
            k = torch.where(bypass, torch.minimum(k, n_confident), k)
            valid = torch.where(bypass[:, None], confident, in_block)
        look = active & ~bypass & (left_in_block > k) & self.lookahead
        kind = torch.where(~active, DONE, torch.where(bypass, BYPASS, torch.where(look, LOOKAHEAD, PLAIN)))
        kinds, ks, remaining = self._read_back(torch.stack([kind, k, left]))
        return StepPlan(kind, k, valid, active, bypass, kinds, ks, remaining)

    def advance(self, plan: StepPlan) -> None:
        """The step of ``plan`` was taken."""
        self.local = self.local + plan.active.long()

    @staticmethod
    def _read_back(values: torch.Tensor) -> np.ndarray:
        """The step's one host sync: ``values`` [3, B] and the deferred op statuses, in one copy."""
        statuses = deferred.pending()
        n = values.numel()
        flat = values.reshape(-1) if statuses is None else torch.cat([values.reshape(-1), statuses])
        host = flat.cpu().numpy()
        deferred.check(host[n:].tolist())
        return host[:n].reshape(values.shape)
