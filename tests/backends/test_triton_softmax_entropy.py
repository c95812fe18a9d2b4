"""The Triton K1 / K2 row kernels over many tiles (igkernels/backends/triton/softmax_entropy.py):
the tile is made small (FORCE_BLOCK) so short rows cross many tiles and a masked tail, the
running max moves between tiles (or every tile, or never after the first), the max and the
second largest tie within and across tiles, -inf fills whole tiles, and the split-vocabulary
path (FORCE_SPLIT) merges slices; statistics and draws against the reference. On the CPU it
runs under the Triton interpreter (tests/conftest.py), so rows stay short, and some cases
run the compiled kernels' packed (max, mass) reduction there too."""
import pytest
import torch
from impls import DEVICES, cpu
from inputs import TOL, assert_matches_reference

import igkernels as igk

pytest.importorskip("triton")

import triton.language as tl  # noqa: E402

from igkernels.backends.triton import softmax_entropy as k1  # noqa: E402

INF = float("inf")


@pytest.fixture(params=[d for d in DEVICES if "triton" in igk.available_backends(d)] or
                [pytest.param(None, marks=pytest.mark.skip(reason="no Triton backend"))])
def device(request):
    return request.param


@pytest.fixture(params=[(16, None, False), (32, None, True), (16, 3, True)],
                ids=["block16", "block32-packed", "block16-split3-packed"])
def tiles(request, monkeypatch):
    """The tile, the slices, and whether the interpreter runs the compiled kernels' packed
    (max, mass) reduction too."""
    block, split, packed = request.param
    monkeypatch.setattr(k1, "FORCE_BLOCK", block)
    monkeypatch.setattr(k1, "FORCE_SPLIT", split)
    if packed:
        monkeypatch.setattr(k1, "_PACKED", tl.constexpr(True))
    return block


def _rows(V: int, gen: torch.Generator) -> torch.Tensor:
    """[rows, V] float32 logits, each row a case for the tile loop's running max and top two."""
    ramp = torch.arange(V, dtype=torch.float32)
    rows = [
        torch.randn(V, generator=gen) * 3,                       # the max anywhere
        ramp / 7,                                                # a new max in every tile
        -ramp / 7,                                               # the max in the first tile only
        torch.randint(-2, 3, (V,), generator=gen).float(),       # ties at the max within and across tiles
        torch.where(ramp % 5 == 4, 2.0, -1.0),                   # the max repeated once per few columns
        torch.full((V,), -1.0).index_fill(0, torch.tensor([3, V - 2]), 5.0),       # two maxima, far apart
        torch.full((V,), -1.0).index_fill(0, torch.tensor([V - 2]), 5.0).index_fill(0, torch.tensor([V - 1]), 4.0),
        torch.full((V,), -1.0).index_fill(0, torch.tensor([V // 2]), 5.0).index_fill(0, torch.tensor([1]), 4.5),
        torch.full((V,), -INF).index_fill(0, torch.tensor([V - 3]), 1.0),         # one finite logit, late
        torch.full((V,), -INF).index_fill(0, torch.tensor([V - 3, 40]), 1.0),     # two equal finite logits
        torch.where(ramp < 50, -INF, torch.randn(V, generator=gen)),              # -inf tiles first
        torch.where(ramp % 3 == 0, -INF, torch.randn(V, generator=gen) * 20),     # near one-hot, banned tokens
        torch.where(ramp < V // 2, -3e38, 3e38 - ramp * 1e31),                    # a spread beyond float32
        torch.randn(V, generator=gen) / 30,                                       # near uniform
    ]
    return torch.stack(rows)


@pytest.mark.parametrize("V", [117, 160])   # a masked tail tile; whole tiles only
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_many_tiles_match_reference(device, tiles, V, dtype, gen):
    x = _rows(V, gen).to(dtype)
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=gen))
    for temperature, S in ((0.0, 1), (1.0, 3), (0.7, 3)):
        args = dict(num_samples=S, temperature=temperature, seed=seed, offset=3)
        want = igk.softmax_entropy(x, backend="reference", **args)
        got = cpu(igk.softmax_entropy(x.to(device), backend="triton", **args))
        assert_matches_reference(got, want, x, temperature, seed, 3, dtype)
        # The top two exactly: a tie for the max makes second_prob the max_prob itself.
        f = x.float()
        top2 = f.topk(2, -1).values
        tie = top2[:, 0] == top2[:, 1]
        assert torch.equal(got.second_prob[tie], got.max_prob[tie])
        assert (got.second_prob[~tie] < got.max_prob[~tie]).all()


def test_rows_and_offsets(device, tiles, gen):
    """Selected rows of a strided batch (row offsets not multiples of the tile)."""
    x = (torch.randn(5, 133, generator=gen) * 4)[:, 2:]
    rows = torch.tensor([4, 0, 2])
    args = dict(num_samples=2, temperature=0.9, seed=11, offset=0)
    want = igk.softmax_entropy(x, rows=rows, backend="reference", **args)
    got = cpu(igk.softmax_entropy(x.to(device), rows=rows.to(device), backend="triton", **args))
    assert_matches_reference(got, want, x, 0.9, 11, 0, x.dtype, rows)


def test_state_uncertainty_many_tiles(device, tiles, gen):
    """K2: masked rows over many tiles."""
    x = torch.stack([_rows(117, gen)] * 2)
    mask = torch.rand(x.shape[:2], generator=gen) < 0.6
    want = igk.state_uncertainty(x, mask, backend="reference")
    got = igk.state_uncertainty(x.to(device), mask.to(device), backend="triton").cpu()
    torch.testing.assert_close(got, want, **TOL[torch.float32]["entropy"])
