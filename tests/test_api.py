"""The public API's argument checks and the dispatch rules."""
import pytest
import torch

import igkernels as igk
from igkernels import dispatch

X = torch.randn(2, 3, 11)


@pytest.mark.parametrize("kwargs,exc,word", [
    (dict(logits=X.double()), TypeError, "logits must have dtype"),
    (dict(logits=X.long()), TypeError, "logits must have dtype"),
    (dict(logits=X.numpy()), TypeError, "logits must be a torch.Tensor"),
    (dict(logits=torch.zeros(3, 0)), ValueError, "V >= 1"),
    (dict(rows=torch.tensor([0, 6])), ValueError, "rows must index the 6 rows"),
    (dict(rows=torch.tensor([-1])), ValueError, "rows must index"),
    (dict(rows=torch.tensor([0.0])), TypeError, "rows must have dtype"),
    (dict(rows=torch.tensor([[0]])), ValueError, "rows must have 1 dimensions"),
    (dict(rows=torch.tensor([0], device="meta")), ValueError, "rows is on meta but logits is on cpu"),
    (dict(seed=torch.zeros(6, dtype=torch.int64, device="meta")), ValueError, "seed is on meta"),
    (dict(num_samples=-1), ValueError, "num_samples"),
    (dict(num_samples=2.0), TypeError, "num_samples"),
    (dict(temperature=-1.0), ValueError, "temperature"),
    (dict(temperature=float("inf")), ValueError, "temperature"),
    (dict(temperature="hot"), TypeError, "temperature"),
    (dict(seed=2 ** 64), ValueError, "seed"),
    (dict(seed=torch.zeros(5, dtype=torch.int64)), ValueError, "seed tensor must have shape"),
    (dict(offset=-3), ValueError, "offset"),
    (dict(backend="nonesuch"), ValueError, "unknown backend 'nonesuch'"),
])
def test_softmax_entropy_rejects(kwargs, exc, word):
    args = dict(logits=X) | kwargs
    with pytest.raises(exc, match=word):
        igk.softmax_entropy(args.pop("logits"), **args)


def test_rows_accepts_a_list_and_per_row_seeds_for_rows():
    st = igk.softmax_entropy(X, rows=[5, 0], num_samples=1, temperature=1.0,
                             seed=torch.tensor([4, 4], dtype=torch.int64))
    assert st.entropy.shape == (2,)


def test_dispatch_rules(monkeypatch):
    assert "reference" in igk.available_backends()
    best = igk.available_backends("cpu")[0]
    assert dispatch.resolve(None, "cpu")[0] == best
    with igk.use_backend("reference"):
        assert dispatch.resolve(None, "cpu")[0] == "reference"
        monkeypatch.setenv("IGK_BACKEND", best)
        assert dispatch.resolve(None, "cpu")[0] == "reference"      # the context beats the environment
    assert dispatch.resolve(None, "cpu")[0] == best
    monkeypatch.setenv("IGK_BACKEND", "reference")
    assert dispatch.resolve(None, "cpu")[0] == "reference"
    assert dispatch.resolve(best, "cpu")[0] == best                  # the call beats both
    with pytest.raises(ValueError, match="unknown backend"):
        with igk.use_backend("nonesuch"):
            pass


def test_unavailable_backend_says_why():
    dispatch.register_backend("broken-for-test", priority={"cpu": 1000},
                              load=lambda: (_ for _ in ()).throw(ImportError("no such library")))
    try:
        assert "broken-for-test" not in igk.available_backends()
        assert igk.available_backends("cpu")[0] != "broken-for-test"   # automatic choice falls back
        with pytest.raises(igk.BackendUnavailableError, match="no such library"):
            igk.softmax_entropy(X, backend="broken-for-test")
        with pytest.raises(igk.BackendUnavailableError, match="does not run on 'cuda'"):
            dispatch.resolve("cpu", "cuda")
    finally:
        del dispatch._registry["broken-for-test"]
