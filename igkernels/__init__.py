"""igkernels: fused kernels and a thin sampler for Info-Gain decoding of masked diffusion LMs.

Layers, one folder each: ``ops`` (the public ops and their checks), ``backends`` (the one
dispatch point and the implementations), ``sampling`` (the decoder), ``models`` (loading and
model adapters), ``demo`` (the embedded model and its tasks), ``eval`` (benchmarks).
"""
from .backends import BackendUnavailableError, available_backends, use_backend
from .models import load
from .ops import (BadRowError, Candidates, TokenStats, deferred_checks, linear_softmax_entropy, sample_candidates,
                  softmax_entropy, state_uncertainty)
from .sampling import DecodeConfig, GenerationOutput, InfoGainSampler

__all__ = [
    "softmax_entropy", "state_uncertainty", "sample_candidates", "linear_softmax_entropy",
    "TokenStats", "Candidates", "BadRowError", "deferred_checks",
    "available_backends", "use_backend", "BackendUnavailableError",
    "load", "InfoGainSampler", "GenerationOutput", "DecodeConfig", "evaluate",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    # igk.evaluate imports the evaluation layer (and matplotlib, tqdm) only when used.
    if name == "evaluate":
        from .eval import evaluate
        return evaluate
    raise AttributeError(f"module 'igkernels' has no attribute {name!r}")
