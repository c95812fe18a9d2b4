"""GPU backends against the reference, on CUDA tensors (skipped without a GPU).

Covers every GPU backend ("cuda" and "triton") on the paths a GPU takes and the CPU tests
cannot reach: one block per row and the split-vocabulary path (few rows), 16-byte aligned
and misaligned rows, more draws than one pass takes, bad-row flags (immediate and deferred),
K2 with a device-side mask, K3 in one launch, and the fused LM head on tensor cores.
The reference runs on CPU copies of the same inputs.
"""
import pytest
import torch
from inputs import DTYPES, TOL, assert_matches_reference, make_logits

import igkernels as igk
from igkernels import cuda as igk_cuda  # noqa: F401  (registers the "cuda" backend)
from igkernels.linear import linear_softmax_entropy

GPU_BACKENDS = ["cuda", "triton"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_cuda_backend_unavailable_without_gpu():
    """Importing the backend never fails; asking for it says why it cannot run."""
    reason = igk.dispatch.unavailable_reason("cuda")
    assert reason is not None and ("no CUDA device" in reason or "not built" in reason)
    with pytest.raises(igk.BackendUnavailableError, match="cuda"):
        igk.softmax_entropy(torch.zeros(2, 3), backend="cuda")


gpu_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(params=GPU_BACKENDS)
def gpu(request):
    reason = igk.dispatch.unavailable_reason(request.param)
    if reason is not None:
        pytest.fail(f"GPU backend {request.param!r} is unavailable on a GPU machine: {reason}")
    return request.param


def to_cpu(st):
    return igk.TokenStats(*(t.cpu() for t in st))


# Few rows (split-vocabulary path), many rows (one block per row), odd V (misaligned rows);
# every kind of input on the small shapes, the common ones on the large (the CPU reference
# is the slow part).
SMALL = [(2, 7), (600, 1000), (300, 1003), (1, 1)]
LARGE = [(1, 126464), (3, 32000), (5, 126473)]
CASES = [(s, k) for s in SMALL for k in ("normal", "peaked", "neg_inf", "ties")] + \
        [(s, k) for s in LARGE for k in ("normal", "neg_inf")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kind", CASES)
@gpu_only
def test_softmax_entropy(gpu, shape, dtype, kind, gen):
    x = make_logits(shape, dtype, kind, gen)
    xg = x.cuda()
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=gen))
    for temperature, S in ((0.0, 2), (1.0, 1), (0.7, 6)):
        args = dict(num_samples=S, temperature=temperature, seed=seed, offset=11)
        want = igk.softmax_entropy(x, backend="reference", **args)
        got = to_cpu(igk.softmax_entropy(xg, backend=gpu, **args))
        assert_matches_reference(got, want, x, temperature, seed, 11, dtype)


@gpu_only
def test_rows_and_strides(gpu, gen):
    base = make_logits((4, 6, 1003), torch.bfloat16, "normal", gen)
    x = base[:, ::2]                                               # non-contiguous, misaligned rows
    rows = torch.tensor([11, 0, 5, 5, 7], dtype=torch.int64)
    args = dict(num_samples=3, temperature=0.9, seed=5, offset=2)
    want = igk.softmax_entropy(x, rows=rows, backend="reference", **args)
    got = to_cpu(igk.softmax_entropy(x.cuda(), rows=rows.cuda(), backend=gpu, **args))
    assert_matches_reference(got, want, x, 0.9, 5, 2, torch.bfloat16, rows=rows)
    full = igk.softmax_entropy(x.cuda(), backend=gpu, **args)
    assert torch.equal(full.samples.reshape(12, 3)[rows].cpu(), got.samples)


@gpu_only
def test_same_draws_across_gpu_backends(gen):
    x = make_logits((64, 5003), torch.float16, "normal", gen).cuda()
    draws = [igk.softmax_entropy(x, num_samples=4, temperature=1.0, seed=99, backend=b).samples for b in GPU_BACKENDS]
    assert (draws[0] != draws[1]).float().mean() <= 1e-3


@pytest.mark.parametrize("where", ["nan", "posinf", "allneginf"])
@pytest.mark.parametrize("R", [2, 700])   # split path and one block per row
@gpu_only
def test_bad_rows(gpu, where, R, gen):
    x = make_logits((R, 4099), torch.bfloat16, "normal", gen)
    bad = R - 2
    if where == "allneginf":
        x[bad] = float("-inf")
    else:
        x[bad, 1234] = float("nan") if where == "nan" else float("inf")
    xg = x.cuda()
    with pytest.raises(ValueError, match=f"logits row {bad} "):
        igk.softmax_entropy(xg, backend=gpu)
    if gpu == "cuda":
        with pytest.raises(ValueError, match=f"logits row {bad} "):
            with igk_cuda.deferred_checks():
                st = igk.softmax_entropy(xg, backend="cuda")   # no sync, no raise here
                assert st.entropy.shape == (R,)
        mask = torch.zeros(1, R, dtype=torch.bool)
        mask[0, bad] = True
        with pytest.raises(ValueError, match=f"logits row {bad} "):
            igk.state_uncertainty(xg[None], mask.cuda(), backend="cuda")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,T,V", [(2, 5, 126464), (8, 256, 1000), (3, 40, 1001)])
