"""The Triton backend: one kernel per file, registered for CUDA tensors and, under
``TRITON_INTERPRET=1`` (tests on machines without a GPU), for CPU tensors."""
from __future__ import annotations

import os

from .. import registry


def _load():
    import torch
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("no CUDA device for the Triton kernels (TRITON_INTERPRET=1 runs them, slowly, on the CPU)")
    from . import ops
    return ops


_priority = {"cuda": 50}
if os.environ.get("TRITON_INTERPRET") == "1":
    _priority["cpu"] = -1  # the interpreter is for testing: never the automatic choice over the reference
registry.register_backend("triton", priority=_priority, load=_load)
