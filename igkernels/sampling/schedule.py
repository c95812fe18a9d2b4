"""Phase 1, schedule: which positions each sequence may commit this step, how many, and how.

SPEC §1: blocks are decoded left to right; a block's steps split its masks evenly (the
remainder to the first steps; ``schedule="timesteps"``: Dream's ``int(masks * (1 - s/t))``,
which may be 0: an idle step) and its last step fills every remaining mask; a step looks
ahead unless the block has <= k masks left or the strategy cannot (N <= 1, tau_pos <= 0). With a
threshold, except on a block's last step: ``bypass`` commits the min(k, count) most confident
positions instead of looking ahead, ``parallel`` commits every confident position of the block.
Everything here stays on the device; ``read_back`` brings the plan (with the proposal's unique
flags and the ops' deferred statuses) to the host in the decode's one sync per step.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..ops import deferred
from .canvas import Canvas
from .config import DecodeConfig
from .host import upload
from .stats import PositionStats

# Step kinds of a sequence.
DONE, PLAIN, LOOKAHEAD, BYPASS, IDLE = 0, 1, 2, 3, 4
KIND_NAMES = {DONE: "done", PLAIN: "plain", LOOKAHEAD: "lookahead", BYPASS: "bypass", IDLE: "idle"}

_NO_BLOCK = 2 ** 40


class StepPlan(NamedTuple):
    """One step of every sequence, on the device: [B] tensors ([B, T] for ``valid``)."""
    kind: torch.Tensor       # DONE / PLAIN / LOOKAHEAD / BYPASS / IDLE
    k: torch.Tensor          # positions to commit
    valid: torch.Tensor      # [B, T] positions the step may commit
    active: torch.Tensor     # kind != DONE
    bypass: torch.Tensor     # kind == BYPASS: the confident positions, argmax tokens, no lookahead
    left_in_block: torch.Tensor   # masks of the current block before the commit
    left: torch.Tensor       # masks in every block before the commit
    last: torch.Tensor       # the block's last step
    block: torch.Tensor      # the current block (huge where none is left)


class HostPlan(NamedTuple):
    """The host copies read back once per step (numpy [B]; ``unique`` [B, Nc])."""
    kinds: np.ndarray
    ks: np.ndarray
    left_in_block: np.ndarray
    left: np.ndarray
    last: np.ndarray
    block: np.ndarray
    unique: np.ndarray

    @property
    def done(self) -> bool:
        return not self.kinds.any()


class Scheduler:
    """Tracks, across steps, each sequence's block and its step within the block."""

    def __init__(self, canvas: Canvas, mask_id: int, config: DecodeConfig, lookahead: bool):
        B = canvas.x.shape[0]
        dev = canvas.x.device
        self.canvas, self.mask_id, self.lookahead = canvas, mask_id, lookahead
        self.threshold, self.mode = config.threshold, config.threshold_mode
        self.ratios = upload(timestep_ratios(canvas.block_steps_host, config.eps), dev, torch.float32) \
            if config.schedule == "timesteps" else None
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
        last = self.local >= steps - 1
        k = torch.minimum(self._per_step(left_in_block, steps), left_in_block)
        k = torch.where(last, left_in_block, k)
        valid, bypass = in_block, torch.zeros_like(active)
        if self.threshold is not None:
            confident = in_block & (stats.max_prob >= self.threshold)
            n_confident = confident.sum(1)
            bypass = active & (n_confident > 0) & ~last
            k = torch.where(bypass, n_confident if self.mode == "parallel" else torch.minimum(k, n_confident), k)
            valid = torch.where(bypass[:, None], confident, in_block)
        look = active & ~bypass & (left_in_block > k) & (k > 0) & self.lookahead
        kind = torch.where(~active, DONE, torch.where(bypass, BYPASS, torch.where(
            look, LOOKAHEAD, torch.where(k > 0, PLAIN, IDLE))))
        return StepPlan(kind, k, valid, active, bypass, left_in_block, left, last & active, cur)

    def _per_step(self, left_in_block: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """Positions of this step before the last-step rule: the even split of the block's masks
        at its start, or the timesteps schedule on the masks left now."""
        if self.ratios is None:   # at least one a step: a block with fewer masks than steps ends early
            return (self.start // steps + (self.local < self.start % steps).long()).clamp(min=1)
        ratio = self.ratios[steps.clamp(max=self.ratios.shape[0] - 1), self.local.clamp(max=self.ratios.shape[1] - 1)]
        return (left_in_block.float() * ratio).long()

    def advance(self, plan: StepPlan) -> None:
        """The step of ``plan`` was taken."""
        self.local = self.local + plan.active.long()


def timestep_ratios(block_steps: np.ndarray, eps: float) -> np.ndarray:
    """float32 [S_max + 1, S_max]: row S holds 1 - s/t of Dream's ``linspace(1, eps, S + 1)``,
    computed with torch's float32 ops exactly as ``diffusion_generate`` computes them."""
    S_max = int(block_steps.max()) if block_steps.size else 1
    out = np.zeros((S_max + 1, max(S_max, 1)), dtype=np.float32)
    for S in np.unique(block_steps[block_steps > 0]).tolist():
        t = torch.linspace(1, eps, S + 1)
        out[S, :S] = (1 - t[1:] / t[:-1]).numpy()
    return out


def read_back(plan: StepPlan, unique: torch.Tensor) -> HostPlan:
    """The step's one host sync: the plan, the candidates' unique flags and the deferred op
    statuses, in one copy."""
    B = plan.kind.shape[0]
    fields = (plan.kind, plan.k, plan.left_in_block, plan.left, plan.last.long(), plan.block)
    values = torch.cat([torch.stack(fields).reshape(-1), unique.long().reshape(-1)])
    statuses = deferred.pending()
    n = values.numel()
    host = (values if statuses is None else torch.cat([values, statuses])).cpu().numpy()
    deferred.check(host[n:].tolist())
    rows = host[:len(fields) * B].reshape(len(fields), B)
    return HostPlan(rows[0], rows[1], rows[2], rows[3], rows[4].astype(bool), rows[5],
                    host[len(fields) * B:n].reshape(B, -1).astype(bool))
