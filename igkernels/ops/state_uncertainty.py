"""K2 ``state_uncertainty``: the mean entropy over the masked positions of each sequence.

The public function checks its arguments and calls the registered op
``torch.ops.igkernels.state_uncertainty`` (see ``softmax_entropy.py`` for the pattern).
"""
from __future__ import annotations

from typing import Optional

import torch

from ..backends import registry
from . import _checks, _eager, deferred
from .types import BadRowError


def state_uncertainty(logits: torch.Tensor, mask: torch.Tensor, *, backend: str | None = None) -> torch.Tensor:
    """K2: U_b = mean entropy over the masked positions of sequence b (0 where none).

    logits: [B, T, V] float32 / float16 / bfloat16; mask: [B, T] bool.
    Returns [B] float32. Reads only masked rows; never writes a [B, T, V] temporary.
    Raises BadRowError naming the flattened row (b * T + t) of a masked row that is all -inf
    or holds NaN / +inf (when: as ``softmax_entropy``).
    """
    _checks.check_tensor("logits", logits, dtypes=_checks.LOGIT_DTYPES, dim=3)
    _checks.check_tensor("mask", mask, dtypes=(torch.bool,), dim=2)
    _checks.same_device("mask", mask, logits, "logits")
    if tuple(mask.shape) != tuple(logits.shape[:2]):
        raise ValueError(f"mask must have shape {tuple(logits.shape[:2])} (logits' [B, T]), got {tuple(mask.shape)}")
    if logits.shape[-1] < 1:
        raise ValueError(f"logits must have V >= 1, got shape {tuple(logits.shape)}")
    return _eager.call(torch.ops.igkernels.state_uncertainty, _impl, logits, mask, backend)


def _impl(logits: torch.Tensor, mask: torch.Tensor, backend: Optional[str]) -> torch.Tensor:
    if logits.shape[0] == 0:
        return torch.zeros(0, dtype=torch.float32, device=logits.device)
    if logits.stride(-1) != 1:
        logits = logits.contiguous()
    _, impl = registry.resolve("state_uncertainty", backend, logits.device.type)
    out, status = impl(logits, mask)
    deferred.report(status, BadRowError)
    return out


_op = torch.library.custom_op("igkernels::state_uncertainty", _impl, mutates_args=(),
                              schema="(Tensor logits, Tensor mask, str? backend) -> Tensor")


@_op.register_fake
def _fake(logits, mask, backend):
    return logits.new_empty(logits.shape[0], dtype=torch.float32)
