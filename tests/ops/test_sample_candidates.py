"""K3 candidate actions: noiseless candidate, duplicates, validity, reproducibility, and the
Gumbel top-1 law checked by chi-squared; every fused backend on every device against the reference."""
import pytest
import torch
from impls import cpu
from scipy.stats import chisquare

import igkernels as igk
from igkernels.ops import deferred


def _inputs(B, T, gen, ties=False):
    conf = torch.randint(0, 4, (B, T), generator=gen).float() / 4 if ties else torch.rand(B, T, generator=gen)
    valid = torch.rand(B, T, generator=gen) < 0.7
    valid[0] = False                                  # a sequence with nothing to choose
    if B > 1:
        valid[1] = False
        valid[1, :2] = True                           # fewer valid positions than k
    return conf, valid


def _topk_reference_free(conf, valid, k):
    """Noiseless top-k by (confidence desc, position asc), ascending, -1 padded: plain Python."""
    out = []
    for c, v in zip(conf.tolist(), valid.tolist()):
        order = sorted((i for i in range(len(c)) if v[i]), key=lambda i: (-c[i], i))[:k]
        out.append(sorted(order) + [-1] * (k - len(order)))
    return torch.tensor(out)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("B,T,k,N", [(1, 1, 1, 1), (3, 17, 3, 8), (4, 64, 5, 6), (2, 300, 32, 4)])
def test_properties(backend, B, T, k, N, ties, gen):
    conf, valid = _inputs(B, T, gen, ties)
    before = (conf.clone(), valid.clone())
    cand = igk.sample_candidates(backend.put(conf), backend.put(valid), k=k, num_candidates=N,
                                 position_temperature=0.1, seed=11, offset=2, backend=backend.backend)
    pos, uniq = cpu(cand)
    assert pos.shape == (B, N, k) and pos.dtype == torch.int64 and uniq.shape == (B, N)
    assert torch.equal(pos[:, 0], _topk_reference_free(conf, valid, k))
    chosen = pos >= 0
    assert valid.gather(1, pos.clamp(min=0).reshape(B, -1)).reshape(B, N, k)[chosen].all()
    nvalid = valid.sum(-1)
    assert torch.equal(chosen.sum(-1), nvalid.clamp(max=k)[:, None].expand(B, N))
    assert (pos[..., 1:][chosen[..., 1:]] > pos[..., :-1][chosen[..., 1:]]).all()   # ascending
    for b in range(B):
        seen = []
        for c in range(N):
            row = pos[b, c].tolist()
            assert uniq[b, c].item() == (row not in seen)
            seen.append(row)
    assert torch.equal(conf, before[0]) and torch.equal(valid, before[1])


def test_fused_equals_reference(fused, gen):
    for ties in (False, True):
        conf, valid = _inputs(5, 200, gen, ties)
        for tau in (0.0, 0.05, 1.0):
            args = dict(k=7, num_candidates=8, position_temperature=tau, seed=99, offset=3)
            want = igk.sample_candidates(conf, valid, backend="reference", **args)
            got = cpu(igk.sample_candidates(fused.put(conf), fused.put(valid), backend=fused.backend, **args))
            assert torch.equal(got.positions, want.positions) and torch.equal(got.unique, want.unique)
    per_candidate = torch.rand(5, 8, 200, generator=gen)
    seeds = torch.arange(5, dtype=torch.int64) * 1000
    args = dict(k=4, num_candidates=8, position_temperature=0.2)
    want = igk.sample_candidates(per_candidate, valid, backend="reference", seed=seeds, **args)
    got = igk.sample_candidates(fused.put(per_candidate), fused.put(valid), backend=fused.backend,
                                seed=fused.put(seeds), **args)
    assert torch.equal(got.positions.cpu(), want.positions)


@pytest.mark.parametrize("B,T,k,N,tau", [(3, 37, 4, 8, 0.1), (2, 1024, 16, 8, 0.2), (4, 5000, 3, 5, 1.0),
                                         (2, 9, 9, 3, 0.5), (3, 64, 2, 6, 0.0)])
