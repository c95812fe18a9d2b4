"""The Triton K3 kernel directly (backend contract, igkernels/backends/triton/ops.py): T walked in
tiles (several per sequence, T not a multiple of the tile, T past the old one-tile limit) and a
per-sequence k (``seq_k``), bit for bit against the reference. On the CPU it runs under the
Triton interpreter (tests/conftest.py), so shapes stay small and the tile is made small."""
import inspect

import pytest
import torch

pytest.importorskip("triton")

from impls import DEVICES  # noqa: E402

import igkernels as igk  # noqa: E402
from igkernels.backends import reference  # noqa: E402
from igkernels.backends.triton import ops as tops  # noqa: E402
from igkernels.backends.triton import sample_candidates as k3  # noqa: E402

_REF_HAS_SEQ_K = "seq_k" in inspect.signature(reference.sample_candidates).parameters


@pytest.fixture(params=[d for d in DEVICES if "triton" in igk.available_backends(d)] or
                [pytest.param(None, marks=pytest.mark.skip(reason="no Triton backend"))])
def device(request):
    """Where Triton runs: the CPU under the interpreter (no GPU present), else the GPU."""
    return request.param


def _ref(conf, valid, k, N, tau, keys, ctr, offset):
    args = (conf, valid, k) + ((None,) if _REF_HAS_SEQ_K else ()) + (N, tau, keys, ctr, offset)
    return reference.sample_candidates(*args)


def _expected(conf, valid, k, seq_k, N, tau, keys, ctr, offset):
    """Sequence b: the reference's top-seq_k[b] sets, -1 padded to width k; unique judged on the
    padded rows."""
    if seq_k is None:
        got = _ref(conf, valid, k, N, tau, keys, ctr, offset)
        return got.positions, got.unique
    B = valid.shape[0]
    positions = torch.full((B, N, k), -1, dtype=torch.int64)
    for b in range(B):
        kb = int(seq_k[b])
        if kb > 0:
            one = _ref(conf[b:b + 1], valid[b:b + 1], kb, N, tau, keys[b:b + 1], ctr[b:b + 1], offset)
            positions[b, :, :kb] = one.positions[0]
    return positions, reference.first_of_equal_rows(positions)


def _inputs(B, N, T, gen, per_candidate=False):
    """Confidences with exact ties, -inf, +-0; about half the positions valid."""
    shape = (B, N, T) if per_candidate else (B, 1, T)
    conf = torch.randint(0, 6, shape, generator=gen).float() / 4          # many exact ties
    conf[torch.rand(shape, generator=gen) < 0.15] = float("-inf")
    conf[torch.rand(shape, generator=gen) < 0.1] = -0.0
    conf[torch.rand(shape, generator=gen) < 0.1] = 0.0
    conf = conf + torch.rand(shape, generator=gen) * (torch.rand(shape, generator=gen) < 0.5)
    valid = torch.rand(B, T, generator=gen) < 0.5
    keys = torch.randint(-2**63, 2**63 - 1, (B,), generator=gen, dtype=torch.int64)
    ctr = torch.randint(0, 2**32, (B,), generator=gen, dtype=torch.int64)
    return conf.expand(B, N, T), valid, keys, ctr


def _check(device, conf, valid, k, seq_k, N, tau, keys, ctr, offset=5):
    want = _expected(conf, valid, k, seq_k, N, tau, keys, ctr, offset)
    put = lambda x: None if x is None else x.to(device)   # noqa: E731
    got = tops.sample_candidates(put(conf), put(valid), k, put(seq_k), N, tau, put(keys), put(ctr), offset)
    assert got.positions.shape == (valid.shape[0], N, k) and got.positions.dtype == torch.int64
    assert torch.equal(got.positions.cpu(), want[0]), (got.positions.cpu(), want[0])
    assert torch.equal(got.unique.cpu(), want[1])
    if seq_k is not None and _REF_HAS_SEQ_K:   # the reference's own seq_k agrees with the padding above
        ref = reference.sample_candidates(conf, valid, k, seq_k, N, tau, keys, ctr, offset)
        assert torch.equal(ref.positions, want[0]) and torch.equal(ref.unique, want[1])
    return got


