"""Argument checks shared by the public ops, and the normalisation backends rely on.

Everything here looks only at types, shapes, devices and Python numbers, so it runs while
``torch.compile`` traces a caller. Checks that need the data (``rows`` in range, NaN
confidence) run inside the registered ops and report through ``igkernels.ops.deferred``.
Every error a user can trigger names the argument.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from . import deferred

LOGIT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: A positive temperature lies in [1e-30, 1e30]: kernels use it in fp32, where temperature x
#: Gumbel noise (|g| < 17) and confidence / temperature must stay finite and nonzero.
TEMPERATURE_RANGE = (1e-30, 1e30)
U32 = 2 ** 32
U64 = 2 ** 64
MAX_STREAMS = 2 ** 24
#: num_candidates <= 1024: each candidate costs a forward of a whole canvas, so more than this is
#: beyond any decoding budget, and the kernels keep a sequence's candidates in one block or tile.
MAX_CANDIDATES = 1024


def check_tensor(name: str, x, *, dtypes=None, dim=None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if dtypes is not None and x.dtype not in dtypes:
        raise TypeError(f"{name} must have dtype in {[str(d) for d in dtypes]}, got {x.dtype}")
    if dim is not None and x.dim() not in (dim if isinstance(dim, tuple) else (dim,)):
        dims = " or ".join(map(str, dim)) if isinstance(dim, tuple) else dim
        raise ValueError(f"{name} must have {dims} dimensions, got shape {tuple(x.shape)}")
    return x


def check_int(name: str, x, lo: int, hi: int | None = None) -> int:
    """``x`` as an int in [lo, hi) (Python or NumPy ints; not bools, which are ints too)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(x).__name__}")
    x = int(x)
    if x < lo or (hi is not None and x >= hi):
        bound = f"in [{lo}, {hi - 1}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {bound}, got {x}")
    return x


def check_nonneg(name: str, x) -> float:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(x).__name__}")
    x = float(x)
    if not (x >= 0.0 and x != float("inf")):
        raise ValueError(f"{name} must be finite and >= 0, got {x}")
    return x


def same_device(name: str, x: torch.Tensor, ref: torch.Tensor, ref_name: str) -> None:
    if x.device != ref.device:
        raise ValueError(f"{name} is on {x.device} but {ref_name} is on {ref.device}")


def check_temperature(name: str, x) -> float:
    """0 (no noise: the argmax) or a number in ``TEMPERATURE_RANGE``."""
    x = check_nonneg(name, x)
    lo, hi = TEMPERATURE_RANGE
    if x != 0.0 and not lo <= x <= hi:
        raise ValueError(f"{name} must be 0 or in [{lo:g}, {hi:g}] (it is used in float32), got {x:g}")
    return x


def check_rows(rows, device: torch.device, tensor_name: str) -> torch.Tensor | None:
    """``rows`` as an int64 [R] tensor on ``device`` (a sequence of ints is converted), or None."""
    if rows is None:
        return None
    if not isinstance(rows, torch.Tensor):
        if isinstance(rows, (str, bytes)) or not hasattr(rows, "__iter__"):
            raise TypeError(f"rows must be an int64 tensor or a sequence of ints, got {type(rows).__name__}")
        rows = list(rows)
        for r in rows:
            if isinstance(r, (bool, np.bool_)) or not isinstance(r, (int, np.integer)):
                raise TypeError(f"rows must hold ints, got {r!r} ({type(r).__name__})")
            if not -2 ** 63 <= int(r) < 2 ** 63:
                raise ValueError(f"rows must hold int64 values, got {int(r)}")
        rows = torch.as_tensor([int(r) for r in rows], dtype=torch.int64, device=device)
    check_tensor("rows", rows, dtypes=(torch.int64,), dim=1)
    if rows.device != device:
        raise ValueError(f"rows is on {rows.device} but {tensor_name} is on {device}")
    return rows


def check_seed(seed, lead: tuple, num_rows: int | None, device: torch.device) -> tuple[torch.Tensor | None, int]:
    """(per-row seeds or None, int key) of a ``seed`` argument (see ``igkernels.backends.philox``).

    An int seed in [0, 2**64) becomes its signed 64-bit key; a tensor holds one int64 seed per
    row: of the leading shape ``lead``, or, when ``num_rows`` rows are selected, [num_rows], one
    per selected row (never the leading shape then: with [n] logits and n rows selected, that
    shape would have two readings).
    """
    if isinstance(seed, torch.Tensor):
        if seed.dtype != torch.int64:
            raise TypeError(f"seed must be an int or an int64 tensor, got dtype {seed.dtype}")
        if seed.device != device:
            raise ValueError(f"seed is on {seed.device} but the data is on {device}")
        shape, what = ((num_rows,), "one seed per selected row") if num_rows is not None else \
            (tuple(lead), "one seed per row of the leading shape")
        if tuple(seed.shape) != shape:
            raise ValueError(f"seed tensor must have shape {shape} ({what}), got {tuple(seed.shape)}")
        return seed, 0
    seed = check_int("seed", seed, 0, U64)
    return None, seed - U64 if seed >= 2 ** 63 else seed


