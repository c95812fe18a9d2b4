"""The fused LM head on PyTorch tiles (the ``cuda`` backend's ``linear_softmax_entropy``), and
``combine`` / ``locate_tiles``, which merge per-(row, vocabulary slice) partial states and place
the draws among the slices for it and for Triton.

``partial_states`` walks the vocabulary in tiles of ``_TILE_ELEMS / rows`` columns: each tile's
logits ``hidden[rows] @ weight[tile].T (+ bias)`` are formed in the inputs' dtype (rounded where
the unfused expression rounds them), reduced to a partial state and dropped, so memory is O(rows)
plus one tile, never [rows, V].

Partial state of columns C (all fp32 unless said): m = max_C f, s = sum_C exp(f - m),
t = sum_C exp(f - m)(f - m), top2 (second largest, duplicates counting), idx (int, lowest index
of m), bad (a NaN/+inf was seen), and, when drawing, the tempered mass
sum_C exp(fp32(f - m) * beta) (= s at temperature 1). ``combine`` merges slices by the
online-softmax rules of ``docs/backend_contract.md#online-softmax-statistics``; slices hold
ascending columns, so "first slice reaching the max" gives the lowest index.

Draws (``docs/backend_contract.md#token-draws-inverse-transform``): ``locate_tiles`` moves the
tile masses to the row max, sums them in column order (float64) and finds each draw's tile;
``draw`` then walks the tiles once more and, in the tile where a draw falls, locates it by the
cumulative sum of the tile's weights. Re-forming the tiles costs one more pass of the head over
the drawing rows; the sampler draws only on its committed rows, N times fewer than it scores.
"""
from __future__ import annotations

import torch

from ..ops.deferred import first_error
from ..ops.types import TokenStats
from . import reference

_TILE_ELEMS = 1 << 20  # elements of one logits tile


def linear_softmax_entropy(hidden: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                           keys: torch.Tensor, ctr: torch.Tensor, num_samples: int, temperature: float,
                           offset: int) -> tuple[TokenStats, torch.Tensor]:
    """Backend entry (docs/backend_contract.md): K1 of ``hidden[rows] @ weight.T + bias``; hidden [n, D]."""
    h = hidden[rows]
    drawing = num_samples > 0 and temperature > 0.0
    tile = _tile(h.shape[0], weight.shape[0])
    part_f, part_i, mass = partial_states(h, weight, bias, tile, temperature if drawing else 0.0)
    entropy, lse, inv_s, amax, second, m, bad = combine(part_f, part_i)
    if drawing:
        where = locate_tiles(part_f[..., 0], mass, m, keys, ctr, num_samples, temperature, offset)
        samples, f_draw = draw(h, weight, bias, tile, m, amax, temperature, *where)
        sprob = torch.exp(f_draw - m[:, None]) * inv_s[:, None]
    else:
        samples = amax[:, None].expand(-1, num_samples).clone()
        sprob = inv_s[:, None].expand(-1, num_samples).clone()
    return TokenStats(entropy, lse, inv_s, amax, second, samples, sprob), first_error(bad)


def _tile(R: int, V: int) -> int:
    return max(4, min(V, _TILE_ELEMS // max(R, 1)) // 4 * 4)


def _logits(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, v0: int, v1: int) -> torch.Tensor:
    """fp32 logits of columns v0..v1-1, rounded as the unfused expression rounds them."""
    logits = h @ weight[v0:v1].T
    if bias is not None:
        logits = logits + bias[v0:v1]
    return logits.float()


def partial_states(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, tile: int,
                   temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Partial states of the vocabulary tiles of ``h`` [R, D], one tile at a time: part_f
    [R, tiles, 4] (m, s, t, top2), part_i [R, tiles, 2] (idx, bad) and the tempered masses
    [R, tiles] relative to each tile's m (none, [R, 0], when ``temperature`` is 0: no draws)."""
    V = weight.shape[0]
    pf, pi, pm = [], [], []
    for v0 in range(0, V, tile):
        v1 = min(V, v0 + tile)
        f = _logits(h, weight, bias, v0, v1)
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
        s = e.sum(1)
        pf.append(torch.stack([m, s, ex.sum(1), top2], -1))
        pi.append(torch.stack([idx + v0, bad.long()], -1))
        if temperature > 0.0:
            # (a tile of only -inf has m = -inf, where the weights are NaN: fin drops them)
            pm.append(s if temperature == 1.0 else
                      torch.where(fin, reference.tempered_weights(f, m, temperature), 0.0).sum(1))
    R = h.shape[0]
    mass = torch.stack(pm, 1) if pm else torch.zeros(R, 0, device=h.device)
    return torch.stack(pf, 1), torch.stack(pi, 1), mass


def combine(part_f: torch.Tensor, part_i: torch.Tensor):
    """Merge the partial states of each row's slices (ascending columns), see the module doc:
    every slice moves to the common max M with a = exp(m - M), s = sum a s_j,
    t = sum a (t_j + (m_j - M) s_j).

    part_f [R, n, 4] (m, s, t, top2), part_i [R, n, 2] (idx, bad).
    Returns (entropy, logsumexp, max_prob, argmax, second_prob, m, bad), each [R].
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
    return entropy, lse, inv_s, amax, second, m, bad


def locate_tiles(ref: torch.Tensor, mass: torch.Tensor, m: torch.Tensor, keys: torch.Tensor, ctr: torch.Tensor,
                 num_samples: int, temperature: float, offset: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The tile of each draw: (tile [R, S] int64, base [R, S] float64: the cumulative mass of the
    tiles before it, target [R, S] float64: u * Z).

    ref, mass [R, n]: each tile's tempered mass relative to ref (>= the tile's max; ignored
    where mass is 0); m [R]: the row max. A target beyond every tile (rounding) goes to the last
    tile of positive mass.
    """
    move = torch.exp(((ref - m[:, None]) * reference.tempered_beta(temperature, m.device)).double())
    moved = torch.where(mass > 0, mass.double() * move, 0.0)
    c = torch.cumsum(moved, 1)
    target = reference.token_uniforms(keys, ctr, num_samples, offset).double() * c[:, -1:]
    tile = reference.first_above(c, target, moved > 0)
    base = torch.where(tile > 0, c.gather(1, (tile - 1).clamp(min=0)), 0.0)
    return tile, base, target


def draw(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, tile: int, m: torch.Tensor,
         amax: torch.Tensor, temperature: float, tiles: torch.Tensor, base: torch.Tensor, target: torch.Tensor
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """(samples [R, S], their fp32 logits): each draw located in its tile (``locate_tiles``) by
    the float64 cumulative sum of the tile's weights from ``base``; if rounding leaves the target
    unreached, the tile's last column of positive weight (else the row's argmax)."""
    V = weight.shape[0]
    samples = amax[:, None].expand_as(tiles).clone()
    f_draw = m[:, None].expand_as(tiles).clone()
    for j, v0 in enumerate(range(0, V, tile)):
        here = tiles == j
        f = _logits(h, weight, bias, v0, min(V, v0 + tile))
        f = torch.where(f < float("inf"), f, float("-inf"))
        w = reference.tempered_weights(f, m, temperature)
        c = torch.cumsum(w.double(), 1)                                     # [R, tile]
        col = reference.first_above(c, (target - base).contiguous(), w > 0)    # [R, S]
        found = here & (w > 0).any(1, keepdim=True)
        samples = torch.where(found, col + v0, samples)
        f_draw = torch.where(found, f.gather(1, col.clamp(max=f.shape[1] - 1)), f_draw)
    return samples, f_draw
