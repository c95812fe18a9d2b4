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

    Statistics within TOL; argmax exactly; draws exactly, bar near-ties: where they differ, both
    tokens' fp32 scores must be within float rounding of each other (different ``log``s).
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
        sc = gumbel_scores(flat[r], torch.stack([g[r, s], w[r, s]]), temperature, seed, ctr, s, offset)
        assert torch.isclose(sc[0], sc[1], rtol=1e-5, atol=1e-5), f"row {r} stream {s}: not a near-tie {sc}"
    if g.numel() >= 1000:   # near-ties are rare: a share of them says more than one
        assert (g != w).float().mean() < 1e-3
    same = got.samples == want.samples
    torch.testing.assert_close(torch.where(same, got.sample_prob, want.sample_prob), want.sample_prob,
                               **tol["prob"])


def gumbel_scores(logits_row: torch.Tensor, tokens: torch.Tensor, temperature: float, key: int, ctr: int,
                  stream: int, offset: int) -> torch.Tensor:
    """The fp32 Gumbel scores of ``tokens`` in one row's draw, as the reference forms them."""
    from igkernels.backends import philox
    V = logits_row.shape[-1]
    words = philox.random_words(torch.tensor(key), torch.tensor(ctr), torch.tensor(stream),
                                philox.TOKEN_DOMAIN, offset, V)
    scores = logits_row.float() + torch.tensor(temperature, dtype=torch.float32) * philox.gumbel(words)
    return scores[tokens]
