"""The public ops: argument checks, then one registered ``torch.ops.igkernels.*`` call each.

Each op is a ``torch.library`` custom op with a fake implementation, so ``torch.compile``
traces through a caller without graph breaks; its real implementation picks the backend
(``igkernels.backends.registry``, the one dispatch point) and reports bad data through
``igkernels.ops.deferred`` (the one error policy). In plain eager execution the public function
calls that implementation without the dispatcher's Python layers (``_eager.call``).
"""
from .deferred import deferred_checks
from .linear_softmax_entropy import linear_softmax_entropy
from .sample_candidates import sample_candidates
from .softmax_entropy import softmax_entropy
from .state_uncertainty import state_uncertainty
from .types import BadRowError, Candidates, TokenStats

__all__ = ["softmax_entropy", "state_uncertainty", "sample_candidates", "linear_softmax_entropy",
           "deferred_checks", "TokenStats", "Candidates", "BadRowError"]
