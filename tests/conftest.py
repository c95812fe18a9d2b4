"""Test set-up shared by every folder of tests/.

* The Triton backend runs under its interpreter where no GPU is present (TRITON_INTERPRET must
  be set before Triton, and igkernels, are imported).
* The helpers (``impls.py``, ``inputs.py``, ``mdm_fixtures.py``, ``oracle.py``) live beside this
  file and are importable from every test folder (import them, never ``conftest``: each folder
  may have its own).
* ``IGK_TEST_TIME_LIMIT``: seconds any one test may run (unset: no limit).
* ``oracle_dirs`` / ``authors``: the authors' own LLaDA, Dream, SDAR and TraDo code on tiny
  checkpoints (``tests/oracle.py``).
* ``fused`` / ``backend``: every (device, backend) pair that runs here — CPU tensors always,
  CUDA tensors where a GPU is present — without or with the reference. The reference itself
  always runs on CPU copies of the inputs when a test compares against it.
"""
import os
import signal
import sys
import threading

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

import igkernels as igk  # noqa: E402
from impls import DEVICES, Impl  # noqa: E402
from oracle import upstream  # noqa: E402


def _impls(with_reference: bool) -> list:
    return [pytest.param(Impl(dev, b), id=f"{dev}-{b}") for dev in DEVICES for b in igk.available_backends(dev)
            if with_reference or b != "reference"]


@pytest.fixture(params=_impls(False) or [pytest.param(None, marks=pytest.mark.skip(reason="no fused backend"))])
def fused(request) -> Impl:
    """Every fused backend on every device here."""
    return request.param


@pytest.fixture(params=_impls(True))
def backend(request) -> Impl:
    """The reference and every fused backend, on every device, for properties each must have."""
    return request.param


@pytest.fixture(autouse=True)
def _time_limit():
    """IGK_TEST_TIME_LIMIT (seconds, unset: none) fails a test that runs longer, so one slow or
    hung test cannot eat a run with a fixed budget (benchmarks/gpu_check.sh). The alarm fires
    between Python bytecodes: a kernel that never returns is left to the run's own timeout."""
    limit = float(os.environ.get("IGK_TEST_TIME_LIMIT") or 0)
    # Signals reach the main thread only (a pytest-xdist worker may run tests in another).
    if limit <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        pytest.fail(f"ran past IGK_TEST_TIME_LIMIT={limit:g} s", pytrace=False)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def gen():
    """A fresh random generator each run; its seed is printed so a failure can be replayed."""
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"input seed {seed}")
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="session")
def oracle_dirs(tmp_path_factory) -> dict:
    """{family: checkpoint directory} of the authors' tiny build (``tests/oracle.py``: 2 layers,
    hidden 64, real vocabularies and special ids); skips where the oracle is absent."""
    return upstream().build(tmp_path_factory.mktemp("upstream"))


@pytest.fixture(scope="session")
def authors(oracle_dirs):
    """The authors' model of a family (fp32 or another dtype), loaded once each."""
    loaded = {}

    def get(family, dtype=None):
        if (family, dtype) not in loaded:
            loaded[family, dtype] = upstream().load_reference(oracle_dirs[family], dtype=dtype)
        return loaded[family, dtype]
    return get
