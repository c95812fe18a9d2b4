"""The one policy for errors found in the data: when a bad row is reported, and how.

Some errors can only be seen in the values (a logits row that is all ``-inf`` or holds
NaN/+inf, a ``rows`` index out of range, a NaN confidence). Every backend reports them the
same way, as a *status*: the position of the first offending row in the call's order, or
``NO_ERROR``; a Python int where the kernel ran on the host, an int64 tensor on the data's
device otherwise. ``report`` turns a status into the op's exception:

* host data (CPU tensors): at once, inside the call;
* device data (a GPU): reading the status back is a host sync, so inside
  ``deferred_checks()`` the status is only kept, and checked at the next host sync the caller
  already makes (``pending()`` gives the statuses to fetch with it, ``check(values)`` raises)
  or, at the latest, when the block exits; outside such a block the call reads it back at
  once (one sync per call).

Either way the exception and its message are those the op raises on CPU. Pending statuses
live in a context variable: each thread (and asyncio task) has its own.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator, NamedTuple

import torch

from .types import BadRowError

NO_ERROR = 2 ** 63 - 1

#: Device types whose tensors the host reads without a sync (tests widen "device" to CPU).
HOST_DEVICES = frozenset({"cpu"})


class _Pending(NamedTuple):
    status: torch.Tensor                   # int64 [1] on the device
    error: Callable[[int], Exception]      # the op's exception for a status value


_pending: contextvars.ContextVar[list[_Pending] | None] = contextvars.ContextVar("igk_pending", default=None)
_describe: contextvars.ContextVar[Callable[[int], str] | None] = contextvars.ContextVar("igk_describe", default=None)


def on_host(device: torch.device) -> bool:
    return device.type in HOST_DEVICES


def first_error(bad: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
    """Status of a bool vector of offending rows (no sync): the first one's position, or its
    entry of ``index`` (the smallest where ``index`` is given); NO_ERROR if none."""
    if index is None:
        index = torch.arange(bad.numel(), device=bad.device)
    if bad.numel() == 0:
        return torch.full((1,), NO_ERROR, dtype=torch.int64, device=bad.device)
    return torch.where(bad.reshape(-1), index, NO_ERROR).min(0, keepdim=True).values


@contextlib.contextmanager
def rows_described(describe: Callable[[int], str]) -> Iterator[None]:
    """Inside, a BadRowError an op reports also says ``describe(row)`` (what the row is to the
    caller, e.g. a sequence and position), even when it is raised later, at a deferred check."""
    token = _describe.set(describe)
    try:
        yield
    finally:
        _describe.reset(token)


def report(status: int | torch.Tensor, error: Callable[[int], Exception]) -> None:
    """Raise ``error(value)`` for a status that names a row, now or at the next sync (module doc)."""
    describe = _describe.get()
    if describe is not None:
        error = _described(error, describe)
    if isinstance(status, torch.Tensor):
        if not on_host(status.device):
            pending = _pending.get()
            if pending is not None:
                pending.append(_Pending(status.reshape(1), error))
                return
        status = int(status.reshape(-1)[0])
    if status != NO_ERROR:
        raise error(status)


def _described(error: Callable[[int], Exception], describe: Callable[[int], str]) -> Callable[[int], Exception]:
    def make(value: int) -> Exception:
        exc = error(value)
        if isinstance(exc, BadRowError):
            return BadRowError(exc.row, describe(exc.row))
        return exc
    return make


@contextlib.contextmanager
def deferred_checks() -> Iterator[None]:
    """Check device statuses at the caller's next sync (``pending``/``check``) or at exit."""
    token = _pending.set([])
    try:
        yield
        left = pending()
        check(left.tolist() if left is not None else [])
    finally:
        _pending.reset(token)


def pending() -> torch.Tensor | None:
    """The statuses kept so far, concatenated (int64 [n] on their device), for the caller to
    read back together with its own values in its one sync; None when there are none."""
    kept = _pending.get()
    if not kept:
        return None
    return torch.cat([p.status for p in kept])


def check(values: list[int]) -> None:
    """Raise the first kept error whose status value (read back by the caller) names a row;
    forget every kept status."""
    kept = _pending.get()
    if kept is None:
        return
    entries = list(kept)
    kept.clear()
    for p, value in zip(entries, values):
        if value != NO_ERROR:
            raise p.error(value)