def check_draws(num_samples, temperature, offset) -> tuple[int, float, int]:
    """The checked (num_samples, temperature, offset) of a K1-style op."""
    return (check_int("num_samples", num_samples, 0, MAX_STREAMS), check_temperature("temperature", temperature),
            check_int("offset", offset, 0, U32))


def check_selection(rows, seed, lead: tuple, device: torch.device, tensor_name: str
                    ) -> tuple[torch.Tensor | None, torch.Tensor | None, int]:
    """(rows, per-row seeds, int key) of a K1-style op over rows of a tensor with leading shape ``lead``."""
    rows = check_rows(rows, device, tensor_name)
    seeds, key = check_seed(seed, lead, rows.numel() if rows is not None else None, device)
    return rows, seeds, key


def selected(rows: torch.Tensor | None, seeds: torch.Tensor | None, seed: int, lead: tuple, tensor_name: str,
             device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inside an op: (flattened indices, Philox keys, counter rows) of the selected rows."""
    index = row_index(rows, math.prod(lead), tensor_name, device)
    keys, ctr = philox_keys(seeds, seed, index)
    return index, keys, ctr


def k1_selection(x: torch.Tensor, rows: torch.Tensor | None, seeds: torch.Tensor | None, seed: int,
                 tensor_name: str) -> tuple[torch.Tensor, ...]:
    """Inside an op: what a K1 backend reads of the selected rows of ``x`` [..., V]
    (docs/backend_contract.md): (x or its [R, V] view, rows, offsets, keys, ctr), the last four
    None where the backend derives them (every row in order, one int key).

    Every row of an ``x`` whose leading dims collapse into one stride is the [R, V] view with
    no index tensors at all; selected rows of such an ``x`` cost one multiply for the offsets.
    """
    lead = tuple(x.shape[:-1])
    n = math.prod(lead)
    try:
        flat = x.view(n, x.shape[-1])
    except RuntimeError:       # leading strides that do not collapse: offsets per row
        flat = None
    keys = None if seeds is None else seeds.reshape(-1)     # [R] or the leading shape, row by row
    if rows is None and flat is not None:
        return flat, None, None, keys, None
    index = row_index(rows, n, tensor_name, x.device)
    offsets = index * flat.stride(0) if flat is not None else row_offsets(x, index)
    return x, index, offsets, keys, index if seeds is None else None


def selection_tensors(x: torch.Tensor, rows: torch.Tensor | None, offsets: torch.Tensor | None,
                      keys: torch.Tensor | None, ctr: torch.Tensor | None, key: int) -> tuple[torch.Tensor, ...]:
    """In a backend: the (rows, offsets, keys, ctr) tensors of a K1 selection whose None
    entries the backend does not derive itself (docs/backend_contract.md)."""
    if rows is None:
        rows = torch.arange(x.shape[0], device=x.device)
        offsets = rows * x.stride(0)
    if keys is None:
        keys = torch.full_like(rows, key)
        ctr = torch.arange(rows.numel(), device=x.device) if ctr is None else ctr
    elif ctr is None:
        ctr = torch.zeros_like(keys)
    return rows, offsets, keys, ctr


def row_index(rows: torch.Tensor | None, n: int, tensor_name: str, device: torch.device) -> torch.Tensor:
    """Flattened indices of the selected rows: all ``n``, or ``rows`` checked to lie in [0, n).

    A row out of range is reported through ``deferred`` (at once on the host); on a device the
    indices are clamped first, so no kernel reads outside the tensor before the error is raised.
    """
    if rows is None:
        return torch.arange(n, device=device)
    if n == 0 and rows.numel():
        raise ValueError(f"rows must index the flattened leading dims of {tensor_name}, which hold no rows; "
                         f"got {rows.numel()} rows")
    return in_range(rows, 0, n, lambda i: ValueError(
        f"rows must index the {n} rows of the flattened leading dims of {tensor_name}; got rows[{i}] = {int(rows[i])}"))


def in_range(t: torch.Tensor, lo: int, hi: int, error) -> torch.Tensor:
    """Integer tensor ``t`` [n] checked to lie in [lo, hi), ``error(i)`` naming the first entry
    outside (reported through ``deferred``). On the host the check is one reduction; on a device
    the values are also clamped, so no kernel indexes outside before the error is raised."""
    if deferred.on_host(t.device):
        low, high = torch.aminmax(t) if t.numel() else (lo, lo)
        if low < lo or high >= hi:
            raise error(int(((t < lo) | (t >= hi)).nonzero()[0, 0]))
        return t
    deferred.report(deferred.first_error((t < lo) | (t >= hi)), error)
    return t.clamp(lo, hi - 1)


def philox_keys(seeds: torch.Tensor | None, seed: int, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row Philox keys and counter rows of the rows ``index`` (flattened indices).

    An int seed keys every row alike and the counter row is the row's logical index; per-row
    seeds (one per row of ``index``, in its order) give each row its own key and counter row 0.
    """
    if seeds is None:
        return torch.full_like(index, seed), index
    keys = seeds.reshape(-1)
    return keys, torch.zeros_like(keys)


def row_offsets(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Element offset of each selected row of ``x`` [..., V], for any strides of the leading dims."""
    offs = torch.zeros_like(rows)
    rem = rows
    for size, stride in zip(reversed(x.shape[:-1]), reversed(x.stride()[:-1])):
        offs += (rem % size) * stride
        rem = rem // size
    return offs
