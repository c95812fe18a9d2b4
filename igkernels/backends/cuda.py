"""The CUDA backend: kernels in ``csrc/cuda/``, bindings in ``python/cuda_bindings.cpp``,
built into ``igkernels._C_cuda`` by ``pip install`` when ``nvcc`` is found.

This module adapts tensors to the raw-pointer bindings (device pointers, sizes, dtype codes
and torch's current stream as integers) and registers the backend for CUDA tensors. Importing
it never fails: without the extension or without a GPU the backend is simply unavailable, and
``igk.available_backends()`` / an explicit ``backend="cuda"`` say why.

Bad rows (NaN/+inf, or entirely -inf): the kernels lower a device status word to the position
of the first bad row; that word is the op's status (``igkernels.ops.deferred`` decides when it
is read). Token draws are by inverse transform (docs/backend_contract.md): the statistics pass
keeps per-tile masses in the call's workspace, sized by ``softmax_entropy_workspace`` from the
shapes, the draw count and the temperature, and a draw re-reads one vocabulary tile. The
fused LM head is ``tiled_head`` on the GPU; Triton's kernel ranks above it.
"""
from __future__ import annotations

import sys

import torch

from ..ops.deferred import NO_ERROR
from ..ops.types import Candidates, TokenStats
from . import registry, tiled_head
from .native import data_ptr, dtype_code


def _ext():
    from .. import _C_cuda
    return _C_cuda


def _stream(device: torch.device) -> int:
    return torch.cuda.current_stream(device).cuda_stream


def softmax_entropy(logits: torch.Tensor, rows: torch.Tensor | None, offsets: torch.Tensor | None,
                    keys: torch.Tensor | None, ctr: torch.Tensor | None, key: int, num_samples: int,
                    temperature: float, offset: int) -> tuple[TokenStats, torch.Tensor]:
    """K1 (docs/backend_contract.md). rows None: ``logits`` is [R, V] and row i starts at
    i * logits.stride(0); keys None: every row's key is ``key``; ctr None: counter row i without
    keys, 0 with them. The kernels derive what is None, so that call launches only the status
    fill and the K1 kernels."""
    C = _ext()
    dev = logits.device
    R, S, V = rows.numel() if rows is not None else logits.shape[0], num_samples, logits.shape[-1]
    code = dtype_code(C, logits.dtype)
    key = key - (1 << 64) if key >= 1 << 63 else key   # the unsigned key's bits as an int64
    with torch.cuda.device(dev):
        f32 = dict(dtype=torch.float32, device=dev)
        ent, lse, maxp, second = (torch.empty(R, **f32) for _ in range(4))
        amax = torch.empty(R, dtype=torch.int64, device=dev)
        samples = torch.empty(R, S, dtype=torch.int64, device=dev)
        sprob = torch.empty(R, S, **f32)
        status = torch.full((1,), NO_ERROR, dtype=torch.int64, device=dev)
        ws_bytes = C.softmax_entropy_workspace(code, V, R, S, temperature)
        ws = torch.empty(max(ws_bytes, 1), dtype=torch.uint8, device=dev)
        offsets, keys, ctr = (t.contiguous() if t is not None else None for t in (offsets, keys, ctr))
        C.softmax_entropy(logits.data_ptr(), code, V, R, data_ptr(offsets), logits.stride(0) if rows is None else 0,
                          data_ptr(keys), key, data_ptr(ctr), S, temperature, offset, ent.data_ptr(), lse.data_ptr(),
                          maxp.data_ptr(), amax.data_ptr(), second.data_ptr(), samples.data_ptr(), sprob.data_ptr(),
                          status.data_ptr(), ws.data_ptr(), ws_bytes, _stream(dev))
    return TokenStats(ent, lse, maxp, amax, second, samples, sprob), status


def state_uncertainty(logits: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    C = _ext()
    dev = logits.device
    B, T, V = logits.shape
    code = dtype_code(C, logits.dtype)
    with torch.cuda.device(dev):
        out = torch.empty(B, dtype=torch.float32, device=dev)
        if T == 0:
            return out.zero_(), NO_ERROR
        status = torch.full((1,), NO_ERROR, dtype=torch.int64, device=dev)
        ws_bytes = C.state_uncertainty_workspace(code, B, T, V)
        ws = torch.empty(max(ws_bytes, 1), dtype=torch.uint8, device=dev)
        mask_u8 = mask.contiguous().view(torch.uint8)
        C.state_uncertainty(logits.data_ptr(), code, B, T, V, logits.stride(0), logits.stride(1),
                            mask_u8.data_ptr(), out.data_ptr(), status.data_ptr(), ws.data_ptr(), ws_bytes,
                            _stream(dev))
    return out, status


def sample_candidates(confidence: torch.Tensor, valid: torch.Tensor, k: int, seq_k: torch.Tensor | None,
                      num_candidates: int, position_temperature: float, keys: torch.Tensor, ctr: torch.Tensor,
                      offset: int) -> Candidates:
    """K3 (docs/backend_contract.md); seq_k None or int64 [B] in [0, k]: sequence b keeps its
    first seq_k[b] picks."""
    C = _ext()
    dev = valid.device
    B, T = valid.shape
    N = num_candidates
    if T == 0 or T > C.sample_candidates_max_positions():
        # Nothing to sort, or more positions than one block sorts in shared memory.
        from . import reference
        return reference.sample_candidates(confidence, valid, k, seq_k, N, position_temperature, keys, ctr, offset)
    if confidence.stride(-1) != 1:
        confidence = confidence.contiguous()
    with torch.cuda.device(dev):
        positions = torch.empty(B, N, k, dtype=torch.int64, device=dev)
        unique = torch.empty(B, N, dtype=torch.bool, device=dev)
        valid_u8 = valid.contiguous().view(torch.uint8)
        keys, ctr = keys.contiguous(), ctr.contiguous()
        seq_k = seq_k.contiguous() if seq_k is not None else None
        C.sample_candidates(confidence.data_ptr(), confidence.stride(0), confidence.stride(1), valid_u8.data_ptr(),
                            B, N, T, k, data_ptr(seq_k), position_temperature, keys.data_ptr(), ctr.data_ptr(), offset,
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


linear_softmax_entropy = tiled_head.linear_softmax_entropy


# The GPU head here is PyTorch tiles; Triton's fused kernel (rank 50) is the better choice.
registry.register_backend("cuda", priority={"cuda": 100}, load=_load,
                          op_priority={"linear_softmax_entropy": {"cuda": 10}})