def test_fused_equals_reference_with_ties_and_long_rows(fused, B, T, k, N, tau, gen):
    if fused.interpreted and T > 1024:
        pytest.skip("too large for the Triton interpreter; tested on the GPU")
    conf = torch.rand(B, T, generator=gen)
    conf[:, ::7] = conf[:, 1:2]                                      # exact ties
    valid = torch.rand(B, T, generator=gen) < 0.6
    args = dict(k=k, num_candidates=N, position_temperature=tau, seed=1234, offset=3)
    want = igk.sample_candidates(conf, valid, backend="reference", **args)
    got = cpu(igk.sample_candidates(fused.put(conf), fused.put(valid), backend=fused.backend, **args))
    assert torch.equal(got.positions, want.positions) and torch.equal(got.unique, want.unique)
    per_candidate = conf[:, None, :].expand(B, N, T).contiguous()   # [B, N, T] input, same result
    got2 = igk.sample_candidates(fused.put(per_candidate), fused.put(valid), backend=fused.backend, **args)
    assert torch.equal(got2.positions.cpu(), want.positions)


@pytest.mark.parametrize("tau", [0.0, 0.3])
def test_valid_positions_at_minus_inf_come_before_invalid_ones(backend, tau, gen):
    """A valid position is chosen even at -inf confidence (and -0 ties +0): -1 only where fewer
    than k positions are valid."""
    B, T, k, N = 4, 23, 5, 6
    conf = torch.rand(B, T, generator=gen)
    conf[torch.rand(B, T, generator=gen) < 0.5] = float("-inf")
    conf[:, 3], conf[:, 9] = -0.0, 0.0
    conf[0] = float("-inf")                               # a sequence scored -inf everywhere
    valid = torch.rand(B, T, generator=gen) < 0.5
    valid[:, :2] = False                                  # invalid positions first, where ties go
    args = dict(k=k, num_candidates=N, position_temperature=tau, seed=7, offset=1)
    got = cpu(igk.sample_candidates(backend.put(conf), backend.put(valid), backend=backend.backend, **args))
    assert torch.equal(got.positions[:, 0], _topk_reference_free(conf, valid, k))
    assert torch.equal((got.positions >= 0).sum(-1), valid.sum(-1).clamp(max=k)[:, None].expand(B, N))
    assert torch.equal(got.positions, igk.sample_candidates(conf, valid, backend="reference", **args).positions)


@pytest.mark.parametrize("N", [1024, 300])
def test_many_candidates_flag_duplicates_by_sorting(backend, N, gen):
    """Up to the 1024-candidate bound: unique = no earlier equal row, without [N, N] work."""
    if backend.interpreted:
        pytest.skip("the interpreter runs this tile too slowly; the GPU run covers it")
    B, T, k = 2, 6, 2                                      # 15 possible sets: most candidates repeat
    conf, valid = torch.rand(B, T, generator=gen), torch.ones(B, T, dtype=torch.bool)
    valid[1, 4:] = False
    cand = cpu(igk.sample_candidates(backend.put(conf), backend.put(valid), k=k, num_candidates=N,
                                     position_temperature=2.0, seed=3, backend=backend.backend))
    pos = cand.positions
    same = (pos[:, :, None, :] == pos[:, None, :, :]).all(-1)
    assert torch.equal(cand.unique, ~(same & torch.ones(N, N, dtype=torch.bool).tril(-1)).any(-1))
    assert 1 < int(cand.unique[0].sum()) <= 15 and int(cand.unique[1].sum()) <= 6


def test_reproducible_and_layout_free_with_seed_tensor(backend, gen):
    conf, valid = _inputs(4, 50, gen)
    valid[:] = True
    conf, valid = backend.put(conf), backend.put(valid)
    args = dict(k=3, num_candidates=6, position_temperature=0.5, offset=1, backend=backend.backend)
    seeds = backend.put(torch.tensor([5, 6, 7, 8]))
    a = igk.sample_candidates(conf, valid, seed=seeds, **args)
    assert torch.equal(a.positions, igk.sample_candidates(conf, valid, seed=seeds, **args).positions)
    alone = igk.sample_candidates(conf[2:3], valid[2:3], seed=seeds[2:3], **args)
    assert torch.equal(alone.positions[0], a.positions[2])
    other = igk.sample_candidates(conf, valid, seed=seeds, **{**args, "offset": 2})
    assert not torch.equal(other.positions, a.positions)


