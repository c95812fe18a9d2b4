"""linear_softmax_entropy (the fused LM head): every backend against the reference, the
straightforward PyTorch code, the matmul alone (the floor a fused head aims at) and the
unfused pair (the matmul, then ``igk.softmax_entropy`` on the automatic backend).

    python -m pytest benchmarks/bench_linear_softmax_entropy.py   # or python benchmarks/table.py
"""
from __future__ import annotations

from typing import Any, Callable

import harness

import igkernels as igk

BASELINES = ("naive", "matmul", "unfused")


def cases(profile: str) -> list[harness.Case]:
    """Every LM head shape of the profile, without and with one draw per row."""
    return [harness.Case("linear_softmax_entropy", profile, shape, S) for shape in harness.HEADS[profile]
            for S in (0, 1)]


def describe(case: harness.Case) -> dict:
    """The case's sizes and the floating-point operations of its matmul."""
    R, D, V, dtype = harness.HEADS[case.profile][case.shape]
    return dict(R=R, D=D, V=V, dtype=str(dtype), flops=2 * R * D * V)


def call(case: harness.Case, impl: str) -> Callable[[], Any]:
    """One call of ``impl`` (one of ``BASELINES`` or a backend) on the case's inputs."""
    h, w = harness.head(case.profile, case.shape)
    S, temperature = case.num_samples, case.temperature
    if impl == "naive":
        return lambda: harness.naive_linear_softmax_entropy(h, w, S, temperature)
    if impl == "matmul":
        return lambda: h @ w.T
    if impl == "unfused":
        return lambda: igk.softmax_entropy(h @ w.T, num_samples=S, temperature=temperature, seed=1)
    return lambda: igk.linear_softmax_entropy(h, w, num_samples=S, temperature=temperature, seed=1, backend=impl)


def measure(case: harness.Case, impl: str, benchmark: Any = None) -> float:
    """Median ms of ``impl`` on ``case`` (through pytest-benchmark's fixture when given)."""
    return harness.measure(case, impl, call(case, impl), benchmark)


@harness.parametrize(cases(harness.PROFILE), BASELINES)
def test_linear_softmax_entropy(benchmark, case: harness.Case, impl: str) -> None:
    measure(case, impl, benchmark)
