"""Calling a registered op: through torch's dispatcher only when something may need to see it.

``torch.ops.igkernels.<op>(...)`` passes through the dispatcher's Python layers (autograd
wrapper, redispatch, the custom-op backend wrapper): about 70 µs a call on the development CPU,
more than a small op's kernel, three times a decoding step. In plain eager execution nothing
observes those layers, so ``call`` runs the op's implementation directly. It dispatches
whenever something could observe them: ``torch.compile`` tracing, ``torch.jit`` tracing, a
dispatch or function mode (FakeTensorMode, make_fx, TorchDispatchMode), functorch transforms,
a tensor subclass (FakeTensor, FunctionalTensor) or a meta tensor. Results are the same either
way: the implementation is the op's.

The ops have no gradient (draws, argmaxes, statistics of a sampler): arguments that require grad
go in detached, so the outputs are plain tensors rather than ones whose backward fails.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

_C = torch._C
_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)


def _observed() -> bool:
    return (torch.compiler.is_compiling() or _C._len_torch_dispatch_stack() > 0
            or _C._len_torch_function_stack() > 0 or _C._functorch.peek_interpreter_stack() is not None
            or _C._get_tracing_state() is not None)


def call(op: Callable, impl: Callable, *args: Any) -> Any:
    """``op(*args)`` (a ``torch.ops.igkernels`` overload packet), or ``impl(*args)`` (the function
    registered as its implementation) where nothing could observe the dispatch (module doc)."""
    args = tuple(a.detach() if isinstance(a, torch.Tensor) and a.requires_grad else a for a in args)
    if _observed():
        return op(*args)
    for a in args:
        if isinstance(a, torch.Tensor) and (type(a) not in _PLAIN_TYPES or a.is_meta):
            return op(*args)
    return impl(*args)
