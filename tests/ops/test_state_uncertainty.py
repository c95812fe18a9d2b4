"""K2 masked-mean state uncertainty: every backend on every device against the reference and
the formula."""
import pytest
import torch
from inputs import DTYPES, TOL, make_logits

import igkernels as igk

SLOW_ELEMENTS = 100_000  # beyond this the interpreted Triton backend is too slow; covered on GPUs


def _formula(logits, mask):
    p = torch.softmax(logits.double(), -1)
    h = -torch.where(p > 0, p * torch.log_softmax(logits.double(), -1), torch.zeros_like(p)).sum(-1)
    return (h * mask).sum(-1) / mask.sum(-1).clamp(min=1)


@pytest.mark.parametrize("kind", ["normal", "peaked", "neg_inf", "ties"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 2), (4, 9, 997), (2, 3, 31991)])
def test_matches_formula(backend, shape, dtype, kind, gen):
    x = make_logits(shape, dtype, kind, gen)
    mask = torch.rand(shape[:2], generator=gen) < 0.5
    mask[0] = False                                   # an empty row gives 0
    u = igk.state_uncertainty(backend.put(x), backend.put(mask), backend=backend.backend).cpu()
    assert u.dtype == torch.float32 and u.shape == (shape[0],)
    torch.testing.assert_close(u.double(), _formula(x, mask), **TOL[dtype]["entropy"])
    assert u[0] == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,T,V", [(3, 4, 1001), (2, 5, 126464), (8, 256, 1000), (3, 40, 1001)])
def test_fused_equals_reference_strided(fused, dtype, B, T, V, gen):
    if fused.interpreted and B * T * V > SLOW_ELEMENTS:
        pytest.skip("too large for the Triton interpreter; tested on the GPU")
    x = make_logits((B, 2 * T, V), dtype, "wide", gen)[:, 1::2]   # strided T
    mask = torch.rand(B, T, generator=gen) < 0.6
    mask[0] = False                                                # an empty row gives 0
    mask[1] = True
    want = igk.state_uncertainty(x, mask, backend="reference")
    got = igk.state_uncertainty(fused.put(x), fused.put(mask), backend=fused.backend)
    torch.testing.assert_close(got.cpu(), want, **TOL[dtype]["entropy"])
    assert got[0].item() == 0.0
    assert torch.equal(got, igk.state_uncertainty(fused.put(x), fused.put(mask), backend=fused.backend))


def test_only_masked_rows_are_read(backend, gen):
    x = make_logits((2, 4, 31), torch.float32, "normal", gen)
    mask = backend.put(torch.tensor([[True, False, True, False], [False, False, False, True]]))
    x[0, 1] = float("nan")                            # unmasked: never read
    x[1, 2] = float("-inf")
    x = backend.put(x)
    before = x.clone()
    u = igk.state_uncertainty(x, mask, backend=backend.backend)
    assert torch.isfinite(u).all()
    assert torch.equal(x.nan_to_num(), before.nan_to_num())
    x[1, 3] = float("-inf")                           # masked and entirely -inf: an error naming row 7
    with pytest.raises(ValueError, match="logits row 7 "):
        igk.state_uncertainty(x, mask, backend=backend.backend)
    with pytest.raises(ValueError, match="logits row 7 "):   # deferred on a GPU, at once on CPU
        with igk.deferred_checks():
            igk.state_uncertainty(x, mask, backend=backend.backend)


def test_bad_arguments():
    x = torch.randn(2, 3, 5)
    with pytest.raises(TypeError, match="mask"):
        igk.state_uncertainty(x, torch.ones(2, 3))
    with pytest.raises(ValueError, match="mask"):
        igk.state_uncertainty(x, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="logits"):
        igk.state_uncertainty(x[0], torch.ones(3, dtype=torch.bool))
    with pytest.raises(TypeError, match="logits"):
        igk.state_uncertainty(x.double(), torch.ones(2, 3, dtype=torch.bool))
