"""The CUDA backend: kernels in ``csrc/cuda/``, bindings in ``python/cuda_bindings.cpp``,
built into ``igkernels._C_cuda`` by ``pip install`` when ``nvcc`` is found.

This module adapts tensors to the raw-pointer bindings (device pointers, sizes, dtype codes
and torch's current stream as integers) and registers the backend for CUDA tensors. Importing
it never fails: without the extension or without a GPU the backend is simply unavailable, and
``igk.available_backends()`` / an explicit ``backend="cuda"`` say why.

Bad rows (NaN/+inf, or entirely -inf). The kernels lower a device status word to the first bad
row. By default each call reads that word back (one 8-byte device-to-host copy, so one host
sync per call) and raises the reference's ``ValueError``. Inside ``with deferred_checks():``
the words are kept instead and read in one copy when the block exits, so a hot loop adds no
syncs; the error then names the first bad row of the first call that had one. Not
thread-safe: the deferral is module state.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

import torch

from . import dispatch
from .types import BadRowError, Candidates, TokenStats

_DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
_NO_BAD_ROW = 2 ** 63 - 1
_deferred: list[tuple[torch.Tensor, torch.Tensor | None]] | None = None


def _ext():
    from . import _C_cuda
    return _C_cuda


@contextlib.contextmanager
def deferred_checks() -> Iterator[None]:
    """Check the CUDA kernels' bad-row flags once, when the block exits, instead of per call."""
    global _deferred
    outer, _deferred = _deferred, []
    try:
        yield
    except BaseException:
        _deferred = outer
        raise
    pending, _deferred = _deferred, outer
    _check(pending)


def _check(pending: list[tuple[torch.Tensor, torch.Tensor | None]]) -> None:
    if not pending:
        return
    firsts = torch.cat([status for status, _ in pending]).cpu()  # the one host sync
    for (_, rows), i in zip(pending, firsts.tolist()):
        if i != _NO_BAD_ROW:
            row = int(rows[i]) if rows is not None else i
            raise BadRowError(row)


def _status_checked(status: torch.Tensor, rows: torch.Tensor | None) -> None:
    if _deferred is not None:
        _deferred.append((status, rows))
    else:
        _check([(status, rows)])


def _stream(device: torch.device) -> int:
    return torch.cuda.current_stream(device).cuda_stream


def softmax_entropy(logits: torch.Tensor, rows: torch.Tensor, offsets: torch.Tensor, keys: torch.Tensor,
                    ctr: torch.Tensor, num_samples: int, temperature: float, offset: int) -> TokenStats:
    C = _ext()
    dev = logits.device
    R, S, V = rows.numel(), num_samples, logits.shape[-1]
    code = _DTYPE_CODES[logits.dtype]
    with torch.cuda.device(dev):
        f32 = dict(dtype=torch.float32, device=dev)
        ent, lse, maxp, second = (torch.empty(R, **f32) for _ in range(4))
        amax = torch.empty(R, dtype=torch.int64, device=dev)
        samples = torch.empty(R, S, dtype=torch.int64, device=dev)
        sprob = torch.empty(R, S, **f32)
        status = torch.full((1,), _NO_BAD_ROW, dtype=torch.int64, device=dev)
        ws_bytes = C.softmax_entropy_workspace(code, V, R, S, temperature)
        ws = torch.empty(max(ws_bytes, 1), dtype=torch.uint8, device=dev)
        offsets, keys, ctr = offsets.contiguous(), keys.contiguous(), ctr.contiguous()
        C.softmax_entropy(logits.data_ptr(), code, V, R, offsets.data_ptr(), keys.data_ptr(), ctr.data_ptr(),
                          S, temperature, offset, ent.data_ptr(), lse.data_ptr(), maxp.data_ptr(),
                          amax.data_ptr(), second.data_ptr(), samples.data_ptr(), sprob.data_ptr(),
                          status.data_ptr(), ws.data_ptr(), ws_bytes, _stream(dev))
    _status_checked(status, rows)
    return TokenStats(ent, lse, maxp, amax, second, samples, sprob)


def state_uncertainty(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    C = _ext()
    dev = logits.device
    B, T, V = logits.shape
    code = _DTYPE_CODES[logits.dtype]
    with torch.cuda.device(dev):
        out = torch.empty(B, dtype=torch.float32, device=dev)
        if T == 0:
            return out.zero_()
        status = torch.full((1,), _NO_BAD_ROW, dtype=torch.int64, device=dev)
        ws_bytes = C.state_uncertainty_workspace(code, B, T, V)
        ws = torch.empty(max(ws_bytes, 1), dtype=torch.uint8, device=dev)
        mask_u8 = mask.contiguous().view(torch.uint8)
        C.state_uncertainty(logits.data_ptr(), code, B, T, V, logits.stride(0), logits.stride(1),
                            mask_u8.data_ptr(), out.data_ptr(), status.data_ptr(), ws.data_ptr(), ws_bytes,
                            _stream(dev))
    _status_checked(status, None)
    return out


def sample_candidates(confidence: torch.Tensor, valid: torch.Tensor, k: int, num_candidates: int,
                      position_temperature: float, keys: torch.Tensor, ctr: torch.Tensor,
                      offset: int) -> Candidates:
    C = _ext()
    dev = valid.device
    B, T = valid.shape
    N = num_candidates
    if T == 0 or T > C.sample_candidates_max_positions():
        # Nothing to sort, or more positions than one block sorts in shared memory.
        from . import reference
        return reference.sample_candidates(confidence, valid, k, N, position_temperature, keys, ctr, offset)
    if confidence.stride(-1) != 1:
        confidence = confidence.contiguous()
    with torch.cuda.device(dev):
        positions = torch.empty(B, N, k, dtype=torch.int64, device=dev)
        unique = torch.empty(B, N, dtype=torch.bool, device=dev)
        valid_u8 = valid.contiguous().view(torch.uint8)
        keys, ctr = keys.contiguous(), ctr.contiguous()
        C.sample_candidates(confidence.data_ptr(), confidence.stride(0), confidence.stride(1), valid_u8.data_ptr(),
                            B, N, T, k, position_temperature, keys.data_ptr(), ctr.data_ptr(), offset,
                            positions.data_ptr(), unique.data_ptr(), _stream(dev))
    return Candidates(positions, unique)


def _load():
    try:
        _ext()
    except ImportError as exc:
        raise RuntimeError("the CUDA extension igkernels._C_cuda is not built (pip install builds it when "
                           f"nvcc is found): {exc}") from None
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device is visible to torch")
    return sys.modules[__name__]


dispatch.register_backend("cuda", priority={"cuda": 100}, load=_load)
