"""The per-step record of ``generate(..., return_history=True)``: kept on the device while
decoding, turned into plain Python once at the end (no syncs in the loop)."""
from __future__ import annotations

from .evaluate import Evaluation
from .propose import Proposal
from .schedule import DONE, KIND_NAMES, LOOKAHEAD, HostPlan
from .transition import Choice


class History:
    def __init__(self) -> None:
        self._steps: list[tuple] = []

    def record(self, step: int, host: HostPlan, proposal: Proposal, evaluation: Evaluation, choice: Choice) -> None:
        self._steps.append((step, host.kinds.tolist(), evaluation.canvases.tolist(), proposal.positions,
                            proposal.tokens, proposal.unique, choice, evaluation.uncertainty))

    def entries(self) -> list[dict]:
        """One dict per step: ``step``; ``kind`` [B] ("lookahead" | "plain" | "bypass" | "idle" |
        "done"); ``positions`` / ``tokens`` [B][k] committed; ``canvases`` [B] canvases each
        sequence sent through the model this step; ``candidates`` [B], None except for lookahead
        sequences, where it holds ``positions`` [N][k], ``unique`` [N], ``J`` [N] (-inf where not
        evaluated), ``cost`` [N] (C(a_c|x)) and ``uncertainty`` [N] (U(x'_c), 0 where not
        evaluated)."""
        return [self._entry(*s) for s in self._steps]

    @staticmethod
    def _entry(step, kinds, canvases, positions, tokens, unique, choice, U) -> dict:
        pos, tok, chosen = positions.tolist(), tokens.tolist(), choice.chosen.tolist()
        J, cost, U, uniq = choice.J.tolist(), choice.cost.tolist(), U.tolist(), unique.tolist()
        entry = {"step": step, "kind": [KIND_NAMES[k] for k in kinds], "positions": [], "tokens": [],
                 "canvases": canvases, "candidates": []}
        for b, kind in enumerate(kinds):
            c = chosen[b]
            keep = [j for j, p in enumerate(pos[b][c]) if p >= 0] if kind != DONE else []
            entry["positions"].append([pos[b][c][j] for j in keep])
            entry["tokens"].append([tok[b][c][j] for j in keep])
            entry["candidates"].append(
                {"positions": [[p for p in row if p >= 0] for row in pos[b]], "unique": uniq[b], "J": J[b],
                 "cost": cost[b], "uncertainty": U[b]} if kind == LOOKAHEAD else None)
        return entry
