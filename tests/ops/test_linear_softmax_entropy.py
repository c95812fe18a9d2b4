"""Fused LM head: linear_softmax_entropy on every backend and device against the reference
softmax_entropy(hidden @ weight.T + bias).

Inputs are drawn on a grid of 1/64 (hidden in [-4, 4), weight and bias in [-1, 1)): every
product is a multiple of 2^-12 and every partial sum of D <= 64 terms stays below 2^8, so the
fp32 dot is exact in any order and the logits a kernel rounds to the input dtype are
bit-identical to those of the unfused matmul. The statistics then differ from the reference only
by fp32 accumulation (tests/inputs.py TOL) and the draws only at near-ties of `log`.
"""
import pytest
import torch
from impls import Impl, cpu
from inputs import TOL, assert_matches_reference

import igkernels as igk
from igkernels.backends import registry, tiled_head

DTYPES = (torch.bfloat16, torch.float16, torch.float32)
SLOW_ELEMENTS = 200_000  # rows x V beyond which the interpreted Triton kernel is too slow
CPU_ELEMENTS = 2_000_000  # beyond this the CPU paths' Philox draws (int64 tensors) take seconds: GPU shapes


def grid_randn(shape, scale, lo, hi, gen, dtype):
    x = torch.randn(shape, generator=gen) * scale
    return (torch.round(x * 64) / 64).clamp(lo, hi - 1 / 64).to(dtype)


def make(gen, dtype, lead, D, V, with_bias):
    h = grid_randn(lead + (D,), 1.5, -4, 4, gen, dtype)
    w = grid_randn((V, D), 0.3, -1, 1, gen, dtype)
    b = grid_randn((V,), 0.5, -1, 1, gen, dtype) if with_bias else None
    return h, w, b


def unfused(h, w, b):
    """The logits of the unfused head, exactly (see the module doc): fp32 dot, rounded, + bias."""
    logits = (h.float() @ w.float().T).to(h.dtype)
    return logits + b if b is not None else logits


@pytest.fixture(params=["own", "tiled"])
def head(request, backend):
    """Every backend's head, and the PyTorch-tiled head (the cuda backend's; Triton's ``combine``) on
    the CPU, registered for the test as a backend of its own."""
    if request.param == "own":
        yield backend
        return
    if backend.backend != "reference":
        pytest.skip("the tiled head runs once per device")
    registry.register_backend("tiled-for-test", priority={backend.device: -10}, load=lambda: tiled_head)
    try:
        yield Impl(backend.device, "tiled-for-test")
    finally:
        registry.unregister_backend("tiled-for-test")


def run(impl, h, w, b=None, **kw):
    return cpu(igk.linear_softmax_entropy(impl.put(h), impl.put(w), bias=impl.put(b), backend=impl.backend,
                                          **{k: impl.put(v) for k, v in kw.items()}))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D,V", [(32, 301), (48, 997), (64, 7), (40, 1)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_matches_unfused(head, dtype, D, V, with_bias, gen):
    h, w, b = make(gen, dtype, (3, 5), D, V, with_bias)
    logits = unfused(h, w, b)
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=gen))
    for temperature, S in ((0.0, 2), (1.0, 3)):
        args = dict(num_samples=S, temperature=temperature, seed=seed, offset=3)
        got = run(head, h, w, b, **args)
        want = igk.softmax_entropy(logits, backend="reference", **args)
        assert got.entropy.shape == (3, 5) and got.samples.shape == (3, 5, S)
        assert_matches_reference(got, want, logits, temperature, seed, 3, dtype)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("R,D,V,n_rows", [(300, 64, 32003, 150), (2048, 64, 4099, 2048), (64, 64, 126464, 64),
                                          (5, 64, 1000, 3), (40, 64, 20011, 30)])
def test_large_vocabularies_and_many_rows(fused, dtype, R, D, V, n_rows, gen):
    if fused.device == "cpu" and n_rows * V > (SLOW_ELEMENTS if fused.interpreted else CPU_ELEMENTS):
        pytest.skip("a GPU shape: too slow on the CPU")
    h, w, b = make(gen, dtype, (R,), D, V, True)
    rows = torch.randperm(R, generator=gen)[:n_rows]
    logits = unfused(h, w, b)
    args = dict(num_samples=2, temperature=1.0, seed=42, offset=7)
    want = igk.softmax_entropy(logits, rows=rows, backend="reference", **args)
    got = run(fused, h, w, b, rows=rows, **args)
    assert_matches_reference(got, want, logits, 1.0, 42, 7, dtype, rows=rows)


def test_rows_gather_strided_and_ties(head, gen):
    """Unsorted repeated rows of non-contiguous hidden states; integer logits tie often."""
    h = (torch.randint(-2, 3, (4, 6, 32), generator=gen).float() / 4).to(torch.bfloat16)[:, ::2]
    w = (torch.randint(-2, 3, (523, 32), generator=gen).float() / 4).to(torch.bfloat16)
    rows = torch.tensor([11, 0, 5, 5, 7], dtype=torch.int64)
    args = dict(num_samples=2, temperature=0.5, seed=77, offset=1)
    got = run(head, h, w, rows=rows, **args)
    want = igk.softmax_entropy(unfused(h, w, None), rows=rows, backend="reference", **args)
    tol = TOL[torch.bfloat16]
    torch.testing.assert_close(got.entropy, want.entropy, **tol["entropy"])
    torch.testing.assert_close(got.second_prob, want.second_prob, **tol["prob"])
    assert torch.equal(got.argmax, want.argmax)
    full = run(head, h, w, **args)
    assert torch.equal(full.samples.reshape(12, 2)[rows], got.samples)  # draws do not depend on the layout


