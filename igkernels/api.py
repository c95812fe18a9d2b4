"""Public API: argument checks, normalisation, then one call through ``dispatch``.

Backends receive checked, normalised arguments (see ``reference.py`` for the contract)
and never see user-facing validation; every error a user can trigger is raised here,
naming the argument.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from . import dispatch
from .types import Candidates, TokenStats

LOGIT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_U32 = 2 ** 32
_U64 = 2 ** 64
_MAX_STREAMS = 2 ** 24


def _check_tensor(name: str, x, *, dtypes=None, dim=None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if dtypes is not None and x.dtype not in dtypes:
        raise TypeError(f"{name} must have dtype in {[str(d) for d in dtypes]}, got {x.dtype}")
    if dim is not None and x.dim() not in (dim if isinstance(dim, tuple) else (dim,)):
        raise ValueError(f"{name} must have {dim} dimensions, got shape {tuple(x.shape)}")
    return x


def check_int(name: str, x, lo: int, hi: int | None = None) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"{name} must be an int, got {type(x).__name__}")
    if x < lo or (hi is not None and x >= hi):
        bound = f"in [{lo}, {hi})" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {bound}, got {x}")
    return x


def check_nonneg(name: str, x) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(x).__name__}")
    x = float(x)
    if not (x >= 0.0 and x != float("inf")):
        raise ValueError(f"{name} must be finite and >= 0, got {x}")
    return x


def _same_device(name: str, x: torch.Tensor, ref: torch.Tensor, ref_name: str) -> None:
    if x.device != ref.device:
        raise ValueError(f"{name} is on {x.device} but {ref_name} is on {ref.device}")


def _keys(seed, shape: tuple, index: torch.Tensor, per_index_ok: bool):
    """Per-row Philox keys and counter rows (see ``igkernels.philox``).

    ``index`` holds the flattened indices (into ``shape``) of the rows to be drawn for.
    An int seed keys every row alike and the counter row is the row's logical index; a
    tensor of seeds (of ``shape``, or one per ``index`` entry when ``per_index_ok``) gives
    each row its own key and counter row 0.
    """
    if isinstance(seed, torch.Tensor):
        if seed.dtype != torch.int64:
            raise TypeError(f"seed must be an int or an int64 tensor, got dtype {seed.dtype}")
        if seed.device != index.device:
            raise ValueError(f"seed is on {seed.device} but the data is on {index.device}")
        if tuple(seed.shape) == tuple(shape):
            keys = seed.reshape(-1)[index]
        elif per_index_ok and tuple(seed.shape) == (index.numel(),):
            keys = seed.clone()
        else:
            raise ValueError(f"seed tensor must have shape {tuple(shape)}"
                             + (f" or ({index.numel()},)" if per_index_ok else "")
                             + f", got {tuple(seed.shape)}")
        return keys, torch.zeros_like(keys)
    seed = check_int("seed", seed, 0, _U64)
    key = seed - _U64 if seed >= 2 ** 63 else seed
    return torch.full_like(index, key), index.clone()


def select_rows(rows, lead: tuple, seed, device: torch.device, tensor_name: str):
    """Checked row selection of a [*lead, ...] tensor and the Philox key of each selected row.

    Returns (index [R] flattened row indices, leading shape of the outputs, keys [R], ctr [R]).
    """
    n = math.prod(lead)
    if rows is None:
        index, out_lead = torch.arange(n, device=device), lead
    else:
        if not isinstance(rows, torch.Tensor):
            rows = torch.as_tensor(list(rows), dtype=torch.int64, device=device)
        _check_tensor("rows", rows, dtypes=(torch.int64,), dim=1)
        if rows.device != device:
            raise ValueError(f"rows is on {rows.device} but {tensor_name} is on {device}")
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= n):
            raise ValueError(f"rows must index the {n} rows of the flattened leading dims of {tensor_name}; "
                             f"got values in [{int(rows.min())}, {int(rows.max())}]")
        index, out_lead = rows, (rows.numel(),)
    keys, ctr = _keys(seed, lead, index, per_index_ok=rows is not None)
    return index, out_lead, keys, ctr


def _row_offsets(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Element offset of each selected row, for any strides of the leading dims."""
    lead = logits.shape[:-1]
    offs = torch.zeros_like(rows)
    rem = rows
    for size, stride in zip(reversed(lead), reversed(logits.stride()[:-1])):
        offs += (rem % size) * stride
        rem = rem // size
    return offs