def test_zero_temperature_gives_duplicates_only(backend, gen):
    conf, valid = _inputs(3, 40, gen)
    cand = igk.sample_candidates(backend.put(conf), backend.put(valid), k=4, num_candidates=5,
                                 position_temperature=0.0, backend=backend.backend)
    assert (cand.positions == cand.positions[:, :1]).all()
    assert cand.unique[:, 0].all() and not cand.unique[:, 1:].any()


def test_top1_follows_softmax_of_confidence_over_tau(backend, gen):
    """With k = 1, candidate c >= 1 picks position t with probability softmax(conf / tau)_t."""
    T, N, tau = 6, 64, 0.25
    conf = torch.rand(1, T, generator=gen)
    valid = torch.ones(1, T, dtype=torch.bool)
    valid[0, 4] = False
    conf_b = conf.expand(200, T)
    cand = igk.sample_candidates(backend.put(conf_b), backend.put(valid.expand(200, T)), k=1, num_candidates=N,
                                 position_temperature=tau, seed=int(torch.randint(0, 2**31, (1,), generator=gen)),
                                 backend=backend.backend)
    picks = cand.positions[:, 1:, 0].reshape(-1).cpu()
    assert (picks != 4).all()
    target = torch.softmax((conf[0] / tau).masked_fill(~valid[0], float("-inf")).double(), -1)
    keep = target > 0
    counts = torch.bincount(picks, minlength=T).double()[keep]
    assert chisquare(counts.numpy(), (target[keep] * counts.sum()).numpy()).pvalue > 1e-5
    flat = torch.full_like(target[keep], 1.0 / int(keep.sum()))
    assert chisquare(counts.numpy(), (flat * counts.sum()).numpy()).pvalue < 1e-5


@pytest.mark.parametrize("tau", [0.0, 0.3])
def test_seq_k_takes_each_sequences_own_top_k(backend, tau, gen):
    """Sequence b with seq_k[b] gets exactly the sets (and uniqueness) of a call with k = seq_k[b],
    -1 padded to k: zeros, k itself, values between, and more than the valid positions."""
    B, T, k, N = 5, 40, 6, 5
    conf, valid = _inputs(B, T, gen, ties=True)
    seq_k = torch.tensor([3, 6, 0, 2, 5])
    args = dict(num_candidates=N, position_temperature=tau, offset=4)
    seeds = torch.randint(0, 2 ** 40, (B,), generator=gen)
    before = seq_k.clone()
    got = cpu(igk.sample_candidates(backend.put(conf), backend.put(valid), k=k, seq_k=backend.put(seq_k),
                                    seed=backend.put(seeds), backend=backend.backend, **args))
    assert torch.equal(seq_k, before)
    for b in range(B):
        kb = int(seq_k[b])
        if kb == 0:
            assert (got.positions[b] == -1).all() and torch.equal(got.unique[b], torch.arange(N) == 0)
            continue
        alone = igk.sample_candidates(conf[b:b + 1], valid[b:b + 1], k=kb, seed=seeds[b:b + 1],
                                      backend="reference", **args)
        want = torch.cat([alone.positions[0], torch.full((N, k - kb), -1)], dim=1)
        assert torch.equal(got.positions[b], want), b
        assert torch.equal(got.unique[b], alone.unique[0]), b


def test_fused_seq_k_equals_reference(fused, gen):
    conf, valid = _inputs(6, 150, gen)
    seq_k = torch.randint(0, 9, (6,), generator=gen)
    for tau in (0.0, 0.05, 1.0):
        args = dict(k=8, seq_k=seq_k, num_candidates=7, position_temperature=tau, seed=5, offset=9)
        want = igk.sample_candidates(conf, valid, backend="reference", **args)
        got = cpu(igk.sample_candidates(fused.put(conf), fused.put(valid), backend=fused.backend,
                                        **(args | dict(seq_k=fused.put(seq_k)))))
        assert torch.equal(got.positions, want.positions) and torch.equal(got.unique, want.unique)


