"""K1 softmax-entropy statistics: every backend on every device against the reference, the
reference against the formulas, and the draws by seed reproducibility and chi-squared
goodness of fit. GPU paths are covered by the same tests on CUDA tensors: one block per row
and the split-vocabulary path (few rows), aligned and misaligned rows, deferred bad rows."""
import math

import pytest
import torch
from impls import cpu
from inputs import DTYPES, KINDS, assert_matches_reference, assert_near_boundary, make_logits
from scipy.stats import chisquare

import igkernels as igk

# Few rows (split-vocabulary paths), many rows (one block or thread per row), odd V (misaligned rows).
SHAPES = [(1,), (3, 2), (2, 3, 7), (4, 1000), (2, 31991), (3, 126473)]
# The GPU kernels' other paths (one block per row, 16-byte aligned rows); on the CPU the
# reference's Philox draws over them take minutes, and the CPU kernel has no such paths.
GPU_SHAPES = [(600, 1000), (300, 1003), (1, 126464)]
SLOW_ELEMENTS = 100_000  # beyond this the interpreted Triton backend is too slow; covered on GPUs


def _skip_slow(impl, shape):
    if impl.interpreted and torch.Size(shape).numel() > SLOW_ELEMENTS:
        pytest.skip("too large for the Triton interpreter; tested on the GPU")
    if impl.device == "cpu" and shape in GPU_SHAPES:
        pytest.skip("a GPU kernel path")


def _shape(shape):
    return shape if len(shape) > 1 else (1,) + shape


def _entropy64(x):
    p = torch.softmax(x.double(), -1)
    logp = torch.log_softmax(x.double(), -1)
    return -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(-1)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES[:5])
def test_reference_matches_formulas(shape, dtype, kind, gen):
    x = make_logits(_shape(shape), dtype, kind, gen)
    st = igk.softmax_entropy(x, num_samples=2, backend="reference")
    p = torch.softmax(x.double(), -1)
    assert torch.allclose(st.entropy.double(), _entropy64(x), atol=1e-5, rtol=1e-5)
    assert torch.allclose(st.logsumexp.double(), torch.logsumexp(x.double(), -1), atol=1e-5)
    sorted_p = p.sort(-1, descending=True).values
    assert torch.allclose(st.max_prob.double(), sorted_p[..., 0], atol=1e-7)
    second = sorted_p[..., 1] if x.shape[-1] > 1 else torch.zeros_like(sorted_p[..., 0])
    assert torch.allclose(st.second_prob.double(), second, atol=1e-7)
    first_max = (x == x.max(-1, keepdim=True).values).float().argmax(-1)
    assert torch.equal(st.argmax, first_max)
    assert torch.equal(st.samples, first_max[..., None].expand(*first_max.shape, 2))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + GPU_SHAPES)
def test_fused_matches_reference(fused, shape, dtype, kind, gen):
    _skip_slow(fused, shape)
    x = make_logits(_shape(shape), dtype, kind, gen)
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=gen))
    many = ((0.7, 6),) if fused.device != "cpu" or torch.Size(shape).numel() < SLOW_ELEMENTS else ()
    for temperature, S in ((0.0, 1), (1.0, 3)) + many:    # more draws than one GPU pass takes
        args = dict(num_samples=S, temperature=temperature, seed=seed, offset=5)
        want = igk.softmax_entropy(x, backend="reference", **args)
        got = cpu(igk.softmax_entropy(fused.put(x), backend=fused.backend, **args))
        assert got.samples.shape == want.samples.shape == x.shape[:-1] + (S,)
        assert_matches_reference(got, want, x, temperature, seed, 5, dtype)


@pytest.mark.parametrize("S", [2, 3])
def test_split_path_with_two_or_three_draws(fused, S, gen):
    """Few rows of a large vocabulary (the GPU kernels' split path) with a pass of 2 or 3 draws,
    which runs the 4-draw kernel: its workspace must hold 4 draw slots a part."""
    x = make_logits((3, 32000), torch.bfloat16, "normal", gen)
    args = dict(num_samples=S, temperature=0.8, seed=4, offset=1)
    got = igk.softmax_entropy(fused.put(x), backend=fused.backend, **args)
    assert_matches_reference(got, igk.softmax_entropy(x, backend="reference", **args), x, 0.8, 4, 1, x.dtype)


