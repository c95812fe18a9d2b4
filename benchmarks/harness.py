"""The one harness of the op benchmarks (``bench_<op>.py``, ``table.py``, ``gpu_check.py``).

* profiles: the shapes and device of a run. ``cpu`` / ``cuda`` are what the pytest benchmarks
  measure on the device present (the ``cuda`` shapes are ``gpu_check.py``'s); ``tiny`` is
  ``gpu_check.py --dry-run``'s, on the CPU, to check the script where no GPU is present;
* inputs: deterministic (one generator per named input), random, never all zeros;
* the implementations measured: the straightforward PyTorch baselines and every backend
  available on the device except interpreted Triton;
* the one timer (``time_ms``);
* the straightforward PyTorch baselines ("naive"), written once.
"""
from __future__ import annotations

import functools
import math
import os
import statistics
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import pytest
import torch

import igkernels as igk

PROFILE = "cuda" if torch.cuda.is_available() else "cpu"
DEVICES = {"cpu": "cpu", "cuda": "cuda", "tiny": "cpu"}

# Logits: name -> (leading shape, V, dtype, fraction of rows selected). gpu_check.py takes
# the cuda and tiny entries in this order: many rows, few rows, a lookahead step.
LOGITS = {
    "cpu": {"rows512-V32000-fp32": ((512,), 32000, torch.float32, 1.0),
            "rows512-V126464-bf16": ((512,), 126464, torch.bfloat16, 1.0),
            "lookahead8x256-V126464-bf16": ((8, 256), 126464, torch.bfloat16, 0.5)},
    "cuda": {"rows4096-V126464-bf16": ((4096,), 126464, torch.bfloat16, 1.0),
             "rows64-V126464-bf16": ((64,), 126464, torch.bfloat16, 1.0),
             "lookahead8x256-V126464-bf16": ((8, 256), 126464, torch.bfloat16, 0.5)},
    "tiny": {"rows8-V1000-bf16": ((8,), 1000, torch.bfloat16, 1.0),
             "rows2-V1000-bf16": ((2,), 1000, torch.bfloat16, 1.0),
             "lookahead2x8-V1000-bf16": ((2, 8), 1000, torch.bfloat16, 0.5)},
}
# Candidate position sets: name -> (B, T, N candidates, k positions each).
CONFIDENCES = {
    "cpu": {"B16-T1024-N8-k4": (16, 1024, 8, 4), "B64-T1024-N8-k32": (64, 1024, 8, 32)},
    "cuda": {"B16-T1024-N8-k4": (16, 1024, 8, 4)},
    "tiny": {"B2-T64-N4-k2": (2, 64, 4, 2)},
}
# LM heads: name -> (rows R, width D, V, dtype). gpu_check.py takes the cuda and tiny entries
# in this order: many rows, few rows. On the CPU fp32: its bf16 matmul alone takes seconds.
HEADS = {
    "cpu": {"rows64-D1024-V32000-fp32": (64, 1024, 32000, torch.float32)},
    "cuda": {"rows2048-D4096-V126464-bf16": (2048, 4096, 126464, torch.bfloat16),
             "rows256-D4096-V126464-bf16": (256, 4096, 126464, torch.bfloat16)},
    "tiny": {"rows16-D32-V301-bf16": (16, 32, 301, torch.bfloat16),
             "rows8-D32-V301-bf16": (8, 32, 301, torch.bfloat16)},
}

# Every core, as a serving process would use them (torch's default is the physical cores).
torch.set_num_threads(os.cpu_count() or 1)


@dataclass(frozen=True)
class Case:
    """One benchmark case: an op on one named shape of a profile, with S draws where it samples
    (at temperature ``draw_temperature``, default 1)."""
    op: str
    profile: str
    shape: str
    num_samples: int | None = None
    draw_temperature: float | None = None

    @property
    def device(self) -> str:
        return DEVICES[self.profile]

    @property
    def temperature(self) -> float:
        if not self.num_samples:
            return 0.0
        return 1.0 if self.draw_temperature is None else self.draw_temperature

    @property
    def group(self) -> str:
        """The pytest-benchmark group: the implementations of one case side by side."""
        return f"{self.op} {self.shape}" + ("" if self.num_samples is None else f" S={self.num_samples}") + (
            "" if self.draw_temperature is None else f" T={self.draw_temperature}")

    def __str__(self) -> str:  # the pytest id, which -k selects on
        name = self.shape if self.num_samples is None else f"{self.shape}-S{self.num_samples}"
        return name if self.draw_temperature is None else f"{name}-T{self.draw_temperature}"


