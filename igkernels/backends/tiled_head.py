"""The fused LM head on PyTorch tiles (the ``cpu`` and ``cuda`` backends' ``linear_softmax_entropy``),
and ``combine``, which merges per-(row, vocabulary slice) partial states for it and for Triton.

``partial_states`` walks the vocabulary in tiles of ``_TILE_ELEMS / rows`` columns: each tile's
logits ``hidden[rows] @ weight[tile].T (+ bias)`` are formed in the inputs' dtype (rounded where
the unfused expression rounds them), reduced to a partial state and dropped, so memory is O(rows)
plus one tile, never [rows, V].

Partial state of columns C (all fp32 unless said): m = max_C f, s = sum_C exp(f - m),
t = sum_C exp(f - m)(f - m), top2 (second largest, duplicates counting), idx (int, lowest index
of m), bad (a NaN/+inf was seen), and per sample the best Gumbel score, its logit and its
column. ``combine`` merges slices by the online-softmax rules of
``docs/backend_contract.md#online-softmax-statistics``; slices hold ascending columns, so "first
slice reaching the max" gives the lowest index.
"""
from __future__ import annotations

import torch

from ..ops.deferred import first_error
from ..ops.types import TokenStats
from . import philox

_TILE_ELEMS = 1 << 20  # elements of one logits tile (times samples)


def linear_softmax_entropy(hidden: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                           keys: torch.Tensor, ctr: torch.Tensor, num_samples: int, temperature: float,
                           offset: int) -> tuple[TokenStats, torch.Tensor]:
    """Backend entry (docs/backend_contract.md): K1 of ``hidden[rows] @ weight.T + bias``; hidden [n, D]."""
    parts = partial_states(hidden[rows], weight, bias, keys, ctr, num_samples, temperature, offset)
    *stats, bad = combine(*parts, num_samples)
    return TokenStats(*stats), first_error(bad)


def partial_states(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, keys: torch.Tensor,
                   ctr: torch.Tensor, num_samples: int, temperature: float, offset: int):
    """Partial states [R, tiles, ...] of the vocabulary tiles of ``h`` [R, D], one tile at a time."""
    R, V = h.shape[0], weight.shape[0]
    S = num_samples if temperature > 0.0 else 0
    tile = max(4, min(V, _TILE_ELEMS // (R * max(S, 1))) // 4 * 4)
    temp32 = torch.tensor(temperature, dtype=torch.float32)
    streams = torch.arange(S, device=h.device)
    pf, pi, psf, psi = [], [], [], []
    for v0 in range(0, V, tile):
        v1 = min(V, v0 + tile)
        logits = h @ weight[v0:v1].T
        if bias is not None:
            logits = logits + bias[v0:v1]
        f = logits.float()
        bad = (~(f < float("inf"))).any(1)
        f = torch.where(f < float("inf"), f, float("-inf"))
        fin = f > float("-inf")
        m = f.max(1).values
        idx = f.argmax(1)  # first maximal value: the lowest index
        if v1 - v0 > 1:
            top2 = f.scatter(1, idx[:, None], float("-inf")).max(1).values
        else:
            top2 = torch.full_like(m, float("-inf"))
        x = torch.where(fin, f - m[:, None], torch.zeros_like(f))
        e = torch.where(fin, torch.exp(x), torch.zeros_like(f))
        # A spread beyond float32 makes x -inf where exp is 0: the term is 0, not 0 * -inf.
        ex = torch.where(e > 0, e * x, torch.zeros_like(f))
        pf.append(torch.stack([m, e.sum(1), ex.sum(1), top2], -1))
        pi.append(torch.stack([idx + v0, bad.long()], -1))
        if S:
            cols = torch.arange(v0, v1, device=h.device)
            words = philox.philox4x32(keys[:, None, None], cols >> 2, ctr[:, None, None],
                                      (streams | (philox.TOKEN_DOMAIN << 24))[None, :, None], offset)
            w = torch.stack(words, -1).gather(-1, (cols & 3).expand(R, S, v1 - v0)[..., None]).squeeze(-1)
            score = f[:, None, :] + temp32 * philox.gumbel(w)
            score = torch.where(fin[:, None, :], score, float("-inf"))
            best = score.argmax(-1)                                   # [R, S], lowest index of the max
            psf.append(torch.stack([score.gather(-1, best[..., None]).squeeze(-1),
                                    f.gather(1, best)], -1))
            psi.append(best + v0)
    R_ = (R, len(pf))
    part_sf = torch.stack(psf, 1) if S else torch.zeros(R_ + (0, 2), device=h.device)
    part_si = torch.stack(psi, 1) if S else torch.zeros(R_ + (0,), dtype=torch.int64, device=h.device)
    return torch.stack(pf, 1), torch.stack(pi, 1), part_sf, part_si


def combine(part_f: torch.Tensor, part_i: torch.Tensor, part_sf: torch.Tensor, part_si: torch.Tensor,
            num_samples: int):
    """Merge the partial states of each row's slices (ascending columns), see the module doc:
    every slice moves to the common max M with a = exp(m - M), s = sum a s_j,
    t = sum a (t_j + (m_j - M) s_j).

    part_f [R, n, 4] (m, s, t, top2), part_i [R, n, 2] (idx, bad), part_sf [R, n, S', 2]
    (score, logit), part_si [R, n, S'] (column); S' = 0 when the draws are the argmax.
    Returns (entropy, logsumexp, max_prob, argmax, second_prob, samples, sample_prob, bad).
    """
    pm, ps, pt, ptop2 = part_f.unbind(-1)
    pidx, pbad = part_i.long().unbind(-1)
    m = pm.max(1).values
    seen = ps > 0
    dm = torch.where(seen, pm - m[:, None], torch.zeros_like(pm))
    alpha = torch.where(seen, torch.exp(dm), torch.zeros_like(pm))
    s = (alpha * ps).sum(1)
    t = torch.where(alpha > 0, alpha * (pt + dm * ps), torch.zeros_like(pm)).sum(1)
    first = (pm == m[:, None]).int().argmax(1, keepdim=True)   # first slice holding the max
    amax = pidx.gather(1, first).squeeze(1)
    # Second largest: any slice's second, or the max of any slice other than `first`.
    top2 = torch.maximum(ptop2.max(1).values, pm.scatter(1, first, float("-inf")).max(1).values)
    bad = (pbad != 0).any(1) | ~(m > float("-inf"))
    log_s = torch.log(s)
    inv_s = 1.0 / s
    entropy = log_s - t * inv_s
    lse = m + log_s
    second = torch.where(top2 > float("-inf"), torch.exp(top2 - m) * inv_s, torch.zeros_like(s))
    R = pm.shape[0]
    if part_sf.shape[2] == 0:
        samples = amax[:, None].expand(R, num_samples).clone()
        sprob = inv_s[:, None].expand(R, num_samples).clone()
    else:
        score, f = part_sf.unbind(-1)                                 # [R, n, S]
        firsts = (score == score.max(1, keepdim=True).values).int().argmax(1, keepdim=True)
        samples = part_si.long().gather(1, firsts).squeeze(1)
        sprob = torch.exp(f.gather(1, firsts).squeeze(1) - m[:, None]) * inv_s[:, None]
    return entropy, lse, inv_s, amax, second, samples, sprob, bad