def test_rows_gather_and_strided_leading_dims(backend, gen):
    base = backend.put(make_logits((4, 6, 1003), torch.bfloat16, "normal", gen))
    x = base[:, ::2]                                   # non-contiguous leading dims, misaligned rows
    rows = backend.put(torch.tensor([11, 0, 5, 5, 7], dtype=torch.int64))   # unsorted, repeated
    args = dict(num_samples=2, temperature=0.7, seed=123, offset=9, backend=backend.backend)
    full = igk.softmax_entropy(x, **args)
    part = igk.softmax_entropy(x, rows=rows, **args)
    for f, p in zip(full, part):
        assert torch.equal(f.reshape(12, *f.shape[2:])[rows], p)   # draws do not depend on the layout
    # A copy changes the rows' alignment, and the GPU kernels' load width and summation order
    # follow it: statistics within float rounding (seen on an H200: one entropy 1 ulp apart),
    # argmax and draws equal.
    contiguous = igk.softmax_entropy(x.contiguous(), **args)
    for f, c in zip(full, contiguous):
        if f.is_floating_point():
            torch.testing.assert_close(f, c, rtol=1e-5, atol=0)
        else:
            assert torch.equal(f, c)
    want = igk.softmax_entropy(x.cpu(), rows=rows.cpu(), **{**args, "backend": "reference"})
    assert_matches_reference(cpu(part), want, x.cpu(), 0.7, 123, 9, torch.bfloat16, rows=rows.cpu())


@pytest.mark.parametrize("seeded", ["int", "per-row"])
def test_every_row_of_a_row_strided_tensor(backend, seeded, gen):
    """Rows spaced wider than V (a column slice), leading dims that collapse: the every-row call
    (no index tensors) gives what the same rows selected by index give, draws included."""
    wide = backend.put(make_logits((3, 5, 1100), torch.float16, "neg_inf", gen))
    x = wide[..., 37:37 + 1001]                        # stride(1) = 1100, misaligned rows
    seed = backend.put(torch.randint(0, 2 ** 62, (3, 5), generator=gen)) if seeded == "per-row" else 2 ** 64 - 3
    args = dict(num_samples=3, temperature=0.8, offset=6, backend=backend.backend)
    full = igk.softmax_entropy(x, seed=seed, **args)
    rows = backend.put(torch.arange(15))
    picked = igk.softmax_entropy(x, rows=rows, seed=seed.reshape(-1)[rows] if seeded == "per-row" else seed, **args)
    for f, p in zip(full, picked):
        assert torch.equal(f.reshape(15, *f.shape[2:]), p)
    want = igk.softmax_entropy(x.cpu(), seed=seed.cpu() if seeded == "per-row" else seed,
                               **{**args, "backend": "reference"})
    for f, w in zip(full[:5], want[:5]):
        torch.testing.assert_close(f.cpu(), w, rtol=2e-5, atol=2e-5)
    assert torch.equal(full.argmax.cpu(), want.argmax)


def test_same_draws_on_every_backend(gen):
    """The same tokens, bar targets within float rounding of a boundary (a few per 10^4 draws:
    one of these 256 can be one)."""
    x = make_logits((64, 5003), torch.float16, "normal", gen)
    want = igk.softmax_entropy(x, num_samples=4, temperature=1.0, seed=99, backend="reference").samples
    for dev in ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",):
        for name in igk.available_backends(dev):
            got = igk.softmax_entropy(x.to(dev), num_samples=4, temperature=1.0, seed=99, backend=name).samples.cpu()
            for r, s in (got != want).nonzero().tolist():
                assert_near_boundary(x[r], int(got[r, s]), int(want[r, s]), 1.0, 99, r, s, 0)


def test_draws_reproducible_and_keyed(backend, gen):
    x = backend.put(make_logits((6, 501), torch.float32, "normal", gen) / 30)   # near-uniform: draws rarely collide
    one = lambda **kw: igk.softmax_entropy(x, num_samples=4, temperature=1.0, backend=backend.backend, **kw).samples
    assert torch.equal(one(seed=7), one(seed=7))
    assert not torch.equal(one(seed=7), one(seed=8))
    assert not torch.equal(one(seed=7, offset=0), one(seed=7, offset=1))
    s = one(seed=7)
    assert not torch.equal(s[:, 0], s[:, 1])           # streams are independent


