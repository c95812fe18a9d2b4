"""The public ops' argument checks: every bad argument is named in a Python exception."""
import numpy as np
import pytest
import torch

import igkernels as igk

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
    (dict(rows=1), TypeError, "rows must be an int64 tensor or a sequence of ints, got int"),
    (dict(rows="01"), TypeError, "rows must be an int64 tensor or a sequence of ints, got str"),
    (dict(rows=[2 ** 63]), ValueError, "rows must hold int64 values"),
    (dict(rows=np.array([2 ** 63], dtype=np.uint64)), ValueError, "rows must hold int64 values"),
    (dict(rows=[True]), TypeError, "rows must hold ints"),
    (dict(rows=[0, 1], seed=torch.zeros(2, 3, dtype=torch.int64)), ValueError,
     r"seed tensor must have shape \(2,\) \(one seed per selected row\)"),
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
    (dict(backend=3), TypeError, "backend must be a str"),
])
def test_softmax_entropy_rejects(kwargs, exc, word):
    args = dict(logits=X) | kwargs
    with pytest.raises(exc, match=word):
        igk.softmax_entropy(args.pop("logits"), **args)


def test_rows_accepts_a_list_and_per_row_seeds_for_rows():
    st = igk.softmax_entropy(X, rows=[5, 0], num_samples=1, temperature=1.0,
                             seed=torch.tensor([4, 4], dtype=torch.int64))
    assert st.entropy.shape == (2,)


def test_numpy_scalars_are_numbers():
    want = igk.softmax_entropy(X, num_samples=2, temperature=0.5, seed=3, offset=1)
    got = igk.softmax_entropy(X, num_samples=np.int64(2), temperature=np.float32(0.5), seed=np.uint64(3),
                              offset=np.int32(1))
    assert torch.equal(got.samples, want.samples) and torch.equal(got.entropy, want.entropy)
    with pytest.raises(TypeError, match="num_samples must be an int"):
        igk.softmax_entropy(X, num_samples=np.bool_(True))