# ---------------------------------------------------------------- inputs
def randn(name: str, shape: tuple[int, ...], device: str, dtype: torch.dtype = torch.bfloat16,
          scale: float = 1.0) -> torch.Tensor:
    """Normal values times ``scale``, the same for the same ``name`` on every run."""
    return (torch.randn(shape, generator=_generator(name, device), device=device) * scale).to(dtype)


def rand(name: str, shape: tuple[int, ...], device: str) -> torch.Tensor:
    """Uniform float32 values in [0, 1), the same for the same ``name`` on every run."""
    return torch.rand(shape, generator=_generator(name, device), device=device)


def _generator(name: str, device: str) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(zlib.crc32(name.encode()))


# One input set per kind at a time: the GPU shapes are a gigabyte each.
@functools.lru_cache(maxsize=1)
def logits(profile: str, shape: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``LOGITS[profile][shape]`` (normal x 3: entropies spread as a model's) and the bool
    mask of the selected rows over the leading shape."""
    lead, V, dtype, frac = LOGITS[profile][shape]
    device = DEVICES[profile]
    x = randn(f"{profile}/{shape}/logits", lead + (V,), device, dtype, scale=3.0)
    return x, rand(f"{profile}/{shape}/mask", lead, device) < frac


@functools.lru_cache(maxsize=1)
def confidences(profile: str, shape: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Confidences [B, T] (uniform) and the valid positions [B, T] (half) of ``CONFIDENCES[profile][shape]``."""
    B, T, _, _ = CONFIDENCES[profile][shape]
    device = DEVICES[profile]
    return (rand(f"{profile}/{shape}/confidence", (B, T), device),
            rand(f"{profile}/{shape}/valid", (B, T), device) < 0.5)


@functools.lru_cache(maxsize=1)
def head(profile: str, shape: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states [R, D] and LM head weight [V, D] of ``HEADS[profile][shape]``, scaled so the
    logits have standard deviation about 4."""
    R, D, V, dtype = HEADS[profile][shape]
    device = DEVICES[profile]
    return (randn(f"{profile}/{shape}/hidden", (R, D), device, dtype),
            randn(f"{profile}/{shape}/weight", (V, D), device, dtype, scale=4 * D ** -0.5))


# ---------------------------------------------------------------- implementations
def backends(device: str) -> list[str]:
    """The backends to measure on ``device``, best first: never interpreted Triton (it would
    time the interpreter)."""
    interpreted = os.environ.get("TRITON_INTERPRET") == "1"
    return [b for b in igk.available_backends(device) if not (interpreted and b == "triton")]


def parametrize(cases: list[Case], baselines: tuple[str, ...] = ("naive",)) -> Callable:
    """Parametrize a pytest benchmark over ``cases`` x (``baselines`` + the backends of ``PROFILE``)."""
    impls = pytest.mark.parametrize("impl", list(baselines) + backends(DEVICES[PROFILE]))
    return lambda test: impls(pytest.mark.parametrize("case", cases, ids=str)(test))


# ---------------------------------------------------------------- the timer
def _rounds(impl: str) -> tuple[int, int]:
    """(warm-up calls, timed calls) on the CPU: the reference draws its Philox words on int64
    tensors, seconds per call, so it gets few."""
    return (0, 2) if impl == "reference" else (1, 7)


def time_ms(fn: Callable[[], Any], impl: str, device: str, benchmark: Any = None) -> float:
    """Median milliseconds of ``fn()``, an ``impl`` call on ``device`` tensors.

    On a GPU: ``triton.testing.do_bench`` (CUDA events, warm-up, L2 flushed by zeroing a
    256 MB buffer before each repetition). Under pytest (``benchmark``, pytest-benchmark's
    fixture) that median goes to ``extra_info["median_ms"]``, which table.py reads, and
    pytest-benchmark records one call (its wall clock would time the launches, not the GPU).
    On the CPU: pytest-benchmark's rounds under pytest; elsewhere (gpu_check.py --dry-run)
    the same rounds by ``time.perf_counter``. NaN where pytest-benchmark is disabled.
    Bad-row checks are deferred (``igk.deferred_checks``), as a decoding loop runs the ops, so
    no host sync sits between the repetitions on a GPU.
    """
    warmup, rounds = _rounds(impl)
    with igk.deferred_checks():
        if device == "cuda" and (benchmark is None or benchmark.enabled):
            from triton.testing import do_bench
            ms = float(do_bench(fn, warmup=25, rep=100, return_mode="median"))
            if benchmark is not None:
                benchmark.extra_info["median_ms"] = ms
                benchmark.pedantic(fn)
            return ms
        if benchmark is not None:
            benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=warmup)
            return benchmark.stats.stats.median * 1e3 if benchmark.stats is not None else math.nan
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e3


def measure(case: Case, impl: str, fn: Callable[[], Any], benchmark: Any = None) -> float:
    """``time_ms`` of ``fn``, ``impl`` on ``case``, grouped with the case's other implementations."""
    if benchmark is not None:
        benchmark.group = case.group
    return time_ms(fn, impl, case.device, benchmark)


# ---------------------------------------------------------------- the straightforward baselines
# One clamp for every log of a probability or of a uniform draw. It only has to keep 0 * log 0
# (and log 0 of a draw: torch.rand can return 0, never 1, so no upper clamp) from making NaN.
# 1e-30 rather than the usual 1e-12: an entry below it adds under 7e-29 to the entropy, so the
# baseline computes the value the kernels compute, where 1e-12 could shift a V = 126464 row's
# entropy by up to ~1e-5, above fp32 rounding. The cost is the same.
_CLAMP = 1e-30


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.clamp_min(_CLAMP).log()).sum(-1)


def _gumbel(like: torch.Tensor) -> torch.Tensor:
    return -torch.log(-torch.log(torch.rand_like(like).clamp_min(_CLAMP)))


def naive_softmax_entropy(logits: torch.Tensor, num_samples: int, temperature: float
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
    """softmax -> clamp -> log -> sum for the entropy, softmax again + max for the confidence,
    and ``torch.multinomial`` of the tempered softmax + gather for the draws."""
    f = logits.float()
    entropy = _entropy(torch.softmax(f, dim=-1))
    probs = torch.softmax(f, dim=-1)
    conf, argmax = probs.max(-1)
    draws = []
    if num_samples:
        x = torch.multinomial(torch.softmax(f / temperature, dim=-1), num_samples, replacement=True)
        draws.append((x, probs.gather(-1, x)))
    return entropy, conf, argmax, draws


def naive_state_uncertainty(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax and entropy of every row, then the mean over each sequence's masked rows."""
    h = _entropy(torch.softmax(logits.float(), dim=-1))
    return (h * mask).sum(-1) / mask.sum(-1).clamp(min=1)


def naive_sample_candidates(confidence: torch.Tensor, valid: torch.Tensor, k: int, num_candidates: int,
                            position_temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A top-k per candidate (candidate 0 on the confidences, the others on confidence / tau +
    Gumbel noise), positions sorted with -1 padding last, then the duplicate sets marked."""
    T = valid.shape[-1]
    found = []
    for c in range(num_candidates):
        score = confidence if c == 0 else confidence / position_temperature + _gumbel(confidence)
        top = score.masked_fill(~valid, float("-inf")).topk(min(k, T), dim=-1)
        pos = torch.where(top.values > float("-inf"), top.indices, T).sort(-1).values
        found.append(pos.masked_fill(pos == T, -1))
    positions = torch.stack(found, 1)                                           # [B, N, k]
    same = (positions[:, :, None] == positions[:, None]).all(-1)                # [B, N, N]
    return positions, ~same.tril(-1).any(-1)


def naive_linear_softmax_entropy(hidden: torch.Tensor, weight: torch.Tensor, num_samples: int,
                                 temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
    """The logits ``hidden @ weight.T``, then ``naive_softmax_entropy`` of them."""
    return naive_softmax_entropy(hidden @ weight.T, num_samples, temperature)
