"""softmax_entropy (K1): every backend against the reference and the straightforward PyTorch code.

    python -m pytest benchmarks/bench_softmax_entropy.py   # or python benchmarks/table.py
"""
from __future__ import annotations

from typing import Any, Callable

import harness

import igkernels as igk


def cases(profile: str) -> list[harness.Case]:
    """Every logits shape of the profile, without and with one draw per row (at temperature 1,
    and at 0.7, where the draws' tempered weights cost one more exp per logit); a shape with
    two leading dims (a lookahead step) reads only its selected rows."""
    return [harness.Case("softmax_entropy", profile, shape, S, T) for shape in harness.LOGITS[profile]
            for S, T in ((0, None), (1, None), (1, 0.7))]


def describe(case: harness.Case) -> dict:
    """The case's sizes and the bytes of logits it reads."""
    logits, rows = _inputs(case)
    R = logits.shape[0] if rows is None else rows.numel()
    V = logits.shape[-1]
    return dict(R=R, V=V, S=case.num_samples, temperature=case.temperature, dtype=str(logits.dtype),
                bytes=R * V * logits.element_size())


def _inputs(case: harness.Case):
    logits, mask = harness.logits(case.profile, case.shape)
    return logits, (mask.reshape(-1).nonzero().squeeze(-1) if mask.dim() > 1 else None)


def call(case: harness.Case, impl: str) -> Callable[[], Any]:
    """One call of ``impl`` ("naive", "read" or a backend) on the case's inputs. "read" is the
    bare read of the selected rows, ``amax(-1)``: the floor every implementation must read."""
    logits, rows = _inputs(case)
    if impl == "read":
        selected = logits if rows is None else logits.reshape(-1, logits.shape[-1])[rows]
        return lambda: selected.amax(-1)
    if impl == "naive":
        # The naive code is handed the selected rows: selecting them is not what it is timed on.
        selected = logits if rows is None else logits.reshape(-1, logits.shape[-1])[rows]
        return lambda: harness.naive_softmax_entropy(selected, case.num_samples, case.temperature)
    return lambda: igk.softmax_entropy(logits, rows=rows, num_samples=case.num_samples,
                                       temperature=case.temperature, seed=1, backend=impl)


def measure(case: harness.Case, impl: str, benchmark: Any = None) -> float:
    """Median ms of ``impl`` on ``case`` (through pytest-benchmark's fixture when given)."""
    return harness.measure(case, impl, call(case, impl), benchmark)


@harness.parametrize(cases(harness.PROFILE), baselines=("naive", "read"))
def test_softmax_entropy(benchmark, case: harness.Case, impl: str) -> None:
    measure(case, impl, benchmark)
