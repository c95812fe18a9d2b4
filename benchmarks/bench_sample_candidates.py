"""sample_candidates (K3): every backend against the reference and the straightforward PyTorch
code (one top-k per candidate).

    python -m pytest benchmarks/bench_sample_candidates.py   # or python benchmarks/table.py
"""
from __future__ import annotations

from typing import Any, Callable

import harness

import igkernels as igk

# The decoder's default temperature of the candidate position draws.
POSITION_TEMPERATURE = 0.1


def cases(profile: str) -> list[harness.Case]:
    """Every candidate-set shape of the profile (B sequences of T positions, N sets of k)."""
    return [harness.Case("sample_candidates", profile, shape) for shape in harness.CONFIDENCES[profile]]


def describe(case: harness.Case) -> dict:
    """The case's sizes."""
    B, T, N, k = harness.CONFIDENCES[case.profile][case.shape]
    return dict(B=B, T=T, N=N, k=k)


def call(case: harness.Case, impl: str) -> Callable[[], Any]:
    """One call of ``impl`` ("naive" or a backend) on the case's inputs."""
    confidence, valid = harness.confidences(case.profile, case.shape)
    _, _, N, k = harness.CONFIDENCES[case.profile][case.shape]
    if impl == "naive":
        return lambda: harness.naive_sample_candidates(confidence, valid, k, N, POSITION_TEMPERATURE)
    return lambda: igk.sample_candidates(confidence, valid, k=k, num_candidates=N,
                                         position_temperature=POSITION_TEMPERATURE, seed=3, backend=impl)


def measure(case: harness.Case, impl: str, benchmark: Any = None) -> float:
    """Median ms of ``impl`` on ``case`` (through pytest-benchmark's fixture when given)."""
    return harness.measure(case, impl, call(case, impl), benchmark)


@harness.parametrize(cases(harness.PROFILE))
def test_sample_candidates(benchmark, case: harness.Case, impl: str) -> None:
    measure(case, impl, benchmark)
