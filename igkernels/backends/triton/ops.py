"""The four backend functions of docs/backend_contract.md on the Triton kernels.

Each allocates its outputs, launches, and returns the call's status (``igkernels.ops.deferred``),
which the kernels leave on the device: no host sync here.
"""
from __future__ import annotations

import contextlib

import torch

from ...ops._checks import selection_tensors
from ...ops.deferred import NO_ERROR, first_error
from ...ops.types import Candidates, TokenStats
from . import linear_softmax_entropy as _head
from . import sample_candidates as _k3
from . import softmax_entropy as _k1
from . import state_uncertainty as _k2


def _device_guard(t: torch.Tensor):
    return torch.cuda.device(t.device) if t.device.type == "cuda" else contextlib.nullcontext()


def softmax_entropy(logits: torch.Tensor, rows: torch.Tensor | None, offsets: torch.Tensor | None,
                    keys: torch.Tensor | None, ctr: torch.Tensor | None, key: int, num_samples: int,
                    temperature: float, offset: int) -> tuple[TokenStats, torch.Tensor]:
    rows, offsets, keys, ctr = selection_tensors(logits, rows, offsets, keys, ctr, key)
    R, S, dev = rows.numel(), num_samples, logits.device
    f32 = dict(dtype=torch.float32, device=dev)
    ent, lse, maxp, second = (torch.empty(R, **f32) for _ in range(4))
    amax = torch.empty(R, dtype=torch.int64, device=dev)
    status = torch.full((1,), NO_ERROR, dtype=torch.int64, device=dev)
    samples = torch.empty(R, S, dtype=torch.int64, device=dev)
    sprob = torch.empty(R, S, **f32)
    with _device_guard(logits):
        _k1.launch(logits, offsets.contiguous(), keys.contiguous(), ctr.contiguous(), None,
                   ent, lse, maxp, amax, second, status, samples, sprob, S, temperature, offset)
    if S > 0 and temperature == 0.0:
        # No noise: every draw is the argmax, whose probability is max_prob.
        samples.copy_(amax[:, None].expand(R, S))
        sprob.copy_(maxp[:, None].expand(R, S))
    return TokenStats(ent, lse, maxp, amax, second, samples, sprob), status


def state_uncertainty(logits: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with _device_guard(logits):
        return _k2.launch(logits, mask)


def sample_candidates(confidence: torch.Tensor, valid: torch.Tensor, k: int, seq_k: torch.Tensor | None,
                      num_candidates: int, position_temperature: float, keys: torch.Tensor, ctr: torch.Tensor,
                      offset: int) -> Candidates:
    with _device_guard(valid):
        positions, unique = _k3.launch(confidence, valid, k, None if seq_k is None else seq_k.contiguous(),
                                       num_candidates, position_temperature, keys.contiguous(), ctr.contiguous(),
                                       offset)
    return Candidates(positions, unique)


def linear_softmax_entropy(hidden: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                           keys: torch.Tensor, ctr: torch.Tensor, num_samples: int, temperature: float,
                           offset: int) -> tuple[TokenStats, torch.Tensor]:
    with _device_guard(hidden):
        *stats, bad = _head.launch(hidden, rows.contiguous(), weight, bias, keys.contiguous(), ctr.contiguous(),
                                   num_samples, temperature, offset)
    return TokenStats(*stats), first_error(bad)
