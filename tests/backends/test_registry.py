"""The one dispatch point: choice rules, per-op ranks, unavailable backends that say why."""
import pytest
import torch

import igkernels as igk
from igkernels.backends import registry

X = torch.randn(2, 3, 11)


def test_dispatch_rules(monkeypatch):
    assert "reference" in igk.available_backends()
    best = igk.available_backends("cpu")[0]
    assert registry.resolve("softmax_entropy", None, "cpu")[0] == best
    with igk.use_backend("reference"):
        assert registry.resolve("softmax_entropy", None, "cpu")[0] == "reference"
        monkeypatch.setenv("IGK_BACKEND", best)
        # the context beats the environment
        assert registry.resolve("softmax_entropy", None, "cpu")[0] == "reference"
    assert registry.resolve("softmax_entropy", None, "cpu")[0] == best
    monkeypatch.setenv("IGK_BACKEND", "reference")
    assert registry.resolve("softmax_entropy", None, "cpu")[0] == "reference"
    assert registry.resolve("softmax_entropy", best, "cpu")[0] == best                  # the call beats both
    with pytest.raises(ValueError, match="unknown backend"):
        with igk.use_backend("nonesuch"):
            pass


def test_unavailable_backend_says_why():
    registry.register_backend("broken-for-test", priority={"cpu": 1000},
                              load=lambda: (_ for _ in ()).throw(ImportError("no such library")))
    try:
        assert "broken-for-test" not in igk.available_backends()
        assert igk.available_backends("cpu")[0] != "broken-for-test"   # automatic choice falls back
        with pytest.raises(igk.BackendUnavailableError, match="no such library"):
            igk.softmax_entropy(X, backend="broken-for-test")
        with pytest.raises(igk.BackendUnavailableError, match="does not run on 'cuda'"):
            registry.resolve("softmax_entropy", "cpu", "cuda")
    finally:
        registry.unregister_backend("broken-for-test")


def test_per_op_ranks_and_missing_ops():
    """A backend may rank one op lower, and may lack an op: the automatic choice skips it and an
    explicit choice says which op is missing."""
    import types
    partial = types.SimpleNamespace(softmax_entropy=lambda *a: None)
    registry.register_backend("partial-for-test", priority={"cpu": 1000}, load=lambda: partial,
                              op_priority={"softmax_entropy": {"cpu": -5}})
    try:
        assert registry.resolve("softmax_entropy", None, "cpu")[0] != "partial-for-test"
        assert registry.resolve("state_uncertainty", None, "cpu")[0] != "partial-for-test"
        assert registry.resolve("softmax_entropy", "partial-for-test", "cpu")[0] == "partial-for-test"
        with pytest.raises(igk.BackendUnavailableError, match="has no state_uncertainty"):
            igk.state_uncertainty(X, torch.ones(2, 3, dtype=torch.bool), backend="partial-for-test")
    finally:
        registry.unregister_backend("partial-for-test")
    # On CUDA tensors the Triton head outranks the cuda backend's tiled head.
    names = {b.name: b for b in registry._registry.values()}
    assert names["triton"].rank("linear_softmax_entropy", "cuda") > names["cuda"].rank("linear_softmax_entropy",
                                                                                        "cuda")
