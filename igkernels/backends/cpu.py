"""The C++ CPU backend: kernels in ``csrc/cpu/``, bindings in ``python/``, built into ``igkernels._C``.

This module only adapts tensors to the raw-pointer bindings and registers the backend: it
allocates the outputs, makes the index tensors contiguous, and passes ``data_ptr()`` integers
(the tensors stay referenced here for the duration of each call). Kernels run on
``torch.get_num_threads()`` OpenMP threads and return the first bad row (a host int: the
status of ``igkernels.ops.deferred``). The fused LM head forms the logits of a chunk of rows at a
time (BLAS) and runs the C++ K1 on them: memory O(chunk x V), not O(rows x V), and logits rounded
exactly as the unfused expression rounds them.
When the extension was not built the package still imports; it says so once.
"""
from __future__ import annotations

import importlib.util
import types
import warnings

import torch

from ..ops.deferred import NO_ERROR
from ..ops.types import Candidates, TokenStats
from . import registry
from .native import data_ptr, dtype_code

_CHUNK_ELEMS = 1 << 22  # logits elements of one row chunk of the LM head (16 MiB in fp32)

if importlib.util.find_spec("igkernels._C") is None:
    warnings.warn("igkernels: the C++ extension igkernels._C is not built; the 'cpu' backend is "
                  "unavailable and CPU tensors use the 'reference' backend", RuntimeWarning, stacklevel=2)


def _check_vocab(V: int) -> None:
    """The C++ kernels index a row's columns with 32-bit ints."""
    if V >= 2 ** 31:
        raise ValueError(f"logits: the cpu backend reads rows of at most 2**31 - 1 entries (V), got V = {V}; "
                         "use backend='reference'")


def _status(bad: int) -> int:
    return NO_ERROR if bad < 0 else bad


def _ops(_C) -> types.SimpleNamespace:
    def softmax_entropy(logits, rows, offsets, keys, ctr, key, num_samples, temperature, offset):
        R, V, S = rows.numel() if rows is not None else logits.shape[0], logits.shape[-1], num_samples
        _check_vocab(V)
        offsets, keys, ctr = (t.contiguous() if t is not None else None for t in (offsets, keys, ctr))
        entropy, lse, max_prob, second = (torch.empty(R, dtype=torch.float32) for _ in range(4))
        argmax = torch.empty(R, dtype=torch.int64)
        samples = torch.empty(R, S, dtype=torch.int64)
        sample_prob = torch.empty(R, S, dtype=torch.float32)
        bad = _C.softmax_entropy(logits.data_ptr(), dtype_code(_C, logits.dtype), V, R, data_ptr(offsets),
                                 logits.stride(0) if rows is None else 0, data_ptr(keys), key, data_ptr(ctr), S,
                                 temperature, offset, entropy.data_ptr(), lse.data_ptr(), max_prob.data_ptr(),
                                 argmax.data_ptr(), second.data_ptr(), samples.data_ptr(), sample_prob.data_ptr(),
                                 torch.get_num_threads())
        return TokenStats(entropy, lse, max_prob, argmax, second, samples, sample_prob), _status(bad)

    def state_uncertainty(logits, mask):
        B, T, V = logits.shape
        _check_vocab(V)
        mask = mask.contiguous()
        out = torch.empty(B, dtype=torch.float32)
        bad = _C.state_uncertainty(logits.data_ptr(), dtype_code(_C, logits.dtype), B, T, V, logits.stride(0),
                                   logits.stride(1), mask.data_ptr(), out.data_ptr(), torch.get_num_threads())
        return out, _status(bad)

    def sample_candidates(confidence, valid, k, seq_k, num_candidates, position_temperature, keys, ctr, offset):
        B, N, T = confidence.shape
        valid, keys, ctr = valid.contiguous(), keys.contiguous(), ctr.contiguous()
        seq_k = seq_k.contiguous() if seq_k is not None else None
        positions = torch.empty(B, N, k, dtype=torch.int64)
        unique = torch.empty(B, N, dtype=torch.bool)
        _C.sample_candidates(confidence.data_ptr(), *confidence.stride(), valid.data_ptr(), B, N, T, k,
                             data_ptr(seq_k), position_temperature, keys.data_ptr(), ctr.data_ptr(), offset,
                             positions.data_ptr(), unique.data_ptr(), torch.get_num_threads())
        return Candidates(positions, unique)

    def linear_softmax_entropy(hidden, rows, weight, bias, keys, ctr, num_samples, temperature, offset):
        V = weight.shape[0]
        step = max(1, _CHUNK_ELEMS // V)
        parts, status = [], NO_ERROR
        for lo in range(0, rows.numel(), step):
            logits = hidden[rows[lo:lo + step]] @ weight.T
            if bias is not None:
                logits = logits + bias
            n = logits.shape[0]
            stats, bad = softmax_entropy(logits, None, None, keys[lo:lo + n], ctr[lo:lo + n], 0, num_samples,
                                         temperature, offset)
            status = min(status, lo + bad) if bad != NO_ERROR else status
            parts.append(stats)
        return TokenStats(*(torch.cat(f) for f in zip(*parts))), status

    return types.SimpleNamespace(softmax_entropy=softmax_entropy, state_uncertainty=state_uncertainty,
                                 sample_candidates=sample_candidates, linear_softmax_entropy=linear_softmax_entropy,
                                 isa=_C.isa)


def _load():
    from .. import _C
    return _ops(_C)


registry.register_backend("cpu", priority={"cpu": 100}, load=_load)
