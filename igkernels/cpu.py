"""The C++ CPU backend: kernels in ``csrc/``, bindings in ``python/``, built into ``igkernels._C``.

This module only adapts tensors to the raw-pointer bindings and registers the backend:
it allocates the outputs, makes the index tensors contiguous, and passes ``data_ptr()``
integers (the tensors stay referenced here for the duration of each call). Kernels run
on ``torch.get_num_threads()`` OpenMP threads.
When the extension was not built the package still imports; it says so once.
"""
from __future__ import annotations

import importlib.util
import types
import warnings

import torch

from . import dispatch
from .types import BadRowError, Candidates, TokenStats

if importlib.util.find_spec("igkernels._C") is None:
    warnings.warn("igkernels: the C++ extension igkernels._C is not built; the 'cpu' backend is "
                  "unavailable and CPU tensors use the 'reference' backend", RuntimeWarning, stacklevel=2)

_DTYPE_CODE = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}


def _ops(_C) -> types.SimpleNamespace:
    def softmax_entropy(logits, rows, offsets, keys, ctr, num_samples, temperature, offset) -> TokenStats:
        R, V, S = rows.numel(), logits.shape[-1], num_samples
        offsets, keys, ctr = offsets.contiguous(), keys.contiguous(), ctr.contiguous()
        stats = torch.empty(4, R, dtype=torch.float32)
        argmax = torch.empty(R, dtype=torch.int64)
        samples = torch.empty(R, S, dtype=torch.int64)
        sample_prob = torch.empty(R, S, dtype=torch.float32)
        entropy, lse, max_prob, second = stats.unbind(0)
        bad = _C.softmax_entropy(logits.data_ptr(), _DTYPE_CODE[logits.dtype], V, R, offsets.data_ptr(),
                                 keys.data_ptr(), ctr.data_ptr(), S, temperature, offset, entropy.data_ptr(),
                                 lse.data_ptr(), max_prob.data_ptr(), argmax.data_ptr(), second.data_ptr(),
                                 samples.data_ptr(), sample_prob.data_ptr(), torch.get_num_threads())
        if bad >= 0:
            raise BadRowError(int(rows[bad]))
        return TokenStats(entropy, lse, max_prob, argmax, second, samples, sample_prob)

    def state_uncertainty(logits, mask) -> torch.Tensor:
        B, T, V = logits.shape
        mask = mask.contiguous()
        out = torch.empty(B, dtype=torch.float32)
        bad = _C.state_uncertainty(logits.data_ptr(), _DTYPE_CODE[logits.dtype], B, T, V, logits.stride(0),
                                   logits.stride(1), mask.data_ptr(), out.data_ptr(), torch.get_num_threads())
        if bad >= 0:
            raise BadRowError(bad)
        return out

    def sample_candidates(confidence, valid, k, num_candidates, position_temperature, keys, ctr,
                          offset) -> Candidates:
        B, N, T = confidence.shape
        valid, keys, ctr = valid.contiguous(), keys.contiguous(), ctr.contiguous()
        positions = torch.empty(B, N, k, dtype=torch.int64)
        unique = torch.empty(B, N, dtype=torch.bool)
        _C.sample_candidates(confidence.data_ptr(), *confidence.stride(), valid.data_ptr(), B, N, T, k,
                             position_temperature, keys.data_ptr(), ctr.data_ptr(), offset,
                             positions.data_ptr(), unique.data_ptr(), torch.get_num_threads())
        return Candidates(positions, unique)

    return types.SimpleNamespace(softmax_entropy=softmax_entropy, state_uncertainty=state_uncertainty,
                                 sample_candidates=sample_candidates, isa=_C.isa)


def _load():
    from . import _C
    return _ops(_C)


dispatch.register_backend("cpu", priority={"cpu": 100}, load=_load)