def test_bad_rows_raise(head, gen):
    h, w, _ = make(gen, torch.bfloat16, (4,), 32, 301, False)
    h[2, 0] = float("inf")
    with pytest.raises(ValueError, match="logits row 2 "):
        run(head, h, w)
    with pytest.raises(ValueError, match="logits row 2 "):   # deferred on a GPU, at once on CPU
        with igk.deferred_checks():
            run(head, h, w)
    assert run(head, h, w, rows=torch.tensor([0, 1, 3])).entropy.shape == (3,)


def test_logits_at_the_ends_of_float32(head):
    """Logits spread beyond float32 give the reference's zero entropy; logits that overflow are bad rows."""
    w = torch.zeros(5, 2)
    w[0, 0], w[3, 0], w[4, 0] = -3e38, 3e38, 1e38
    st = run(head, torch.tensor([[1.0, 0.0]]), w, num_samples=2, temperature=1.0)
    assert st.entropy.item() == 0.0 and st.max_prob.item() == 1.0 and st.argmax.item() == 3
    assert st.samples.tolist() == [[3, 3]]
    with pytest.raises(ValueError, match="logits row 0 "):
        run(head, torch.tensor([[1e38, 1e38]]), torch.full((3, 2), 4.0))


@pytest.mark.parametrize("offset", [2 ** 31 + 7, 2 ** 32 - 1])
def test_offsets_beyond_int32(head, offset, gen):
    """The step counter is a uint32 word of the Philox counter however the kernel receives it."""
    h, w, _ = make(gen, torch.float32, (3,), 32, 301, False)
    args = dict(num_samples=3, temperature=1.0, seed=7, offset=offset)
    want = igk.linear_softmax_entropy(h, w, backend="reference", **args)
    assert_matches_reference(run(head, h, w, **args), want, unfused(h, w, None), 1.0, 7, offset, torch.float32)


def test_empty_rows(head, gen):
    h, w, _ = make(gen, torch.bfloat16, (4,), 32, 301, False)
    st = run(head, h, w, rows=torch.zeros(0, dtype=torch.int64), num_samples=2)
    assert st.entropy.shape == (0,) and st.samples.shape == (0, 2)


def test_bad_arguments(gen):
    h, w, b = make(gen, torch.bfloat16, (4,), 32, 301, True)
    with pytest.raises(TypeError, match="hidden"):
        igk.linear_softmax_entropy(h.int(), w)
    with pytest.raises(TypeError, match="weight"):
        igk.linear_softmax_entropy(h, w.half())
    with pytest.raises(ValueError, match="weight"):
        igk.linear_softmax_entropy(h, w[:, :16])
    with pytest.raises(ValueError, match="bias"):
        igk.linear_softmax_entropy(h, w, bias=b[:7])
    with pytest.raises(TypeError, match="bias"):
        igk.linear_softmax_entropy(h, w, bias=b.float())
    with pytest.raises(ValueError, match="rows"):
        igk.linear_softmax_entropy(h, w, rows=[4])
    with pytest.raises(ValueError, match="num_samples"):
        igk.linear_softmax_entropy(h, w, num_samples=-1)
    with pytest.raises(ValueError, match="temperature"):
        igk.linear_softmax_entropy(h, w, temperature=-1.0)
    with pytest.raises(ValueError, match="offset"):
        igk.linear_softmax_entropy(h, w, offset=2 ** 32)
    with pytest.raises(ValueError, match="unknown backend 'nonesuch'"):
        igk.linear_softmax_entropy(h, w, backend="nonesuch")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_memory_is_o_rows(gen):
    R, D, V = 4096, 1024, 126464
    h = torch.randn(R, D, generator=gen).bfloat16().cuda()
    w = (torch.randn(V, D, generator=gen) * 0.03).bfloat16().cuda()
    igk.linear_softmax_entropy(h, w)                                 # compile outside the measurement
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    igk.linear_softmax_entropy(h, w, num_samples=1, temperature=1.0)
    extra = torch.cuda.max_memory_allocated() - base
    assert extra < 64 * R * 1024, f"{extra} bytes for {R} rows"    # logits would be R * V * 2 = 1 GB


@pytest.mark.parametrize("row_blocks, tiles, slots, want", [
    (16, 250, 132, 8),     # 2048 x 32000 in 64-row blocks: 272 programs (2.06 waves, taking 3) before; 128 now
    (32, 988, 132, 4),     # 4096 x 126464: 288 programs (3 waves) before; one wave of 128 now
    (1, 988, 132, 124),    # one row block: one wave, slices of 8 tiles
    (200, 988, 132, 5),    # many row blocks: 1000 programs in 8 waves (95% of the slots) beat 1 slice's 2 waves (76%)
])
def test_fused_head_slices_fill_whole_waves(row_blocks, tiles, slots, want):
    pytest.importorskip("triton")
    from igkernels.backends.triton.linear_softmax_entropy import whole_wave_splits
    assert whole_wave_splits(row_blocks, tiles, slots) == want


def test_fused_head_slices_stay_in_range(gen):
    pytest.importorskip("triton")
    from igkernels.backends.triton.linear_softmax_entropy import whole_wave_splits
    for _ in range(200):
        rb, tiles, slots = (int(torch.randint(1, n, (1,), generator=gen)) for n in (300, 2000, 200))
        s = whole_wave_splits(rb, tiles, slots)
        assert 1 <= s <= tiles and (s == 1 or rb * s <= 8 * slots)
