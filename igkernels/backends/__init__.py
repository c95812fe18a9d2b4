"""Backends: the registry (the one dispatch point) and the implementations that register with it.

``reference`` (plain PyTorch, the truth), ``cpu`` (C++, ``igkernels._C``), ``cuda``
(``igkernels._C_cuda``) and ``triton``; each module registers itself on import and loads
lazily on first use. ``docs/adding_a_backend.md`` says how to add one.
"""
from . import cpu, cuda, reference, triton  # noqa: F401  (each registers itself)
from .registry import BackendUnavailableError, available_backends, register_backend, resolve, use_backend

__all__ = ["BackendUnavailableError", "available_backends", "register_backend", "resolve", "use_backend"]