def softmax_entropy(logits: torch.Tensor, *, rows: torch.Tensor | Sequence[int] | None = None,
                    num_samples: int = 0, temperature: float = 0.0, seed: int | torch.Tensor = 0,
                    offset: int = 0, backend: str | None = None) -> TokenStats:
    """K1: one pass over each selected row of ``logits`` gives all of ``TokenStats``.

    logits:      [..., V] float32 / float16 / bfloat16, any leading shape and strides.
    rows:        optional int64 [R] indices into the flattened leading dims; only those rows
                 are read and the outputs have leading shape [R].
    num_samples: S >= 0 Gumbel-max draws per row (stream s = 0..S-1).
    temperature: >= 0; 0 makes every draw the argmax.
    seed:        int in [0, 2**64), or an int64 tensor with one seed per row (of the leading
                 shape, or [R] when ``rows`` is given).
    offset:      step counter in [0, 2**32) of the random streams.
    Returns TokenStats with leading shape ``logits.shape[:-1]`` (or [R]).
    Raises ValueError naming the row if a selected row is all -inf or holds NaN / +inf.
    """
    _check_tensor("logits", logits, dtypes=LOGIT_DTYPES)
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have shape [..., V] with V >= 1, got {tuple(logits.shape)}")
    num_samples = check_int("num_samples", num_samples, 0, _MAX_STREAMS)
    temperature = check_nonneg("temperature", temperature)
    offset = check_int("offset", offset, 0, _U32)
    lead = tuple(logits.shape[:-1])
    if logits.stride(-1) != 1:
        logits = logits.contiguous()
    index, out_lead, keys, ctr = select_rows(rows, lead, seed, logits.device, "logits")
    R = index.numel()
    if R == 0:
        return _empty_stats(out_lead, num_samples, logits.device)
    _, ops = dispatch.resolve(backend, logits.device.type)
    st = ops.softmax_entropy(logits, index, _row_offsets(logits, index), keys, ctr,
                             num_samples, temperature, offset)
    return TokenStats(*(t.reshape(out_lead + t.shape[1:]) for t in st))


def _empty_stats(lead: tuple, num_samples: int, device) -> TokenStats:
    f = torch.zeros(lead, dtype=torch.float32, device=device)
    i = torch.zeros(lead, dtype=torch.int64, device=device)
    return TokenStats(f, f.clone(), f.clone(), i, f.clone(),
                      torch.zeros(lead + (num_samples,), dtype=torch.int64, device=device),
                      torch.zeros(lead + (num_samples,), dtype=torch.float32, device=device))


def state_uncertainty(logits: torch.Tensor, mask: torch.Tensor, *, backend: str | None = None) -> torch.Tensor:
    """K2: U_b = mean entropy over the masked positions of sequence b (0 where none).

    logits: [B, T, V] float32 / float16 / bfloat16; mask: [B, T] bool.
    Returns [B] float32. Reads only masked rows; never writes a [B, T, V] temporary.
    """
    _check_tensor("logits", logits, dtypes=LOGIT_DTYPES, dim=3)
    _check_tensor("mask", mask, dtypes=(torch.bool,), dim=2)
    _same_device("mask", mask, logits, "logits")
    if tuple(mask.shape) != tuple(logits.shape[:2]):
        raise ValueError(f"mask must have shape {tuple(logits.shape[:2])} (logits' [B, T]), got {tuple(mask.shape)}")
    if logits.shape[-1] < 1:
        raise ValueError(f"logits must have V >= 1, got shape {tuple(logits.shape)}")
    if logits.stride(-1) != 1:
        logits = logits.contiguous()
    if logits.shape[0] == 0:
        return torch.zeros(0, dtype=torch.float32, device=logits.device)
    _, ops = dispatch.resolve(backend, logits.device.type)
    return ops.state_uncertainty(logits, mask)


def sample_candidates(confidence: torch.Tensor, valid: torch.Tensor, *, k: int, num_candidates: int,
                      position_temperature: float, seed: int | torch.Tensor = 0, offset: int = 0,
                      backend: str | None = None) -> Candidates:
    """K3: ``num_candidates`` top-k position sets per sequence in one launch.

    confidence: [B, T] float32, or [B, N, T] with one confidence row per candidate.
    valid:      [B, T] bool; invalid positions are never chosen.
    k >= 1, num_candidates = N >= 1, position_temperature >= 0.
    seed:       int, or int64 tensor [B] with one seed per sequence.
    Candidate 0 is the noiseless top-k of its confidence; candidate c >= 1 takes the top-k of
    confidence / position_temperature + Gumbel noise (stream c).
    Returns Candidates(positions [B, N, k] ascending with -1 padding, unique [B, N]).
    """
    k = check_int("k", k, 1)
    N = check_int("num_candidates", num_candidates, 1, _MAX_STREAMS)
    tau = check_nonneg("position_temperature", position_temperature)
    offset = check_int("offset", offset, 0, _U32)
    _check_tensor("confidence", confidence, dtypes=(torch.float32,), dim=(2, 3))
    _check_tensor("valid", valid, dtypes=(torch.bool,), dim=2)
    _same_device("valid", valid, confidence, "confidence")
    B, T = valid.shape
    if confidence.dim() == 2:
        confidence = confidence[:, None, :]
    if confidence.shape[0] != B or confidence.shape[2] != T or confidence.shape[1] not in (1, N):
        raise ValueError(f"confidence must have shape [B, T] or [B, num_candidates, T] matching valid "
                         f"{tuple(valid.shape)}, got {tuple(confidence.shape)}")
    if confidence.device.type == "cpu" and bool(torch.isnan(confidence).any()):
        raise ValueError("confidence holds NaN")
    confidence = confidence.expand(B, N, T)
    keys, ctr = _keys(seed, (B,), torch.arange(B, device=valid.device), per_index_ok=False)
    if B == 0:
        return Candidates(torch.zeros(0, N, k, dtype=torch.int64, device=valid.device),
                          torch.zeros(0, N, dtype=torch.bool, device=valid.device))
    _, ops = dispatch.resolve(backend, valid.device.type)
    return ops.sample_candidates(confidence, valid, k, N, tau, keys, ctr, offset)