@pytest.mark.parametrize("T", [1, 45, 100])
@pytest.mark.parametrize("N,tau", [(1, 0.0), (3, 0.7), (8, 2.0)])
def test_tiles_match_reference(device, monkeypatch, T, N, tau, gen):
    """A 64-key tile: 32, 16 and 8 positions for N = 1, 3 and 8, so up to 13 tiles, the last partial."""
    monkeypatch.setattr(k3, "TILE", 64)
    assert k3.config(N, T, 4)["BLOCK_T"] == min(max(16, triton_next_pow2(T)), 64 // triton_next_pow2(max(N, 2)))
    conf, valid, keys, ctr = _inputs(3, N, T, gen, per_candidate=N == 3)
    valid[0, :] = False                                   # nothing to choose
    if T > 3:
        valid[1, :] = False
        valid[1, T - 3:] = True                           # fewer valid positions than k, all in the last tile
    for k in (3, 24):
        _check(device, conf, valid, k, None, N, tau, keys, ctr)


def test_past_the_old_single_tile_limit(device, gen):
    """N = 64, T = 1100: past the old 2**16-key tile (which ran the reference), default tile."""
    N, T = 64, 1100
    assert triton_next_pow2(N) * triton_next_pow2(T) > 1 << 16
    cfg = k3.config(N, T, 3)
    assert cfg["BLOCK_N"] * cfg["BLOCK_T"] <= k3.TILE and T > cfg["BLOCK_T"]
    conf, valid, keys, ctr = _inputs(2, N, T, gen)
    _check(device, conf, valid, 3, torch.tensor([3, 1]), N, 0.5, keys, ctr)


def triton_next_pow2(n):
    return 1 << (n - 1).bit_length()


@pytest.mark.parametrize("N,tau", [(1, 0.3), (6, 0.0), (6, 0.3)])
def test_seq_k(device, monkeypatch, N, tau, gen):
    """seq_k zero, full and between; fewer valid positions than seq_k; several tiles."""
    monkeypatch.setattr(k3, "TILE", 64)
    B, T, k = 5, 40, 6
    conf, valid, keys, ctr = _inputs(B, N, T, gen, per_candidate=N > 1)
    valid[3, :] = False
    valid[3, [2, 30]] = True                               # 2 valid positions, seq_k 5
    for seq_k in ([0] * B, [k] * B, [0, 1, 6, 5, 3]):
        seq_k = torch.tensor(seq_k, dtype=torch.int64)
        got = _check(device, conf, valid, k, seq_k, N, tau, keys, ctr)
        assert ((got.positions.cpu() >= 0).sum(-1) <= seq_k[:, None]).all()
        if not seq_k.any():
            assert (got.positions == -1).all()
            assert got.unique.cpu()[:, 0].all() and not got.unique.cpu()[:, 1:].any()


def test_seq_k_full_equals_none(device, gen):
    B, N, T, k = 3, 4, 30, 5
    conf, valid, keys, ctr = _inputs(B, N, T, gen)
    a = _check(device, conf, valid, k, None, N, 0.4, keys, ctr)
    b = _check(device, conf, valid, k, torch.full((B,), k, dtype=torch.int64), N, 0.4, keys, ctr)
    assert torch.equal(a.positions, b.positions) and torch.equal(a.unique, b.unique)


def test_k_wider_than_T(device, monkeypatch, gen):
    """k > T: the list holds min(k, T) slots, the columns past it are -1 (several chunks of them)."""
    monkeypatch.setattr(k3, "TILE", 16)
    B, N, T = 3, 3, 5
    conf, valid, keys, ctr = _inputs(B, N, T, gen)
    assert k3.config(N, T, 37)["BLOCK_K"] == 8
    _check(device, conf, valid, 37, None, N, 1.0, keys, ctr)
    _check(device, conf, valid, 37, torch.tensor([37, 0, 4]), N, 1.0, keys, ctr)


@pytest.mark.skipif(not _REF_HAS_SEQ_K, reason="the reference has no seq_k yet")
def test_wide_list_runs_the_reference(device, monkeypatch, gen):
    """BLOCK_N * BLOCK_K past MAX_TILE: the reference, with seq_k, gives the result."""
    monkeypatch.setattr(k3, "MAX_TILE", 8)
    B, N, T, k = 2, 4, 12, 6
    conf, valid, keys, ctr = _inputs(B, N, T, gen)
    _check(device, conf, valid, k, torch.tensor([6, 2]), N, 0.5, keys, ctr)