def test_per_row_seeds(backend, gen):
    """A seed per row identifies the row: equal seeds on equal rows draw equally anywhere."""
    row = make_logits((1, 257), torch.float16, "normal", gen) / 30   # near-uniform: draws rarely collide
    x = backend.put(row.expand(4, 257))
    seeds = backend.put(torch.tensor([3, 9, 3, 2 ** 63 + 5 - 2 ** 64], dtype=torch.int64))
    st = igk.softmax_entropy(x, num_samples=3, temperature=1.0, seed=seeds, backend=backend.backend)
    assert torch.equal(st.samples[0], st.samples[2])
    assert not torch.equal(st.samples[0], st.samples[1])
    alone = igk.softmax_entropy(x, rows=backend.put(torch.tensor([2])), num_samples=3, temperature=1.0,
                                seed=seeds[2:3], backend=backend.backend)
    assert torch.equal(alone.samples[0], st.samples[2])


def test_seeds_with_rows_are_per_selected_row(backend, gen):
    """With rows, a seed tensor holds one seed per selected row, also where [R] is the leading
    shape too (R = n rows of 1-D-led logits); the leading shape is refused then."""
    x = backend.put(make_logits((3, 41), torch.float32, "normal", gen))
    seeds = backend.put(torch.tensor([10, 20, 30], dtype=torch.int64))
    kw = dict(num_samples=4, temperature=1.0, backend=backend.backend)
    rows = backend.put(torch.tensor([2, 1, 0]))
    picked = igk.softmax_entropy(x, rows=rows, seed=seeds, **kw)
    assert torch.equal(picked.samples, igk.softmax_entropy(x[rows], seed=seeds, **kw).samples)
    with pytest.raises(ValueError, match=r"seed tensor must have shape \(2,\) \(one seed per selected row\)"):
        igk.softmax_entropy(x, rows=rows[:2], seed=seeds, **kw)


def _chi2_pvalue(samples: torch.Tensor, probs: torch.Tensor) -> float:
    counts = torch.bincount(samples.reshape(-1), minlength=probs.numel()).double()
    return float(chisquare(counts.numpy(), (probs.double() * counts.sum()).numpy()).pvalue)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_draws_follow_the_tempered_softmax(backend, temperature, gen):
    """Draws at temperature t sample softmax(logits / t); chi-squared goodness of fit.

    The interpreted Triton backend (~40 ms a draw) draws fewer rows and must draw exactly the
    reference's tokens, whose law the chi-squared test checks."""
    row = torch.randn(7, generator=gen)
    row[3] = float("-inf")                           # a banned token is never drawn
    x = row.expand(100 if backend.interpreted else 2000, 7)   # stride-0 rows: independent streams by row index
    seed = int(torch.randint(0, 2 ** 31, (1,), generator=gen))
    args = dict(num_samples=5, temperature=temperature, seed=seed)
    st = cpu(igk.softmax_entropy(backend.put(x), backend=backend.backend, **args))
    assert not (st.samples == 3).any()
    if backend.interpreted:
        assert torch.equal(st.samples, igk.softmax_entropy(x, backend="reference", **args).samples)
        return
    target = torch.softmax(row.double() / temperature, -1)
    keep = target > 0
    remap = torch.cumsum(keep.long(), 0) - 1
    assert _chi2_pvalue(remap[st.samples], target[keep]) > 1e-5
    # the test has power: the same draws are rejected against the untempered or uniform law
    wrong = torch.softmax(row.double() / (2 * temperature), -1)[keep]
    assert _chi2_pvalue(remap[st.samples], wrong / wrong.sum()) < 1e-5
    assert torch.allclose(st.sample_prob.double(), torch.softmax(row.double(), -1)[st.samples], atol=1e-6)


@pytest.mark.parametrize("bad", ["all_neg_inf", "nan", "pos_inf"])
@pytest.mark.parametrize("R,V", [(5, 33), (2, 4099), (700, 4099)])   # split path and one block per row
def test_bad_rows_raise_naming_the_row(backend, bad, R, V, gen):
    if backend.interpreted and R * V > SLOW_ELEMENTS:
        pytest.skip("too large for the Triton interpreter")
    x = make_logits((R, V), torch.float32, "normal", gen)
    row = R - 2
    x[row] = {"all_neg_inf": float("-inf"), "nan": 0.0, "pos_inf": 0.0}[bad]
    if bad == "nan":
        x[row, 7] = float("nan")
    if bad == "pos_inf":
        x[row, V - 3] = float("inf")
    x = backend.put(x)
    with pytest.raises(ValueError, match=f"logits row {row} ") as err:
        igk.softmax_entropy(x, backend=backend.backend)
    assert isinstance(err.value, igk.BadRowError) and err.value.row == row
    with pytest.raises(ValueError, match=f"logits row {row} "):
        igk.softmax_entropy(x, rows=backend.put(torch.tensor([1, row])), backend=backend.backend)
    with pytest.raises(ValueError, match=f"logits row {row} "):   # deferred on a GPU, at once on CPU
        with igk.deferred_checks():
            st = igk.softmax_entropy(x, backend=backend.backend)
            assert st.entropy.shape == (R,)
    st = igk.softmax_entropy(x, rows=backend.put(torch.tensor([R - 1, 1])), backend=backend.backend)
    assert torch.isfinite(st.entropy).all()                      # unread rows cost nothing


