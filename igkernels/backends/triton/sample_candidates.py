"""K3: N top-k position sets per sequence, candidate 0 noiseless, in one launch.

Math: for sequence b, candidate c and position t
    score[0, t] = conf[b, 0, t]
    score[c, t] = conf[b, c, t] / tau + g[c, t]          (c >= 1, tau > 0; IEEE division)
    g[c, t]     = Gumbel(philox(key_b, (t >> 2, ctr_b, c | 1 << 24, offset))[t & 3])
The reference takes the first k_b positions in the order (valid first, score descending, lower
position first) and drops the invalid ones to -1; k_b = seq_k[b] (<= k), or k without seq_k.
Here each (c, t) gets one int64 key that orders exactly like that:
    key = ord(score) << 32 | (2**31 - 1 - t) << 1 | valid
where ord maps fp32 bits to int32 preserving order (x ^ 0x7FFFFFFF when negative, with -0
made +0 and NaN +inf first, as torch.sort compares them) and is -2**31 for an invalid t,
below ord(-inf); so a larger key is a valid position, then a larger score, then a lower one.
The keys of one candidate are distinct (t is in them), so its first k_b picks are exactly its
k_b largest keys.

One program per sequence walks T in tiles of [BLOCK_N, BLOCK_T] keys (registers bounded by the
tile, not by T) and keeps per candidate a list of its k_b largest keys so far (BLOCK_K slots,
unordered; slots >= k_b hold _FULL and never change). Each tile merges by rounds: while some
candidate's largest tile key beats the smallest key of its list, that key replaces it and
leaves the tile. A candidate takes at most k_b keys from a tile (they arrive in descending
order), and a tile that beats no list costs no round. At the end the listed positions are
sorted ascending per candidate (the -1 padding last), then candidate c is flagged a duplicate
when its row equals the row of some c' < c.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .philox import POSITION_DOMAIN, gumbel_at, split_key

_TAKEN = tl.constexpr(-9223372036854775807)  # below every real key (ord(-inf) << 32 is about -9.19e18)
_FULL = tl.constexpr(9223372036854775807)    # a list slot past k_b: above every key, never replaced
_NONE = tl.constexpr(2147483647)
#: Keys one program holds at a time: tiles of BLOCK_T = TILE // BLOCK_N positions (at least 4,
#: fewer for a short T). Tests make it small so that short rows take many tiles.
TILE = 4096
#: Largest [BLOCK_N, BLOCK_K] list (BLOCK_K = next power of 2 of min(k, T)); beyond it the
#: reference runs instead.
MAX_TILE = 1 << 16


@triton.jit
def _tile_keys(conf_ptr, s_b, s_n, s_t, valid_ptr, b, t0, T, N, tau, offset, k0, k1, ctr,
               NOISE: tl.constexpr, DOMAIN: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_T: tl.constexpr):
    """[BLOCK_N, BLOCK_T] keys of the candidates at positions t0 + [0, BLOCK_T); _TAKEN outside [N, T]."""
    cn = tl.arange(0, BLOCK_N)[:, None]
    tt = t0 + tl.arange(0, BLOCK_T)[None, :]
    inb = (cn < N) & (tt < T)
    conf = tl.load(conf_ptr + b.to(tl.int64) * s_b + cn * s_n + tt * s_t, mask=inb, other=0.0)
    valid = tl.load(valid_ptr + b.to(tl.int64) * T + tt, mask=tt < T, other=0) != 0
    score = conf
    if NOISE:
        g = gumbel_at(tt, k0, k1, ctr, cn | (DOMAIN << 24), offset)
        score = tl.where(cn == 0, conf, tl.math.div_rn(conf, tau) + g)
    score = tl.where(score != score, float("inf"), score)
    score = tl.where(score == 0.0, 0.0, score)
    bits = score.to(tl.int32, bitcast=True)
    ordered = tl.where(valid, bits ^ ((bits >> 31) & 0x7FFFFFFF), -2147483648)
    low = ((2147483647 - tt).to(tl.int64) << 1) | valid.to(tl.int64)
    key = (ordered.to(tl.int64) << 32) | low
    return tl.where(inb, key, _TAKEN)


@triton.jit(do_not_specialize=["T", "N", "k", "tau", "offset", "s_b", "s_n", "s_t"])
def sample_candidates_kernel(conf_ptr, s_b, s_n, s_t, valid_ptr, keys, ctr_ptr, seq_k_ptr, pos_ptr, uniq_ptr,
                             T, N, k, tau, offset,
                             NOISE: tl.constexpr, DOMAIN: tl.constexpr, HAS_SEQ_K: tl.constexpr,
                             BLOCK_N: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_K: tl.constexpr):
    b = tl.program_id(0)
    cn = tl.arange(0, BLOCK_N)[:, None]
    kk = tl.arange(0, BLOCK_K)[None, :]
    if HAS_SEQ_K:
        k_b = tl.load(seq_k_ptr + b).to(tl.int32)
    else:
        k_b = k
    k0, k1 = split_key(tl.load(keys + b))
    ctr = tl.load(ctr_ptr + b).to(tl.uint32)
    # The k_b largest keys so far per candidate, unordered: slots < k_b hold keys (distinct) or
    # _TAKEN (empty, below every key), the rest _FULL (above every key, never replaced).
    best = tl.where(kk < k_b, _TAKEN, _FULL) + tl.zeros([BLOCK_N, BLOCK_K], tl.int64)
    low = tl.min(best, axis=1)
    for t0 in range(0, T, BLOCK_T):
        key = _tile_keys(conf_ptr, s_b, s_n, s_t, valid_ptr, b, t0, T, N, tau, offset, k0, k1, ctr,
                         NOISE, DOMAIN, BLOCK_N, BLOCK_T)
        top = tl.max(key, axis=1)
        more = tl.max((top > low).to(tl.int32), axis=0) > 0
        while more:   # each candidate's largest tile key replaces the smallest of its list
            win = (top > low)[:, None]
            slot = tl.min(tl.where(best == low[:, None], kk, BLOCK_K), axis=1)[:, None]
            best = tl.where(win & (kk == slot), top[:, None], best)
            key = tl.where(win & (key == top[:, None]), _TAKEN, key)
            top = tl.max(key, axis=1)
            low = tl.min(best, axis=1)
            more = tl.max((top > low).to(tl.int32), axis=0) > 0
    lo = best & 0xFFFFFFFF
    pos = (2147483647 - (lo >> 1)).to(tl.int32)
    ok = (best != _TAKEN) & (best != _FULL) & ((lo & 1) == 1)
    rows = tl.sort(tl.where(ok, pos, _NONE), dim=1)
    rows = tl.where(rows == _NONE, -1, rows)
    cn1 = tl.arange(0, BLOCK_N)
    dup = tl.zeros([BLOCK_N], tl.int1)
    for c in range(N):
        row_c = tl.sum(tl.where(cn == c, rows, 0), axis=0)
        same = tl.min(tl.where(rows == row_c[None, :], 1, 0), axis=1) == 1
        dup = dup | (same & (cn1 > c))
    out = pos_ptr + b.to(tl.int64) * N * k + cn * k
    tl.store(out + kk, rows.to(tl.int64), mask=(cn < N) & (kk < k))
    for j in range(BLOCK_K, k, BLOCK_K):   # k > T: columns no list slot reaches are -1
        tl.store(out + j + kk, tl.full([BLOCK_N, BLOCK_K], -1, tl.int64), mask=(cn < N) & (j + kk < k))
    tl.store(uniq_ptr + b.to(tl.int64) * N + cn1, (~dup).to(tl.int8), mask=cn1 < N)


def config(N: int, T: int, k: int) -> dict:
    """The launch's constexprs and warps for N candidates, T positions and width k."""
    block_n = max(2, triton.next_power_of_2(N))
    block_t = min(max(16, triton.next_power_of_2(T)), max(4, TILE // block_n))
    block_k = max(2, triton.next_power_of_2(max(1, min(k, T))))
    warps = max(1, min(16, block_n * block_t // 256))
    return dict(BLOCK_N=block_n, BLOCK_T=block_t, BLOCK_K=block_k, num_warps=warps)


def launch(confidence: torch.Tensor, valid: torch.Tensor, k: int, seq_k: torch.Tensor | None, N: int, tau: float,
           keys: torch.Tensor, ctr: torch.Tensor, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions [B, N, k] int64, unique [B, N] bool); confidence [B, N, T] fp32, any strides;
    seq_k: None or contiguous int64 [B] in [0, k]."""
    B, T = valid.shape
    dev = valid.device
    cfg = config(N, T, k)
    if cfg["BLOCK_N"] * cfg["BLOCK_K"] > MAX_TILE:
        from .. import reference
        return tuple(reference.sample_candidates(confidence, valid, k, seq_k, N, tau, keys, ctr, offset))
    valid8 = valid.contiguous().view(torch.uint8)
    positions = torch.empty(B, N, k, dtype=torch.int64, device=dev)
    unique = torch.empty(B, N, dtype=torch.bool, device=dev)
    sample_candidates_kernel[(B,)](
        confidence, confidence.stride(0), confidence.stride(1), confidence.stride(2), valid8, keys, ctr,
        keys if seq_k is None else seq_k, positions, unique.view(torch.int8), T, N, k, tau, offset,
        NOISE=tau > 0.0 and N > 1, DOMAIN=POSITION_DOMAIN, HAS_SEQ_K=seq_k is not None,
        enable_fp_fusion=False, **cfg)
    return positions, unique
