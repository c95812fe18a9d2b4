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


def gumbel_scores(logits_row: torch.Tensor, tokens: torch.Tensor, temperature: float, key: int, ctr: int,
                  stream: int, offset: int) -> torch.Tensor:
    """The fp32 Gumbel scores of ``tokens`` in one row's draw, as the reference forms them."""
    from igkernels import philox
    V = logits_row.shape[-1]
    words = philox.random_words(torch.tensor(key), torch.tensor(ctr), torch.tensor(stream),
                                philox.TOKEN_DOMAIN, offset, V)
    scores = logits_row.float() + torch.tensor(temperature, dtype=torch.float32) * philox.gumbel(words)
    return scores[tokens]