@pytest.mark.parametrize("seq_k, exc, word", [
    (torch.tensor([1, 3]), ValueError, r"seq_k\[1\] = 3"),
    (torch.tensor([-1, 0]), ValueError, r"seq_k\[0\] = -1"),
    (torch.tensor([1.0, 2.0]), TypeError, "seq_k"),
    (torch.tensor([1, 2, 0]), ValueError, "seq_k"),
    (torch.tensor([[1, 2]]), ValueError, "seq_k"),
])
def test_bad_seq_k(backend, seq_k, exc, word):
    valid = backend.put(torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(exc, match=word):
        with igk.deferred_checks():
            igk.sample_candidates(backend.put(torch.rand(2, 5)), valid, k=2, num_candidates=3,
                                  position_temperature=0.1, seq_k=backend.put(seq_k), backend=backend.backend)


@pytest.mark.parametrize("kwargs,exc,word", [
    (dict(k=0), ValueError, "k must"),
    (dict(k=6), ValueError, r"k must be in \[1, 5\]"),
    (dict(k=2 ** 63), ValueError, r"k must be in \[1, 5\]"),
    (dict(num_candidates=0), ValueError, "num_candidates"),
    (dict(num_candidates=1025), ValueError, r"num_candidates must be in \[1, 1024\]"),
    (dict(position_temperature=-0.1), ValueError, "position_temperature"),
    (dict(position_temperature=float("nan")), ValueError, "position_temperature"),
    (dict(k=1.5), TypeError, "k must"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=torch.tensor([1.0, 2.0])), TypeError, "seed"),
    (dict(seed=torch.tensor([1, 2, 3])), ValueError, "seed"),
    (dict(offset=2 ** 32), ValueError, "offset"),
])
def test_bad_arguments(kwargs, exc, word):
    conf, valid = torch.rand(2, 5), torch.ones(2, 5, dtype=torch.bool)
    args = dict(k=2, num_candidates=3, position_temperature=0.1) | kwargs
    with pytest.raises(exc, match=word):
        igk.sample_candidates(conf, valid, **args)


def test_bad_tensors():
    args = dict(k=2, num_candidates=3, position_temperature=0.1)
    with pytest.raises(TypeError, match="valid"):
        igk.sample_candidates(torch.rand(2, 5), torch.ones(2, 5), **args)
    with pytest.raises(TypeError, match="confidence"):
        igk.sample_candidates(torch.rand(2, 5).double(), torch.ones(2, 5, dtype=torch.bool), **args)
    with pytest.raises(ValueError, match="confidence"):
        igk.sample_candidates(torch.rand(2, 6), torch.ones(2, 5, dtype=torch.bool), **args)
    with pytest.raises(ValueError, match="confidence"):
        igk.sample_candidates(torch.rand(2, 2, 5), torch.ones(2, 5, dtype=torch.bool), **args)
    with pytest.raises(ValueError, match="NaN"):
        igk.sample_candidates(torch.tensor([[0.1, float("nan")]]), torch.ones(1, 2, dtype=torch.bool), **args)


def test_nan_confidence_names_the_sequence(backend):
    conf = torch.rand(3, 6)
    conf[2, 4] = float("nan")
    args = dict(k=2, num_candidates=3, position_temperature=0.1, backend=backend.backend)
    valid = backend.put(torch.ones(3, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"confidence holds NaN \(sequence 2\)"):
        with igk.deferred_checks():                     # deferred on a GPU, at once on CPU
            igk.sample_candidates(backend.put(conf), valid, **args)


@pytest.mark.parametrize("seq_k, word", [([1, 3], r"seq_k\[1\] = 3"), ([-1, 0], r"seq_k\[0\] = -1")])
def test_deferred_seq_k_error_names_the_callers_value(monkeypatch, seq_k, word):
    """On a device the check is deferred and seq_k clamped meanwhile; the message, built later,
    still names the value passed (the CPU made to defer like a GPU)."""
    monkeypatch.setattr(deferred, "HOST_DEVICES", frozenset())
    given = torch.tensor(seq_k)
    with pytest.raises(ValueError, match=word):
        with igk.deferred_checks():
            igk.sample_candidates(torch.rand(2, 5), torch.ones(2, 5, dtype=torch.bool), k=2, num_candidates=3,
                                  position_temperature=0.1, seq_k=given, backend="reference")
    assert given.tolist() == seq_k
