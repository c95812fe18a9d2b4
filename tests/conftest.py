"""Test set-up: the Triton backend runs under its interpreter where no GPU is present.

TRITON_INTERPRET must be set before Triton (and igkernels) is imported.
"""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

import igkernels as igk  # noqa: E402

# The core-op tests run on CPU tensors (every fused CPU backend, Triton under its
# interpreter); tests/test_cuda.py runs the same comparisons on CUDA tensors.
DEVICE = "cpu"
FUSED = [b for b in igk.available_backends(DEVICE) if b != "reference"]
INTERPRETED = {"triton"} if os.environ.get("TRITON_INTERPRET") == "1" else set()


@pytest.fixture(params=FUSED or [pytest.param(None, marks=pytest.mark.skip(reason="no fused backend built"))])
def fused(request):
    """Every fused backend available for this machine's device."""
    return request.param


@pytest.fixture(params=["reference"] + FUSED)
def backend(request):
    """The reference and every fused backend, for properties each must have on its own."""
    return request.param


@pytest.fixture
def device():
    return DEVICE


@pytest.fixture
def gen():
    """A fresh random generator each run; its seed is printed so a failure can be replayed."""
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"input seed {seed}")
    return torch.Generator().manual_seed(seed)
