"""Fused LM head: linear_softmax_entropy against softmax_entropy(hidden @ weight.T + bias).

Both paths run here: the Triton kernel (under TRITON_INTERPRET=1 without a GPU, on the GPU
otherwise) and the chunked PyTorch fallback. Inputs are drawn on a grid of 1/64 (hidden in
[-4, 4), weight and bias in [-1, 1)): every product is a multiple of 2^-12 and every partial sum
of D <= 64 terms stays below 2^8, so the fp32 dot is exact in any order and the logits the
kernel rounds to the input dtype are bit-identical to those of the unfused matmul. The
statistics then differ from the reference only by fp32 accumulation (tests/inputs.py TOL) and
the draws only at near-ties of `log`.
"""
import pytest
import torch
from conftest import DEVICE
from inputs import TOL, assert_matches_reference

import igkernels as igk
from igkernels import linear
from igkernels.linear import linear_softmax_entropy

DTYPES = (torch.bfloat16, torch.float16, torch.float32)


def grid_randn(shape, scale, lo, hi, gen, dtype):
    x = torch.randn(shape, generator=gen) * scale
    return (torch.round(x * 64) / 64).clamp(lo, hi - 1 / 64).to(dtype).to(DEVICE)


def make(gen, dtype, lead, D, V, with_bias):
    h = grid_randn(lead + (D,), 1.5, -4, 4, gen, dtype)
    w = grid_randn((V, D), 0.3, -1, 1, gen, dtype)
    b = grid_randn((V,), 0.5, -1, 1, gen, dtype) if with_bias else None
    return h, w, b


@pytest.fixture(params=["kernel", "fallback"])
def path(request, monkeypatch):
    if request.param == "fallback":
        monkeypatch.setattr(linear, "_use_triton", lambda device: False)
    elif not linear._use_triton(torch.device(DEVICE)):
        pytest.skip("Triton is not importable")
    return request.param


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D,V", [(32, 301), (48, 997), (64, 7), (40, 1)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_matches_unfused(path, dtype, D, V, with_bias, gen):
    h, w, b = make(gen, dtype, (3, 5), D, V, with_bias)
    logits = h @ w.T + b if with_bias else h @ w.T
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=gen))
    for temperature, S in ((0.0, 2), (1.0, 3)):
        args = dict(num_samples=S, temperature=temperature, seed=seed, offset=3)
        got = linear_softmax_entropy(h, w, bias=b, **args)
        want = igk.softmax_entropy(logits, backend="reference", **args)
        assert got.entropy.shape == (3, 5) and got.samples.shape == (3, 5, S)
        assert_matches_reference(got, want, logits, temperature, seed, 3, dtype)


def test_rows_gather_strided_and_ties(path, gen):
    """Unsorted repeated rows of non-contiguous hidden states; integer logits tie often."""
    h = (torch.randint(-2, 3, (4, 6, 32), generator=gen).float() / 4).to(torch.bfloat16).to(DEVICE)[:, ::2]
    w = (torch.randint(-2, 3, (523, 32), generator=gen).float() / 4).to(torch.bfloat16).to(DEVICE)
    rows = torch.tensor([11, 0, 5, 5, 7], dtype=torch.int64, device=DEVICE)
    args = dict(num_samples=2, temperature=0.5, seed=77, offset=1)
    got = linear_softmax_entropy(h, w, rows=rows, **args)
    want = igk.softmax_entropy(h @ w.T, rows=rows, backend="reference", **args)
    tol = TOL[torch.bfloat16]
    torch.testing.assert_close(got.entropy, want.entropy, **tol["entropy"])
    torch.testing.assert_close(got.second_prob, want.second_prob, **tol["prob"])
    assert torch.equal(got.argmax, want.argmax)
    full = linear_softmax_entropy(h, w, **args)
    assert torch.equal(full.samples.reshape(12, 2)[rows], got.samples)  # draws do not depend on the layout


def test_bad_rows_raise(path, gen):
    h, w, _ = make(gen, torch.bfloat16, (4,), 32, 301, False)
    h[2, 0] = float("inf")
    with pytest.raises(ValueError, match="logits row 2 "):
        linear_softmax_entropy(h, w)
    assert linear_softmax_entropy(h, w, rows=[0, 1, 3]).entropy.shape == (3,)


def test_empty_rows(gen):
    h, w, _ = make(gen, torch.bfloat16, (4,), 32, 301, False)
    st = linear_softmax_entropy(h, w, rows=torch.zeros(0, dtype=torch.int64, device=DEVICE), num_samples=2)
    assert st.entropy.shape == (0,) and st.samples.shape == (0, 2)


def test_bad_arguments(gen):
    h, w, b = make(gen, torch.bfloat16, (4,), 32, 301, True)
    with pytest.raises(TypeError, match="hidden"):
        linear_softmax_entropy(h.int(), w)
    with pytest.raises(TypeError, match="weight"):
        linear_softmax_entropy(h, w.half())
    with pytest.raises(ValueError, match="weight"):
        linear_softmax_entropy(h, w[:, :16])
    with pytest.raises(ValueError, match="bias"):
        linear_softmax_entropy(h, w, bias=b[:7])
    with pytest.raises(TypeError, match="bias"):
        linear_softmax_entropy(h, w, bias=b.float())
    with pytest.raises(ValueError, match="rows"):
        linear_softmax_entropy(h, w, rows=[4])
    with pytest.raises(ValueError, match="num_samples"):
        linear_softmax_entropy(h, w, num_samples=-1)
    with pytest.raises(ValueError, match="temperature"):
        linear_softmax_entropy(h, w, temperature=-1.0)
    with pytest.raises(ValueError, match="offset"):
        linear_softmax_entropy(h, w, offset=2 ** 32)
