"""K1 ``softmax_entropy``: every softmax statistic of the selected logits rows from one read.

The public function checks its arguments and calls the registered op
``torch.ops.igkernels.softmax_entropy`` (in plain eager execution its implementation ``_impl``
directly: ``_eager.call``); the implementation checks the data, picks the
backend (``igkernels.backends.registry``) and reports bad rows (``igkernels.ops.deferred``).
Its fake implementation gives ``torch.compile`` the output shapes.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from ..backends import registry
from . import _checks, _eager, deferred
from .types import BadRowError, TokenStats

_SCHEMA = ("(Tensor logits, Tensor? rows, Tensor? seeds, int seed, int num_samples, float temperature, "
           "int offset, str? backend) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)")


def softmax_entropy(logits: torch.Tensor, *, rows: torch.Tensor | Sequence[int] | None = None,
                    num_samples: int = 0, temperature: float = 0.0, seed: int | torch.Tensor = 0,
                    offset: int = 0, backend: str | None = None) -> TokenStats:
    """K1: one pass over each selected row of ``logits`` gives all of ``TokenStats``.

    logits:      [..., V] float32 / float16 / bfloat16, any leading shape and strides.
    rows:        optional int64 [R] indices (or a list of ints) into the flattened leading dims; only those rows
                 are read and the outputs have leading shape [R].
    num_samples: S >= 0 draws per row from softmax(logits / temperature), by inverse transform:
                 one uniform per draw (draw s = 0..S-1), located in the row's cumulative weights.
    temperature: 0 (every draw the argmax) or in [1e-30, 1e30].
    seed:        int in [0, 2**64), or an int64 tensor with one seed per row: of the leading
                 shape, or, when ``rows`` is given, [R], one per selected row in ``rows``' order.
    offset:      step counter in [0, 2**32) of the random streams.
    backend:     force one backend (see ``igk.available_backends``).
    Returns TokenStats with leading shape ``logits.shape[:-1]`` (or [R]).
    Raises BadRowError (a ValueError naming the row) if a selected row is all -inf or holds
    NaN / +inf: at once on CPU, at the next host sync inside ``igk.deferred_checks()``.
    """
    _checks.check_tensor("logits", logits, dtypes=_checks.LOGIT_DTYPES)
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have shape [..., V] with V >= 1, got {tuple(logits.shape)}")
    num_samples, temperature, offset = _checks.check_draws(num_samples, temperature, offset)
    lead = tuple(logits.shape[:-1])
    rows, seeds, key = _checks.check_selection(rows, seed, lead, logits.device, "logits")
    stats = _eager.call(torch.ops.igkernels.softmax_entropy, _impl, logits, rows, seeds, key, num_samples,
                        temperature, offset, backend)
    return token_stats(stats, lead, rows)


def _impl(logits: torch.Tensor, rows: Optional[torch.Tensor], seeds: Optional[torch.Tensor], seed: int,
          num_samples: int, temperature: float, offset: int, backend: Optional[str]) -> tuple[torch.Tensor, ...]:
    if logits.stride(-1) != 1:
        logits = logits.contiguous()
    if (rows.numel() if rows is not None else math.prod(logits.shape[:-1])) == 0:
        return empty_stats(0, num_samples, logits)
    x, index, offsets, keys, ctr = _checks.k1_selection(logits, rows, seeds, seed, "logits")
    _, impl = registry.resolve("softmax_entropy", backend, logits.device.type)
    stats, status = impl(x, index, offsets, keys, ctr, seed, num_samples, temperature, offset)
    deferred.report(status, lambda i: BadRowError(int(index[i]) if index is not None else i))
    return tuple(stats)


_op = torch.library.custom_op("igkernels::softmax_entropy", _impl, mutates_args=(), schema=_SCHEMA)


@_op.register_fake
def _fake(logits, rows, seeds, seed, num_samples, temperature, offset, backend):
    R = rows.shape[0] if rows is not None else math.prod(logits.shape[:-1])
    return empty_stats(R, num_samples, logits)


def token_stats(stats: tuple[torch.Tensor, ...], lead: tuple, rows: torch.Tensor | None) -> TokenStats:
    """The op's flat [R] outputs as TokenStats of leading shape ``lead`` (or [R] for selected rows)."""
    out_lead = lead if rows is None else (rows.numel(),)
    return TokenStats(*(t.reshape(out_lead + t.shape[1:]) for t in stats))


def empty_stats(R: int, num_samples: int, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Uninitialised TokenStats fields for R rows, on ``like``'s device."""
    f32, i64 = torch.float32, torch.int64
    shapes = (((R,), f32), ((R,), f32), ((R,), f32), ((R,), i64), ((R,), f32), ((R, num_samples), i64),
              ((R, num_samples), f32))
    return tuple(like.new_empty(shape, dtype=dtype) for shape, dtype in shapes)
