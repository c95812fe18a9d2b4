"""K3: N top-k position sets per sequence, candidate 0 noiseless, in one launch.

Math: for sequence b the program holds a [N, T] tile of scores
    score[0, t] = conf[b, 0, t]
    score[c, t] = conf[b, c, t] / tau + g[c, t]          (c >= 1, tau > 0; IEEE division)
    g[c, t]     = Gumbel(philox(key_b, (t >> 2, ctr_b, c | 1 << 24, offset))[t & 3])
The reference takes the first k positions in the order (valid first, score descending, lower
position first) and drops the invalid ones to -1. Here each (c, t) gets one int64 key that
orders exactly like that:
    key = ord(score) << 32 | (2**31 - 1 - t) << 1 | valid
where ord maps fp32 bits to int32 preserving order (x ^ 0x7FFFFFFF when negative, with -0
made +0 and NaN +inf first, as torch.sort compares them) and is -2**31 for an invalid t,
below ord(-inf); so a larger key is a valid position, then a larger score, then a lower one. k rounds of one
row-wise max pick a position per candidate and remove it. Picks are sorted ascending per
candidate (the -1 padding last), then candidate c is flagged a duplicate when its row
equals the row of some c' < c.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .philox import POSITION_DOMAIN, gumbel_at, split_key

_TAKEN = tl.constexpr(-9223372036854775807)  # below every real key (ord(-inf) << 32 is about -9.19e18)
_NONE = tl.constexpr(2147483647)
#: One program holds a sequence's [N, T] keys; beyond this many the reference runs instead.
MAX_TILE = 1 << 16


@triton.jit(do_not_specialize=["T", "N", "k", "tau", "offset", "s_b", "s_n", "s_t"])
def sample_candidates_kernel(conf_ptr, s_b, s_n, s_t, valid_ptr, keys, ctr_ptr, pos_ptr, uniq_ptr,
                             T, N, k, tau, offset,
                             NOISE: tl.constexpr, DOMAIN: tl.constexpr, BLOCK_N: tl.constexpr,
                             BLOCK_T: tl.constexpr, BLOCK_K: tl.constexpr):
    b = tl.program_id(0)
    cn = tl.arange(0, BLOCK_N)[:, None]
    tt = tl.arange(0, BLOCK_T)[None, :]
    inb = (cn < N) & (tt < T)
    conf = tl.load(conf_ptr + b.to(tl.int64) * s_b + cn * s_n + tt * s_t, mask=inb, other=0.0)
    valid = tl.load(valid_ptr + b.to(tl.int64) * T + tt, mask=tt < T, other=0) != 0
    score = conf
    if NOISE:
        k0, k1 = split_key(tl.load(keys + b))
        ctr = tl.load(ctr_ptr + b).to(tl.uint32)
        g = gumbel_at(tt, k0, k1, ctr, cn | (DOMAIN << 24), offset)
        score = tl.where(cn == 0, conf, tl.math.div_rn(conf, tau) + g)
    score = tl.where(score != score, float("inf"), score)
    score = tl.where(score == 0.0, 0.0, score)
    bits = score.to(tl.int32, bitcast=True)
    ordered = tl.where(valid, bits ^ ((bits >> 31) & 0x7FFFFFFF), -2147483648)
    low = ((2147483647 - tt).to(tl.int64) << 1) | valid.to(tl.int64)
    key = (ordered.to(tl.int64) << 32) | low
    key = tl.where(inb, key, _TAKEN)
    kk = tl.arange(0, BLOCK_K)[None, :]
    picks = tl.full([BLOCK_N, BLOCK_K], _NONE, tl.int32)
    for r in range(k):
        best = tl.max(key, axis=1)[:, None]
        lo = best & 0xFFFFFFFF
        pos = (2147483647 - (lo >> 1)).to(tl.int32)
        ok = (best != _TAKEN) & ((lo & 1) == 1)
        key = tl.where(tt == pos, _TAKEN, key)
        picks = tl.where((kk == r) & ok, pos, picks)
    rows = tl.sort(picks, dim=1)
    rows = tl.where(rows == _NONE, -1, rows)
    cn1 = tl.arange(0, BLOCK_N)
    dup = tl.zeros([BLOCK_N], tl.int1)
    for c in range(N):
        row_c = tl.sum(tl.where(cn == c, rows, 0), axis=0)
        same = tl.min(tl.where(rows == row_c[None, :], 1, 0), axis=1) == 1
        dup = dup | (same & (cn1 > c))
    out = b.to(tl.int64) * N * k + cn * k + kk
    tl.store(pos_ptr + out, rows.to(tl.int64), mask=(cn < N) & (kk < k))
    tl.store(uniq_ptr + b.to(tl.int64) * N + cn1, (~dup).to(tl.int8), mask=cn1 < N)


def launch(confidence: torch.Tensor, valid: torch.Tensor, k: int, N: int, tau: float,
           keys: torch.Tensor, ctr: torch.Tensor, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions [B, N, k] int64, unique [B, N] bool); confidence [B, N, T] fp32, any strides."""
    B, T = valid.shape
    dev = valid.device
    valid8 = valid.contiguous().view(torch.uint8)
    positions = torch.empty(B, N, k, dtype=torch.int64, device=dev)
    unique = torch.empty(B, N, dtype=torch.bool, device=dev)
    block_n = max(2, triton.next_power_of_2(N))
    block_t = max(16, triton.next_power_of_2(T))
    block_k = max(2, triton.next_power_of_2(k))
    if block_n * block_t > MAX_TILE:
        from .. import reference
        return tuple(reference.sample_candidates(confidence, valid, k, N, tau, keys, ctr, offset))
    warps = max(1, min(16, block_n * block_t // 512))
    sample_candidates_kernel[(B,)](
        confidence, confidence.stride(0), confidence.stride(1), confidence.stride(2), valid8, keys, ctr,
        positions, unique.view(torch.int8), T, N, k, tau, offset,
        NOISE=tau > 0.0 and N > 1, DOMAIN=POSITION_DOMAIN, BLOCK_N=block_n, BLOCK_T=block_t,
        BLOCK_K=block_k, num_warps=warps, enable_fp_fusion=False)
    return positions, unique
