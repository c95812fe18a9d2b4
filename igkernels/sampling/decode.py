"""The decode loop of SPEC §1: schedule, propose, evaluate, transition, until no mask is left.

``decode`` runs one ``generate`` call. Between steps it keeps the canvases, the per-position
statistics of their last forward (``PositionStats``), and per-sequence totals; the phases
are the modules named after them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ..models.base import Adapter
from ..ops import deferred
from .canvas import Canvas
from .config import DecodeConfig
from .evaluate import Evaluator
from .history import History
from .host import upload
from .propose import propose
from .schedule import BYPASS, LOOKAHEAD, Scheduler, StepPlan, read_back
from .stats import PositionStats, adopt
from .strategy import Strategy
from .transition import Choice, choose, commit


@dataclass
class Totals:
    """Per-sequence results accumulated over the steps ([B] tensors on the device)."""
    cumulative_entropy: torch.Tensor
    lookahead_steps: torch.Tensor
    bypass_steps: torch.Tensor
    history: History | None = field(default=None)

    @classmethod
    def zeros(cls, B: int, device: torch.device, history: bool) -> Totals:
        return cls(torch.zeros(B, dtype=torch.float32, device=device), torch.zeros(B, dtype=torch.int64, device=device),
                   torch.zeros(B, dtype=torch.int64, device=device), History() if history else None)

    def add(self, plan: StepPlan, choice: Choice) -> None:
        cost = choice.cost.gather(1, choice.chosen[:, None]).squeeze(1)
        self.cumulative_entropy += torch.where(plan.active, cost, 0.0)
        self.lookahead_steps += (plan.kind == LOOKAHEAD).long()
        self.bypass_steps += (plan.kind == BYPASS).long()


def decode(adapter: Adapter, canvas: Canvas, config: DecodeConfig) -> tuple[torch.Tensor, Totals, int]:
    """Decode ``canvas``; returns the final canvases [B, T], the totals and the forward count."""
    strategy = Strategy.of(config)
    evaluator = Evaluator(adapter, canvas, config, strategy)
    scheduler = Scheduler(canvas, adapter.mask_id, config, strategy.lookahead)
    k_bound = max(1, int(canvas.block_masks.max()))
    totals = Totals.zeros(canvas.x.shape[0], canvas.x.device, config.return_history)
    eos_fill = EosFill(adapter.eos_ids, adapter.mask_id, canvas.gen_region)
    x, step = canvas.x, 0
    with deferred.deferred_checks(), tqdm(total=config.steps, desc="igkernels", unit="step",
                                          disable=not config.progress) as bar:
        stats = initial_stats(evaluator, canvas, strategy)
        while True:
            plan = scheduler.plan(x, stats)
            proposal = propose(x, plan, stats, strategy, canvas.seeds, step, k_bound, eos_fill)
            host = read_back(plan, proposal.unique)
            if host.done:
                break
            evaluation = evaluator.step(host, proposal, step)
            choice = choose(plan, proposal, evaluation, stats, strategy)
            evaluation = evaluator.draw_committed(evaluation, choice.chosen, step)
            x, stats = commit(x, plan, proposal, evaluation, stats, choice)
            totals.add(plan, choice)
            if totals.history is not None:
                totals.history.record(step, host, proposal, evaluation, choice)
            scheduler.advance(plan)
            step += 1
            bar.update(1)
    return x, totals, evaluator.num_forward


def initial_stats(evaluator: Evaluator, canvas: Canvas, strategy: Strategy) -> PositionStats:
    """Statistics of the initial canvases (one forward): the first step's token proposals."""
    B, T = canvas.x.shape
    seq = torch.arange(B, device=canvas.x.device)
    zeros = PositionStats.zeros(B, T, strategy.num_samples, canvas.x.device)
    return adopt(zeros, evaluator.initial(), seq, torch.ones(B, dtype=torch.bool, device=canvas.x.device))


class EosFill:
    """Masks after the first EOS of the generated region take that EOS token (SPEC §1)."""

    def __init__(self, eos_ids: list[int], mask_id: int, gen_region: torch.Tensor):
        self.eos = upload(eos_ids, gen_region.device)
        self.mask_id, self.gen_region = mask_id, gen_region

    def __call__(self, grid: torch.Tensor) -> torch.Tensor:
        """grid [B, Nc, T] -> the same with masks after a generated EOS replaced by it."""
        if self.eos.numel() == 0:
            return grid
        gen = self.gen_region[:, None, :]
        hit = torch.isin(grid, self.eos) & gen
        seen = hit.long().cumsum(-1)
        after = (seen - hit.long()) > 0
        first_tok = grid.gather(-1, hit.long().argmax(-1, keepdim=True))
        return torch.where(after & gen & (grid == self.mask_id), first_tok, grid)

