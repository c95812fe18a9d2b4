"""The one dispatch point: backends register here, every op call is routed from here.

A backend is a name, the device types it runs on with a priority for each (higher wins the
automatic choice), and a loader returning an object whose attributes are the ops it
implements (``softmax_entropy``, ``state_uncertainty``, ``sample_candidates``,
``linear_softmax_entropy``: the signatures of ``docs/backend_contract.md``). A backend may
rank one op differently (``op_priority``), e.g. a backend whose LM head is only a
fallback. Loaders run lazily, once; a loader that raises makes the backend unavailable, with
its message as the reason.

Choice, first match wins: ``backend=`` of the call, ``use_backend(...)``, the
``IGK_BACKEND`` environment variable, then the available backend of highest priority for the
tensors' device that implements the op. An explicitly chosen backend that cannot run the op
raises and says why.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

OPS = ("softmax_entropy", "state_uncertainty", "sample_candidates", "linear_softmax_entropy")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("igk_backend", default=None)


class BackendUnavailableError(RuntimeError):
    """An explicitly requested backend cannot run here."""


@dataclass
class _Backend:
    name: str
    priority: dict[str, int]
    load: Callable[[], object]
    op_priority: dict[str, dict[str, int]] = field(default_factory=dict)
    ops: object | None = None
    error: str | None = None
    loaded: bool = False

    def get(self) -> object | None:
        if not self.loaded:
            self.loaded = True
            try:
                self.ops = self.load()
            except Exception as exc:  # any loader failure means "not available", with the reason
                self.error = f"{type(exc).__name__}: {exc}"
        return self.ops

    def rank(self, op: str, device: str) -> int:
        return self.op_priority.get(op, {}).get(device, self.priority[device])

    def implements(self, op: str) -> bool:
        return self.get() is not None and callable(getattr(self.ops, op, None))


_registry: dict[str, _Backend] = {}


def register_backend(name: str, *, priority: dict[str, int], load: Callable[[], object],
                     op_priority: dict[str, dict[str, int]] | None = None) -> None:
    """Register backend ``name``; ``priority`` maps device types ("cpu", "cuda") to rank;
    ``op_priority`` overrides that rank for single ops ({op: {device: rank}})."""
    _registry[name] = _Backend(name, dict(priority), load, dict(op_priority or {}))


def unregister_backend(name: str) -> None:
    _registry.pop(name, None)


def available_backends(device: str | None = None) -> list[str]:
    """Names of the backends that can run, on ``device`` (a device type) if given, best first."""
    names = [b.name for b in _registry.values()
             if (device is None or device in b.priority) and b.get() is not None]
    if device is not None:
        names.sort(key=lambda n: -_registry[n].priority[device])
    return names


def unavailable_reason(name: str) -> str | None:
    """Why backend ``name`` cannot run here (None if it can)."""
    b = _registry.get(name)
    if b is None:
        return str(_unknown(name))
    b.get()
    return b.error


def _unknown(name) -> ValueError | TypeError:
    if not isinstance(name, str):
        return TypeError(f"backend must be a str (a backend name) or None, got {type(name).__name__}")
    return ValueError(f"backend: unknown backend {name!r}; registered: {sorted(_registry)}")


@contextlib.contextmanager
def use_backend(name: str | None) -> Iterator[None]:
    """Route calls in this context to backend ``name`` (None restores automatic choice)."""
    if name is not None and name not in _registry:
        raise _unknown(name)
    token = _current.set(name)
    try:
        yield
    finally:
        _current.reset(token)


def chosen(backend: str | None) -> str | None:
    """The explicitly chosen backend name, if any: the call's, the context's, the environment's."""
    return backend or _current.get() or os.environ.get("IGK_BACKEND") or None


def resolve(op: str, backend: str | None, device_type: str) -> tuple[str, Callable]:
    """(name, implementation) of ``op`` to run on ``device_type`` tensors."""
    name = chosen(backend)
    if name is not None:
        b = _registry.get(name)
        if b is None:
            raise _unknown(name)
        if device_type not in b.priority:
            raise BackendUnavailableError(
                f"backend {name!r} does not run on {device_type!r} tensors (runs on: {sorted(b.priority)})")
        if b.get() is None:
            raise BackendUnavailableError(f"backend {name!r} is unavailable: {b.error}")
        if not b.implements(op):
            raise BackendUnavailableError(f"backend {name!r} has no {op}")
        return name, getattr(b.ops, op)
    found = [b for b in _registry.values() if device_type in b.priority and b.implements(op)]
    if not found:
        raise BackendUnavailableError(f"no igkernels backend runs {op} on {device_type!r} tensors")
    best = max(found, key=lambda b: b.rank(op, device_type))
    return best.name, getattr(best.ops, op)
