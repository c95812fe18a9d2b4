"""Fused LM head ``linear_softmax_entropy``: K1 of ``hidden @ weight.T + bias`` without the logits.

The public function checks its arguments and calls the registered op
``torch.ops.igkernels.linear_softmax_entropy`` (see ``softmax_entropy.py`` for the pattern).
Implementations: Triton (``tl.dot`` tiles, O(rows) memory), the cpu backend (BLAS row chunks
into the C++ K1, O(chunk x V) memory), the cuda backend (vocabulary tiles in PyTorch,
``igkernels.backends.tiled_head``), and the reference, which forms the logits and runs the
reference K1 on them: the truth the others are tested against.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from ..backends import registry
from . import _checks, _eager, deferred
from .softmax_entropy import empty_stats, token_stats
from .types import BadRowError, TokenStats

_SCHEMA = ("(Tensor hidden, Tensor weight, Tensor? bias, Tensor? rows, Tensor? seeds, int seed, int num_samples, "
           "float temperature, int offset, str? backend) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)")
_DTYPES = (torch.bfloat16, torch.float16, torch.float32)


def linear_softmax_entropy(hidden: torch.Tensor, weight: torch.Tensor, *,
                           rows: torch.Tensor | Sequence[int] | None = None, bias: torch.Tensor | None = None,
                           num_samples: int = 0, temperature: float = 0.0, seed: int | torch.Tensor = 0,
                           offset: int = 0, backend: str | None = None) -> TokenStats:
    """K1 over the rows of ``hidden @ weight.T + bias``, computed tile by tile.

    hidden:  [..., D] bfloat16 / float16 / float32 (the final hidden states).
    weight:  [V, D] of hidden's dtype (the LM head); bias: optional [V] of that dtype.
    rows:    optional int64 [R] indices into hidden's flattened leading dims; only those rows
             are multiplied and the outputs have leading shape [R].
    num_samples, temperature, seed, offset, backend: as ``igk.softmax_entropy`` (the column of
             the random stream is the vocabulary index).
    Logits are rounded where the unfused expression rounds them (``hidden @ weight.T`` in the
    inputs' dtype, then ``+ bias``), so the result is the TokenStats of
    ``softmax_entropy(hidden @ weight.T + bias)`` within the dtype's tolerance; no [rows, V]
    tensor is formed (the reference forms it; the cpu backend forms chunks of rows).
    Raises BadRowError naming the row if a row's logits hold NaN / +inf.
    """
    _checks.check_tensor("hidden", hidden, dtypes=_DTYPES)
    if hidden.dim() < 1 or hidden.shape[-1] < 1:
        raise ValueError(f"hidden must have shape [..., D] with D >= 1, got {tuple(hidden.shape)}")
    D = hidden.shape[-1]
    _checks.check_tensor("weight", weight, dim=2)
    if weight.dtype != hidden.dtype:
        raise TypeError(f"weight must have hidden's dtype {hidden.dtype}, got {weight.dtype}")
    if weight.shape[1] != D or weight.shape[0] < 1:
        raise ValueError(f"weight must have shape [V, {D}] with V >= 1, got {tuple(weight.shape)}")
    _checks.same_device("weight", weight, hidden, "hidden")
    if bias is not None:
        _checks.check_tensor("bias", bias, dim=1)
        if bias.dtype != hidden.dtype:
            raise TypeError(f"bias must have hidden's dtype {hidden.dtype}, got {bias.dtype}")
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(f"bias must have shape [{weight.shape[0]}] (weight's V), got {tuple(bias.shape)}")
        _checks.same_device("bias", bias, hidden, "hidden")
    num_samples, temperature, offset = _checks.check_draws(num_samples, temperature, offset)
    lead = tuple(hidden.shape[:-1])
    rows, seeds, key = _checks.check_selection(rows, seed, lead, hidden.device, "hidden")
    stats = _eager.call(torch.ops.igkernels.linear_softmax_entropy, _impl, hidden, weight, bias, rows, seeds,
                        key, num_samples, temperature, offset, backend)
    return token_stats(stats, lead, rows)


def _impl(hidden: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], rows: Optional[torch.Tensor],
          seeds: Optional[torch.Tensor], seed: int, num_samples: int, temperature: float, offset: int,
          backend: Optional[str]) -> tuple[torch.Tensor, ...]:
    index, keys, ctr = _checks.selected(rows, seeds, seed, tuple(hidden.shape[:-1]), "hidden", hidden.device)
    if index.numel() == 0:
        return empty_stats(0, num_samples, hidden)
    h2 = hidden.reshape(-1, hidden.shape[-1])
    _, impl = registry.resolve("linear_softmax_entropy", backend, hidden.device.type)
    stats, status = impl(h2 if h2.stride(-1) == 1 else h2.contiguous(), index,
                         weight if weight.stride(-1) == 1 else weight.contiguous(),
                         bias.contiguous() if bias is not None else None, keys, ctr, num_samples, temperature,
                         offset)
    deferred.report(status, lambda i: BadRowError(int(index[i])))
    return tuple(stats)


_op = torch.library.custom_op("igkernels::linear_softmax_entropy", _impl, mutates_args=(), schema=_SCHEMA)


@_op.register_fake
def _fake(hidden, weight, bias, rows, seeds, seed, num_samples, temperature, offset, backend):
    R = rows.shape[0] if rows is not None else math.prod(hidden.shape[:-1])
    return empty_stats(R, num_samples, hidden)
