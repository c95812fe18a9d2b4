"""igkernels: fused kernels and a thin sampler for Info-Gain decoding of masked diffusion LMs."""
from . import reference  # noqa: F401  (registers the reference backend)
from . import cpu  # noqa: F401  (registers the C++ CPU backend)
from . import cuda  # noqa: F401  (registers the CUDA backend)
from . import triton as _triton  # noqa: F401  (registers the Triton backend)
from .api import sample_candidates, softmax_entropy, state_uncertainty
from .dispatch import BackendUnavailableError, available_backends, use_backend
from .linear import linear_softmax_entropy
from .models import load
from .sampler import GenerationOutput, InfoGainSampler
from .types import BadRowError, Candidates, TokenStats

__all__ = [
    "softmax_entropy", "state_uncertainty", "sample_candidates", "linear_softmax_entropy",
    "TokenStats", "Candidates", "BadRowError",
    "available_backends", "use_backend", "BackendUnavailableError",
    "load", "InfoGainSampler", "GenerationOutput",
]
__version__ = "0.1.0"