@gpu_only
def test_state_uncertainty(gpu, dtype, B, T, V, gen):
    x = make_logits((B, 2 * T, V), dtype, "normal", gen)[:, ::2]    # strided T
    mask = torch.rand(B, T, generator=gen) < 0.5
    mask[0] = False                                                  # an empty row gives 0
    want = igk.state_uncertainty(x, mask, backend="reference")
    got = igk.state_uncertainty(x.cuda(), mask.cuda(), backend=gpu)
    torch.testing.assert_close(got.cpu(), want, **TOL[dtype]["entropy"])
    assert got[0].item() == 0.0
    assert torch.equal(got, igk.state_uncertainty(x.cuda(), mask.cuda(), backend=gpu))  # deterministic


@pytest.mark.parametrize("B,T,k,N,tau", [(3, 37, 4, 8, 0.1), (2, 1024, 16, 8, 0.2), (4, 5000, 3, 5, 1.0),
                                         (2, 9, 12, 3, 0.5), (3, 64, 2, 6, 0.0)])
@gpu_only
def test_sample_candidates(gpu, B, T, k, N, tau, gen):
    conf = torch.rand(B, T, generator=gen)
    conf[:, ::7] = conf[:, 1:2]                                      # exact ties
    valid = torch.rand(B, T, generator=gen) < 0.6
    args = dict(k=k, num_candidates=N, position_temperature=tau, seed=1234, offset=3)
    want = igk.sample_candidates(conf, valid, backend="reference", **args)
    got = igk.sample_candidates(conf.cuda(), valid.cuda(), backend=gpu, **args)
    assert torch.equal(got.positions.cpu(), want.positions)
    assert torch.equal(got.unique.cpu(), want.unique)
    per_candidate = conf[:, None, :].expand(B, N, T).contiguous()   # [B, N, T] input, same result
    got2 = igk.sample_candidates(per_candidate.cuda(), valid.cuda(), backend=gpu, **args)
    assert torch.equal(got2.positions.cpu(), want.positions)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("R,D,V,n_rows", [(300, 256, 32003, 150), (2048, 128, 4099, 2048), (64, 512, 126464, 64),
                                          (5, 128, 1000, 3)])
@gpu_only
def test_linear_softmax_entropy(dtype, R, D, V, n_rows, gen):
    """Inputs on a 1/64 grid make every fp32 dot exact in any order
    (tests/test_linear_softmax_entropy.py), so the kernel's logits equal the unfused ones."""
    def grid(shape, scale, lim):
        return (torch.round(torch.randn(shape, generator=gen) * scale * 64) / 64).clamp(-lim, lim - 1 / 64)
    h = grid((R, D), 0.5, 4).to(dtype)
    w = grid((V, D), 0.05, 1).to(dtype)
    b = grid((V,), 0.5, 1).to(dtype)
    rows = torch.randperm(R, generator=gen)[:n_rows]
    # fp32 matmul (exact here, no TF32 by default), rounded like hidden @ weight.T, then + bias.
    logits = ((h.cuda().float() @ w.cuda().float().T).to(dtype) + b.cuda()).cpu()
    args = dict(num_samples=2, temperature=1.0, seed=42, offset=7)
    want = igk.softmax_entropy(logits, rows=rows, backend="reference", **args)
    got = to_cpu(linear_softmax_entropy(h.cuda(), w.cuda(), bias=b.cuda(), rows=rows.cuda(), **args))
    assert_matches_reference(got, want, logits, 1.0, 42, 7, dtype, rows=rows)


@gpu_only
def test_linear_memory_is_o_rows(gen):
    R, D, V = 4096, 1024, 126464
    h = torch.randn(R, D, generator=gen).bfloat16().cuda()
    w = (torch.randn(V, D, generator=gen) * 0.03).bfloat16().cuda()
    linear_softmax_entropy(h, w)                                     # compile outside the measurement
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    linear_softmax_entropy(h, w, num_samples=1, temperature=1.0)
    extra = torch.cuda.max_memory_allocated() - base
    assert extra < 64 * R * 1024, f"{extra} bytes for {R} rows"    # logits would be R * V * 2 = 1 GB
