"""Random inputs and tolerances shared by the kernel tests."""
from __future__ import annotations

import torch

# Every fused kernel reads the logits in their own dtype, converts each value exactly to
# fp32 and accumulates in fp32; the reference accumulates the same values in float64. The
# difference is fp32 accumulation error over V terms (relative ~1e-6 * sqrt(V), well under
# 1e-4 for V <= 2**17), so it does not depend on the input dtype: fp16 and bf16 values are
# exactly representable in fp32. Probabilities are bounded by 1, so one absolute tolerance
# serves them. Entropy and logsumexp are in nats (O(log V) <= 12).
TOL = {
    dtype: dict(entropy=dict(atol=1e-4, rtol=1e-4),
                logsumexp=dict(atol=1e-4, rtol=1e-5),
                prob=dict(atol=2e-6, rtol=1e-4))
    for dtype in (torch.float32, torch.float16, torch.bfloat16)
}
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
KINDS = ("normal", "wide", "peaked", "neg_inf", "ties")


def make_logits(shape: tuple, dtype: torch.dtype, kind: str, gen: torch.Generator) -> torch.Tensor:
    """Random logits [..., V] of one kind; every row keeps at least one finite entry.

    normal:  N(0, 3^2); wide: N(0, 20^2) (near-one-hot rows);
    peaked:  one entry far above the rest; neg_inf: ~80% of entries -inf (banned tokens);
    ties:    small integers, so exact ties occur, at the maximum too.
    """
    V = shape[-1]
    if kind == "ties":
        x = torch.randint(-2, 3, shape, generator=gen).float()
    else:
        x = torch.randn(shape, generator=gen) * (20.0 if kind == "wide" else 3.0)
    if kind == "peaked":
        hot = torch.randint(0, V, shape[:-1] + (1,), generator=gen)
        x.scatter_(-1, hot, 40.0)
    if kind == "neg_inf":
        banned = torch.rand(shape, generator=gen) < 0.8
        keep = torch.randint(0, V, shape[:-1] + (1,), generator=gen)
        banned.scatter_(-1, keep, False)
        x = x.masked_fill(banned, float("-inf"))
    return x.to(dtype)


def assert_matches_reference(got, want, logits: torch.Tensor, temperature: float, seed: int, offset: int,
                             dtype: torch.dtype, rows: torch.Tensor | None = None) -> None:
    """A fused TokenStats against the reference's, for an int ``seed`` (counter row = row index).

    Statistics within TOL; argmax exactly; draws exactly, bar targets within float rounding
    of a cumulative boundary: where they differ, the reference's target u * Z must lie within
    DRAW_EPS * Z of both the upper end of the lower token and the lower end of the higher.
    """
    got, want = (type(st)(*(t.cpu() for t in st)) for st in (got, want))
    tol = TOL[dtype]
    torch.testing.assert_close(got.entropy, want.entropy, **tol["entropy"])
    torch.testing.assert_close(got.logsumexp, want.logsumexp, **tol["logsumexp"])
    torch.testing.assert_close(got.max_prob, want.max_prob, **tol["prob"])
    torch.testing.assert_close(got.second_prob, want.second_prob, **tol["prob"])
    assert torch.equal(got.argmax, want.argmax)
    flat = logits.reshape(-1, logits.shape[-1]).cpu()
    if rows is not None:
        rows = rows.cpu()
        flat = flat[rows]
    g = got.samples.reshape(flat.shape[0], got.samples.shape[-1])
    w = want.samples.reshape(flat.shape[0], want.samples.shape[-1])
    for r, s in (g != w).nonzero().tolist():
        ctr = int(rows[r]) if rows is not None else r
        assert_near_boundary(flat[r], int(g[r, s]), int(w[r, s]), temperature, seed, ctr, s, offset)
    if g.numel() >= 1000:   # boundary cases are rare: a share of them says more than one
        assert (g != w).float().mean() < 1e-3
    same = got.samples == want.samples
    torch.testing.assert_close(torch.where(same, got.sample_prob, want.sample_prob), want.sample_prob,
                               **tol["prob"])


DRAW_EPS = 1e-5  # fp32 tile sums over V ~ 1e5 columns round to well within this share of Z


def draw_target(logits_row: torch.Tensor, temperature: float, key: int, ctr: int, draw: int,
                offset: int) -> tuple[torch.Tensor, float]:
    """(C, target): the reference's float64 cumulative tempered weights [V] of one row and the
    target u * Z of its draw ``draw``."""
    from igkernels.backends import reference
    f = logits_row.float()[None]
    w = reference.tempered_weights(f, f.max(-1).values, temperature)[0]
    c = torch.cumsum(w.double(), -1)
    key = key - 2 ** 64 if key >= 2 ** 63 else key   # the unsigned key's int64 bits
    u = reference.token_uniforms(torch.tensor([key]), torch.tensor([ctr]), draw + 1, offset)[0, draw]
    return c, float(u.double() * c[-1])


def assert_near_boundary(logits_row: torch.Tensor, got: int, want: int, temperature: float, key: int, ctr: int,
                         draw: int, offset: int) -> None:
    """Two draws of one target that differ must straddle a boundary within float rounding."""
    c, target = draw_target(logits_row, temperature, key, ctr, draw, offset)
    w = torch.diff(c, prepend=c.new_zeros(1))
    assert w[got] > 0, f"draw {draw}: token {got} has weight 0"
    lo, hi = min(got, want), max(got, want)
    eps = DRAW_EPS * float(c[-1])
    upper_lo, lower_hi = float(c[lo]), float(c[hi - 1])
    assert abs(target - upper_lo) <= eps and abs(target - lower_hi) <= eps, \
        f"draw {draw}: target {target} not within rounding of a boundary between tokens {got} and {want}"
