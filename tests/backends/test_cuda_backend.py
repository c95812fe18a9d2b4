"""The GPU backends as a user meets them: unavailable with a reason on a machine without a GPU,
available on one. Their results are tested with every other backend, on CUDA tensors, by the
op tests in tests/ops/ (the ``fused`` and ``backend`` fixtures cover every device here)."""
import pytest
import torch

import igkernels as igk
from igkernels.backends import registry


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_cuda_backend_unavailable_without_gpu():
    """Importing the backend never fails; asking for it says why it cannot run."""
    reason = registry.unavailable_reason("cuda")
    assert reason is not None and ("no CUDA device" in reason or "not built" in reason)
    with pytest.raises(igk.BackendUnavailableError, match="cuda"):
        igk.softmax_entropy(torch.zeros(2, 3), backend="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["cuda", "triton"])
def test_gpu_backends_available_on_a_gpu(name):
    assert registry.unavailable_reason(name) is None
    assert name in igk.available_backends("cuda")


def test_cuda_backend_signatures_follow_the_contract():
    """docs/backend_contract.md: K1 takes the selection with a scalar key (None entries derived by
    the kernels), K3 a per-sequence seq_k; the same argument names as the reference."""
    import inspect

    from igkernels.backends import cuda, reference
    for name in ("softmax_entropy", "sample_candidates"):
        assert list(inspect.signature(getattr(cuda, name)).parameters) == \
            list(inspect.signature(getattr(reference, name)).parameters), name


needs_cuda_ext = pytest.mark.skipif(registry.unavailable_reason("cuda") is not None,
                                    reason="needs the CUDA extension and a GPU")


@needs_cuda_ext
@pytest.mark.parametrize("keys_given", [False, True])
@pytest.mark.parametrize("draws", [(0, 0.0), (5, 1.0), (3, 0.7)])
def test_cuda_k1_fast_path_matches_reference_and_launches_only_k1(keys_given, draws):
    """rows None on strided [R, V] rows (row stride 2V + 3): the statistics match the reference's,
    and the call launches the status fill and the K1 kernels, no index tensors."""
    from igkernels.backends import cuda, reference
    from inputs import TOL, make_logits
    S, T = draws
    gen = torch.Generator().manual_seed(3)
    R, V = 6, 5003
    stride = 2 * V + 3
    x = make_logits((R * stride,), torch.bfloat16, "normal", gen).cuda().as_strided((R, V), (stride, 1))
    keys = torch.randint(-2 ** 63, 2 ** 63 - 1, (R,), generator=gen).cuda() if keys_given else None
    args = (x, None, None, keys, None, -5, S, T, 2)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        got, status = cuda.softmax_entropy(*args)
        torch.cuda.synchronize()
    names = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    ours = [n for n in names if any(k in n for k in ("row_stats_kernel", "combine_kernel", "draw_kernel"))]
    assert ours and len(names) - len(ours) <= 1, names   # + the status fill
    want, want_status = reference.softmax_entropy(x.cpu(), None, None, None if keys is None else keys.cpu(), None,
                                                  -5, S, T, 2)
    assert int(status) == int(want_status)
    torch.testing.assert_close(got.entropy.cpu(), want.entropy, **TOL[torch.bfloat16]["entropy"])
    assert torch.equal(got.argmax.cpu(), want.argmax)
    if S:
        assert (got.samples.cpu() == want.samples).float().mean() > 0.9   # bar rounding at a boundary


@needs_cuda_ext
def test_cuda_k3_seq_k_matches_reference():
    from igkernels.backends import cuda, reference
    gen = torch.Generator().manual_seed(4)
    B, T, k, N = 5, 50, 6, 4
    conf = torch.rand(B, T, generator=gen)
    valid = torch.rand(B, T, generator=gen) < 0.7
    valid[1, 3:] = False
    seq_k = torch.tensor([0, 6, 3, 1, 6])
    keys, ctr = torch.arange(B) * 7, torch.arange(B)
    for tau in (0.0, 0.2):
        args = (conf[:, None].expand(B, N, T), valid, k, seq_k, N, tau, keys, ctr, 1)
        want = reference.sample_candidates(*args)
        got = cuda.sample_candidates(*(a.cuda() if isinstance(a, torch.Tensor) else a for a in args))
        assert torch.equal(got.positions.cpu(), want.positions) and torch.equal(got.unique.cpu(), want.unique)
