"""The one dispatch point: backends register themselves here, calls are routed from here.

A backend is a name, the device types it runs on with a priority for each (higher wins
the automatic choice), and a loader returning an object with the three ops. Loaders run
lazily, once; a loader that raises makes the backend unavailable, with its message as
the reason.

Choice, first match wins: ``backend=`` of the call, ``use_backend(...)``, the
``IGK_BACKEND`` environment variable, then the available backend of highest priority for
the tensors' device. An explicitly chosen backend that cannot run raises and says why.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("igk_backend", default=None)


class BackendUnavailableError(RuntimeError):
    """An explicitly requested backend cannot run here."""


@dataclass
class _Backend:
    name: str
    priority: dict[str, int]
    load: Callable[[], object]
    ops: object | None = None
    error: str | None = None
    loaded: bool = field(default=False)

    def get(self) -> object | None:
        if not self.loaded:
            self.loaded = True
            try:
                self.ops = self.load()
            except Exception as exc:  # any loader failure means "not available", with the reason
                self.error = f"{type(exc).__name__}: {exc}"
        return self.ops


_registry: dict[str, _Backend] = {}


def register_backend(name: str, *, priority: dict[str, int], load: Callable[[], object]) -> None:
    """Register backend ``name``; ``priority`` maps device types ("cpu", "cuda") to rank."""
    _registry[name] = _Backend(name, dict(priority), load)


def available_backends(device: str | None = None) -> list[str]:
    """Names of the backends that can run, on ``device`` (a device type) if given, best first."""
    names = []
    for b in _registry.values():
        if device is not None and device not in b.priority:
            continue
        if b.get() is not None:
            names.append(b.name)
    if device is not None:
        names.sort(key=lambda n: -_registry[n].priority[device])
    return names


def unavailable_reason(name: str) -> str | None:
    b = _registry.get(name)
    if b is None:
        return f"unknown backend {name!r}; registered: {sorted(_registry)}"
    b.get()
    return b.error


@contextlib.contextmanager
def use_backend(name: str | None) -> Iterator[None]:
    """Route calls in this context to backend ``name`` (None restores automatic choice)."""
    if name is not None and name not in _registry:
        raise ValueError(f"backend: unknown backend {name!r}; registered: {sorted(_registry)}")
    token = _current.set(name)
    try:
        yield
    finally:
        _current.reset(token)


def resolve(backend: str | None, device_type: str) -> tuple[str, object]:
    """(name, ops) of the backend to run on ``device_type``."""
    name = backend or _current.get() or os.environ.get("IGK_BACKEND") or None
    if name is not None:
        b = _registry.get(name)
        if b is None:
            raise ValueError(f"backend: unknown backend {name!r}; registered: {sorted(_registry)}")
        if device_type not in b.priority:
            raise BackendUnavailableError(
                f"backend {name!r} does not run on {device_type!r} tensors (runs on: {sorted(b.priority)})")
        ops = b.get()
        if ops is None:
            raise BackendUnavailableError(f"backend {name!r} is unavailable: {b.error}")
        return name, ops
    for cand in available_backends(device_type):
        return cand, _registry[cand].ops
    raise BackendUnavailableError(f"no igkernels backend runs on {device_type!r} tensors")
