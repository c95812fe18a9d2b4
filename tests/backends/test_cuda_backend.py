"""The GPU backends as a user meets them: unavailable with a reason on a machine without a GPU,
available on one. Their results are tested with every other backend, on CUDA tensors, by the
op tests in tests/ops/ (the ``fused`` and ``backend`` fixtures cover every device here)."""
import pytest
import torch

import igkernels as igk
from igkernels.backends import registry


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_cuda_backend_unavailable_without_gpu():
    """Importing the backend never fails; asking for it says why it cannot run."""
    reason = registry.unavailable_reason("cuda")
    assert reason is not None and ("no CUDA device" in reason or "not built" in reason)
    with pytest.raises(igk.BackendUnavailableError, match="cuda"):
        igk.softmax_entropy(torch.zeros(2, 3), backend="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["cuda", "triton"])
def test_gpu_backends_available_on_a_gpu(name):
    assert registry.unavailable_reason(name) is None
    assert name in igk.available_backends("cuda")
