"""state_uncertainty (K2): every backend against the reference and the straightforward PyTorch
code (softmax over every row, entropy, masked mean).

    python -m pytest benchmarks/bench_state_uncertainty.py   # or python benchmarks/table.py
"""
from __future__ import annotations

from typing import Any, Callable

import harness

import igkernels as igk


def cases(profile: str) -> list[harness.Case]:
    """The profile's logits shapes of a lookahead step ([B, T, V], part of the rows masked)."""
    return [harness.Case("state_uncertainty", profile, shape)
            for shape, (lead, *_) in harness.LOGITS[profile].items() if len(lead) == 2]


def describe(case: harness.Case) -> dict:
    """The case's sizes and the bytes of logits it reads (the masked rows)."""
    logits, mask = harness.logits(case.profile, case.shape)
    B, T, V = logits.shape
    masked = int(mask.sum())
    return dict(B=B, T=T, V=V, masked_rows=masked, bytes=masked * V * logits.element_size())


def call(case: harness.Case, impl: str) -> Callable[[], Any]:
    """One call of ``impl`` ("naive" or a backend) on the case's inputs."""
    logits, mask = harness.logits(case.profile, case.shape)
    if impl == "naive":
        return lambda: harness.naive_state_uncertainty(logits, mask)
    return lambda: igk.state_uncertainty(logits, mask, backend=impl)


def measure(case: harness.Case, impl: str, benchmark: Any = None) -> float:
    """Median ms of ``impl`` on ``case`` (through pytest-benchmark's fixture when given)."""
    return harness.measure(case, impl, call(case, impl), benchmark)


@harness.parametrize(cases(harness.PROFILE))
def test_state_uncertainty(benchmark, case: harness.Case, impl: str) -> None:
    measure(case, impl, benchmark)
