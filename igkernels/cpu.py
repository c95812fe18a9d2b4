"""The C++ CPU backend: kernels in ``csrc/``, bindings in ``python/``, built into ``igkernels._C``.

This module only adapts tensors to the raw-pointer bindings and registers the backend.
When the extension was not built the package still imports; it says so once.
"""
from __future__ import annotations

import importlib.util
import warnings

from . import dispatch

if importlib.util.find_spec("igkernels._C") is None:
    warnings.warn("igkernels: the C++ extension igkernels._C is not built; the 'cpu' backend is "
                  "unavailable and CPU tensors use the 'reference' backend", RuntimeWarning, stacklevel=2)


def _load():
    from . import _cpu_ops
    return _cpu_ops


dispatch.register_backend("cpu", priority={"cpu": 100}, load=_load)