def test_second_prob_ties_and_single_token(backend):
    x = backend.put(torch.tensor([[1.0, 3.0, 0.0, 3.0], [5.0, -1.0, float("-inf"), 2.0]]))
    st = igk.softmax_entropy(x, backend=backend.backend)
    assert st.argmax.tolist() == [1, 0]
    assert st.second_prob[0] == st.max_prob[0]
    single = igk.softmax_entropy(backend.put(torch.tensor([[2.5]])), num_samples=2, temperature=1.0,
                                 backend=backend.backend)
    assert single.max_prob.item() == 1.0 and single.second_prob.item() == 0.0
    assert single.entropy.abs().item() < 1e-7 and single.samples.tolist() == [[0, 0]]


@pytest.mark.parametrize("dtype", DTYPES)
def test_top_two_in_later_chunks(fused, dtype, gen):
    """The row's top two found after its first chunk of 2048 columns, where the CPU kernel
    scans only the few lanes holding a column above the runner-up so far, or all of them when
    many do: duplicates of a new max in two lanes and in one lane (columns 32 apart), a new max
    whose chunk also holds a new runner-up in another lane, the runner-up alone in a later
    chunk, and a new max held by nine lanes."""
    V = 3 * 2048 + 77
    x = torch.rand(6, V, generator=gen) * 2.0
    hot = {0: [(2048 + 100, 9.0), (2048 + 517, 9.0)],
           1: [(4096 + 40, 9.0), (4096 + 72, 9.0)],
           2: [(2048 + 5, 9.0), (2048 + 700, 7.0), (4096 + 3, 1.5)],
           3: [(10, 9.0), (6100, 8.0)],
           4: [(2048 + 67 * i + 3, 9.0 - 0.25 * (i % 3)) for i in range(9)],
           5: [(V - 1, 9.0), (V - 33, 9.0), (V - 2, 8.5)]}
    for row, entries in hot.items():
        for col, value in entries:
            x[row, col] = value
    x = x.to(dtype)
    want = igk.softmax_entropy(x, backend="reference")
    got = cpu(igk.softmax_entropy(fused.put(x), backend=fused.backend))
    assert got.argmax.tolist() == [2048 + 100, 4096 + 40, 2048 + 5, 10, 2048 + 3, V - 33]
    assert torch.equal(got.argmax, want.argmax)
    torch.testing.assert_close(got.second_prob, want.second_prob, rtol=1e-5, atol=0)
    torch.testing.assert_close(got.max_prob, want.max_prob, rtol=1e-5, atol=0)
    assert (got.second_prob[[0, 1, 4, 5]] == got.max_prob[[0, 1, 4, 5]]).all()


@pytest.mark.parametrize("V", [4, 4099])   # one block per row, and a row split across slices
def test_logits_at_the_ends_of_float32(backend, V):
    """Spreads beyond the float32 range and ties among huge logits: every backend as the reference.
    Row 0 puts -3e38 first, so 3e38 rescales a running sum by exp(-inf) = 0."""
    x = torch.zeros(3, V)
    x[0, 0], x[0, V - 2] = -3e38, 3e38
    x[1, 1], x[1, V - 1] = 1e16, 1e16
    x[2, 0], x[2, 1], x[2, 2] = 3e38, -3e38, 1e38
    st = cpu(igk.softmax_entropy(backend.put(x), num_samples=2, temperature=1.0, seed=3, backend=backend.backend))
    assert st.entropy.tolist() == pytest.approx([0.0, math.log(2), 0.0], abs=1e-6)
    assert st.max_prob.tolist() == [1.0, 0.5, 1.0] and st.second_prob.tolist() == [0.0, 0.5, 0.0]
    assert st.argmax.tolist() == [V - 2, 1, 0]
    assert st.sample_prob[[0, 2]].eq(1.0).all() and st.sample_prob[1].eq(0.5).all()
    u = igk.state_uncertainty(backend.put(x[None]), backend.put(torch.ones(1, 3, dtype=torch.bool)),
                              backend=backend.backend)
    assert u.item() == pytest.approx(math.log(2) / 3, abs=1e-6)


