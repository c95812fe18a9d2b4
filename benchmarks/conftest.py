"""Shapes of the core-op benchmarks (issue 2) and the backends measured side by side."""
import os

import pytest
import torch

import igkernels as igk

torch.manual_seed(0)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# Interpreted Triton is a test vehicle, not a speed: never benchmark it.
BACKENDS = [b for b in igk.available_backends(DEVICE) if os.environ.get("TRITON_INTERPRET") != "1" or b != "triton"]
# (name, leading shape, V, dtype, fraction of rows selected)
SHAPES = {
    "rows512-V32000-fp32": ((512,), 32000, torch.float32, 1.0),
    "rows512-V126464-bf16": ((512,), 126464, torch.bfloat16, 1.0),
    "lookahead8x256-V126464-bf16": ((8, 256), 126464, torch.bfloat16, 0.5),
}
_cache = {}


def inputs(name):
    """Logits (never all zeros) and the mask of selected rows, built once per shape."""
    if name not in _cache:
        _cache.clear()
        lead, V, dtype, frac = SHAPES[name]
        logits = (torch.randn(*lead, V, device=DEVICE) * 3).to(dtype)
        mask = (torch.rand(lead, device=DEVICE) < frac) if frac < 1 else torch.ones(lead, dtype=torch.bool, device=DEVICE)
        _cache[name] = (logits, mask)
    return _cache[name]


def rounds_for(impl):
    """The reference draws its Philox words on int64 tensors: seconds per call, so few rounds."""
    return {"reference": 2}.get(impl, 7)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(os.cpu_count() or 1)