def test_empty_selection_and_inputs_untouched(backend, gen):
    x = backend.put(make_logits((3, 4, 19), torch.bfloat16, "neg_inf", gen))
    before = x.clone()
    rows = backend.put(torch.tensor([2, 0]))
    st = igk.softmax_entropy(x, rows=backend.put(torch.zeros(0, dtype=torch.int64)), num_samples=2,
                             backend=backend.backend)
    assert st.entropy.shape == (0,) and st.samples.shape == (0, 2)
    igk.softmax_entropy(x, rows=rows, num_samples=2, temperature=1.0, backend=backend.backend)
    assert igk.softmax_entropy(x[:0], backend=backend.backend).entropy.shape == (0, 4)
    assert torch.equal(x, before) and rows.tolist() == [2, 0]


def test_uniforms_and_gumbel_noise_stay_inside_for_every_word():
    """The extreme uint32 words map to u strictly inside (0, 1): a token draw's target stays
    below Z, and the position draws' Gumbel noise is finite."""
    from igkernels.backends import philox
    words = torch.tensor([0, 1, 0x1FF, 0x200, 0xFFFFFE00, 0xFFFFFF00, 0xFFFFFFFF], dtype=torch.int64)
    u = philox.uniform(words)
    assert u[0] == 2.0 ** -24 and u[-1] == 1 - 2.0 ** -24
    g = philox.gumbel(words)
    assert torch.isfinite(g).all() and g.min() > -3 and g.max() < 17
    assert g[-1] == g[-2] == g[-3] and g[0] == g[1] == g[2] and g[3] > g[2]


# Seeds whose draw 0 of row 0 (offset 0) gets the largest and the smallest uniform, 1 - 2**-24
# and 2**-24 (found by search; the test checks they still do).
SEED_U_MAX, SEED_U_MIN = 16390493, 75465


@pytest.mark.parametrize("seed,first_logit", [(SEED_U_MAX, 0.0), (SEED_U_MIN, None)])
def test_the_extreme_uniforms_draw_like_the_reference(backend, seed, first_logit):
    """Two live tokens, far apart: at u = 1 - 2**-24 the later one is drawn iff its share of Z
    exceeds 2**-24 (e**-16.6); at u = 2**-24 the earlier one is drawn iff its share does. A
    banned token is drawn at neither end."""
    from igkernels.backends import philox
    word = philox.random_words(torch.tensor(seed), torch.tensor(0), torch.tensor(0), 0, 0, 1)[0]
    assert int(word) >> 9 == (0x7FFFFF if seed == SEED_U_MAX else 0)
    early, late = 7, 43918
    for logit, big_share in ((-20.0, False), (-13.0, True), (float("-inf"), False)):
        x = torch.full((1, 50001), float("-inf"))
        if seed == SEED_U_MAX:     # the late token carries the small share
            x[0, early], x[0, late] = 0.0, logit
            want = late if big_share else early
        else:                      # the early token carries it
            x[0, early], x[0, late] = logit, 0.0
            want = early if big_share else late
        st = igk.softmax_entropy(backend.put(x), num_samples=1, temperature=1.0, seed=seed, backend=backend.backend)
        assert st.samples.item() == want, (logit, st.samples.item())
        ref = igk.softmax_entropy(x, num_samples=1, temperature=1.0, seed=seed, backend="reference")
        assert ref.samples.item() == want


@pytest.mark.parametrize("temperature", [1e-30, 0.05, 3.0, 1e30])
def test_banned_tokens_never_drawn(backend, temperature, gen):
    """Rows mostly -inf, at temperatures from the argmax-like to the uniform-like: every draw is
    a live token."""
    R, V = (4, 300) if backend.interpreted else (64, 3001)
    x = make_logits((R, V), torch.float32, "normal", gen)
    live = torch.rand(R, V, generator=gen) < 0.02
    live[:, 0] = True
    x = x.masked_fill(~live, float("-inf"))
    st = cpu(igk.softmax_entropy(backend.put(x), num_samples=40, temperature=temperature, seed=5,
                                 backend=backend.backend))
    assert live.gather(1, st.samples).all()
    if temperature == 1e-30:
        assert torch.equal(st.samples, st.argmax[:, None].expand_as(st.samples))
