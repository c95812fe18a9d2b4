"""Fused LM head: softmax statistics and draws of ``hidden @ weight.T (+ bias)`` without the logits.

Program (row block, vocabulary slice) loops over the slice in tiles of BLOCK_N columns. Each
tile of logits is a ``tl.dot`` over D in fp32, then rounded where the unfused code rounds:

    f = fp32(dtype(acc))                       hidden @ weight.T is returned in the inputs' dtype
    f = fp32(dtype(f + fp32(bias)))            with a bias: one more rounding, as torch's add
(fp32 inputs use an IEEE fp32 dot and no rounding.) So the statistics equal those of
``softmax_entropy(hidden @ weight.T + bias)`` up to the accumulation order of the dot, which
moves a logit by at most one unit of its dtype's last place.

Per tile the online softmax state of each row (m, s, t of
``docs/backend_contract.md#online-softmax-statistics``), the argmax (lowest index of the max)
and the second largest logit counting duplicates. Each program writes one partial state per
(row, slice); ``igkernels.backends.tiled_head.combine`` merges the slices of a row in PyTorch
([R, slices] tensors: the extra memory is O(rows)). Slices make enough programs when there are
few rows; consecutive program ids share a slice, so its weight tiles are reused from L2 by the
row blocks running together.

Draws (inverse transform, ``docs/backend_contract.md#token-draws-inverse-transform``,
beta = fp32(1 / T)): each tile j also writes, per row, its tempered mass relative to the running
max r_j after the tile, M_j = sum_{v in j} exp(fp32(f_v - r_j) * beta) (at T = 1 the sum of the
statistics' own exp), into a [R, tiles] fp32 table (1 / (4 BLOCK_N) of the fp32 logits' size,
twice: r and M). Then one program per (row, draw) moves the masses to the row max m, sums them
in column order, finds the tile where the draw's target u * Z falls (one Philox uniform per
draw), re-forms only that tile's logits (the same dot, by BLOCK_K steps, and roundings as
above) and locates the draw in it by the cumulative sum of w_v = exp(fp32(f_v - m) * beta)
(``softmax_entropy._pick_tile`` / ``_pick_column``): one tile of weights per draw, never a
second pass over the vocabulary.
"""
from __future__ import annotations


import torch
import triton
import triton.language as tl

from .. import tiled_head
from .philox import split_key, token_uniform
from .softmax_entropy import _pick_column, _pick_tile, _tile_cumsum, fp32_inverse, table_width

_BIG = tl.constexpr(2147483647)


@triton.jit
def _round(f, DTYPE: tl.constexpr, UPCAST: tl.constexpr):
    """fp32 -> the inputs' dtype DTYPE -> fp32, rounding to nearest even (nothing for fp32).

    The CPU interpreter truncates fp32 -> bf16, so there (UPCAST) bf16 is rounded on the bits:
    add 0x7FFF plus the lowest kept bit, then clear the low half (finite values; NaN/inf are
    reported as bad rows anyway)."""
    if DTYPE == tl.float16:
        f = f.to(tl.float16).to(tl.float32)
    elif DTYPE == tl.bfloat16:
        if UPCAST:
            bits = f.to(tl.uint32, bitcast=True)
            bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
            f = bits.to(tl.float32, bitcast=True)
        else:
            f = f.to(tl.bfloat16).to(tl.float32)
    return f


@triton.jit
def _tile_logits(h_ptr, hrow, rmask, stride_h, w_ptr, stride_w, b_ptr, cols, cmask, D,
                 HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                 UPCAST: tl.constexpr):
    """fp32 logits [BLOCK_M, BLOCK_N] of hidden rows ``hrow`` (where ``rmask``) and weight rows
    ``cols`` (where ``cmask``): a tl.dot over D in BLOCK_K steps, then the rounding points of
    the unfused hidden @ weight.T (+ bias), see the module doc."""
    DTYPE: tl.constexpr = h_ptr.dtype.element_ty
    ks = tl.arange(0, BLOCK_K)
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0_ in range(0, D, BLOCK_K):
        kk = k0_ + ks
        kmask = kk < D
        a = tl.load(h_ptr + hrow[:, None] * stride_h + kk[None, :],
                    mask=rmask[:, None] & kmask[None, :], other=0.0)
        b = tl.load(w_ptr + cols[None, :].to(tl.int64) * stride_w + kk[:, None],
                    mask=kmask[:, None] & cmask[None, :], other=0.0)
        # UPCAST (the CPU interpreter, whose 16-bit tl.dot is wrong): products of 16-bit
        # values are exact in fp32, so an fp32 dot computes what the tensor cores compute.
        if DTYPE == tl.float32 or UPCAST:
            acc = tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
        else:
            acc = tl.dot(a, b, acc)
    f = _round(acc, DTYPE, UPCAST)
    if HAS_BIAS:
        f = _round(f + tl.load(b_ptr + cols, mask=cmask, other=0.0).to(tl.float32)[None, :], DTYPE, UPCAST)
    return f


# Arguments that change from call to call (rows, the temperature) are not specialised: a new
# value must not cost a decode a recompile. V and D (fixed per model) keep their divisibility hints.
@triton.jit(do_not_specialize=["R", "v_per_split", "n_splits", "beta"])
def _linear_stats_kernel(
        h_ptr, rows_ptr, stride_h, w_ptr, stride_w, b_ptr, part_f_ptr, part_i_ptr, tab_r, tab_m,
        R, V, D, v_per_split, n_splits, beta,
        HAS_BIAS: tl.constexpr, HAS_SAMPLES: tl.constexpr, TEMPERED: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, UPCAST: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_s = tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rmask = rm < R
    hrow = tl.load(rows_ptr + rm, mask=rmask, other=0)
    cols0 = tl.arange(0, BLOCK_N)

    m = tl.full([BLOCK_M], float("-inf"), tl.float32)
    s = tl.zeros([BLOCK_M], tl.float32)
    t = tl.zeros([BLOCK_M], tl.float32)
    top2 = tl.full([BLOCK_M], float("-inf"), tl.float32)
    idx = tl.full([BLOCK_M], _BIG, tl.int32)
    bad = tl.zeros([BLOCK_M], tl.int32)

    v_lo = pid_s * v_per_split
    v_hi = tl.minimum(V, v_lo + v_per_split)
    for v0 in range(v_lo, v_hi, BLOCK_N):
        cols = v0 + cols0
        cmask = cols < v_hi
        f = _tile_logits(h_ptr, hrow, rmask, stride_h, w_ptr, stride_w, b_ptr, cols, cmask, D,
                         HAS_BIAS, BLOCK_M, BLOCK_N, BLOCK_K, UPCAST)
        valid = cmask[None, :] & rmask[:, None]
        bad = tl.maximum(bad, tl.max((valid & ~(f < float("inf"))).to(tl.int32), axis=1))
        # NaN / +inf are reported through `bad`; the statistics see them as -inf (absent).
        f = tl.where(valid & (f < float("inf")), f, float("-inf"))

        tmax = tl.max(f, axis=1)
        targ = tl.min(tl.where(f == tmax[:, None], cols[None, :], _BIG), axis=1)
        ttop2 = tl.max(tl.where(cols[None, :] == targ[:, None], float("-inf"), f), axis=1)
        top2 = tl.maximum(tl.maximum(top2, ttop2), tl.minimum(m, tmax))
        idx = tl.where(tmax > m, targ, idx)
        m_new = tl.maximum(m, tmax)

        seen = s > 0
        dm = tl.where(seen, m - m_new, 0.0)
        alpha = tl.where(seen, tl.exp(dm), 0.0)
        # A spread beyond float32 makes dm or x -inf where exp is 0: those terms are 0, not 0 * -inf.
        t = tl.where(alpha > 0, alpha * (t + dm * s), 0.0)
        s = alpha * s
        fin = f > float("-inf")
        x = tl.where(fin, f - m_new[:, None], 0.0)
        e = tl.where(fin, tl.exp(x), 0.0)
        tile_s = tl.sum(e, axis=1)
        s += tile_s
        t += tl.sum(tl.where(e > 0, e * x, 0.0), axis=1)
        m = m_new

        if HAS_SAMPLES:
            # The tile's tempered mass relative to r_j = m_new (>= every logit of the tile).
            if TEMPERED:
                mass = tl.sum(tl.where(fin, tl.exp(x * beta), 0.0), axis=1)
            else:
                mass = tile_s
            at = rm.to(tl.int64) * tl.cdiv(V, BLOCK_N) + v0 // BLOCK_N
            tl.store(tab_r + at, m_new, mask=rmask)
            tl.store(tab_m + at, mass, mask=rmask)

    base = rm * n_splits + pid_s
    tl.store(part_f_ptr + base * 4 + 0, m, mask=rmask)
    tl.store(part_f_ptr + base * 4 + 1, s, mask=rmask)
    tl.store(part_f_ptr + base * 4 + 2, t, mask=rmask)
    tl.store(part_f_ptr + base * 4 + 3, top2, mask=rmask)
    tl.store(part_i_ptr + base * 2 + 0, idx, mask=rmask)
    tl.store(part_i_ptr + base * 2 + 1, bad, mask=rmask)


@triton.jit(do_not_specialize=["R", "S", "beta", "offset"])
def _linear_draw_kernel(
        h_ptr, rows_ptr, stride_h, w_ptr, stride_w, b_ptr, keys_ptr, ctr_ptr, tab_r, tab_m,
        m_ptr, inv_s_ptr, amax_ptr, samples_ptr, sprob_ptr, R, V, D, S, beta, offset,
        HAS_BIAS: tl.constexpr, NT: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
        UPCAST: tl.constexpr):
    """Grid (rows, draws): draw q of row i, re-forming the logits of the one tile it falls in.

    The tile's logits are the statistics kernel's (``_tile_logits``) on a 16-row block whose
    rows 1..15 read nothing (tl.dot's smallest M)."""
    i = tl.program_id(0)
    q = tl.program_id(1)
    m = tl.load(m_ptr + i)
    n_tiles = tl.cdiv(V, BLOCK_N)
    tab = i.to(tl.int64) * n_tiles
    c, mass, z = _tile_cumsum(tab_r + tab, tab_m + tab, n_tiles, m, beta, NT)
    k0, k1 = split_key(tl.load(keys_ptr + i))
    u = token_uniform(q, k0, k1, tl.load(ctr_ptr + i).to(tl.uint32), offset)
    j, c_prev, target = _pick_tile(c, mass, z, u, NT)

    cols = j * BLOCK_N + tl.arange(0, BLOCK_N)
    cmask = cols < V
    lead = tl.arange(0, 16) == 0
    hrow = tl.load(rows_ptr + i) + tl.zeros([16], tl.int64)
    f = _tile_logits(h_ptr, hrow, lead, stride_h, w_ptr, stride_w, b_ptr, cols, cmask, D,
                     HAS_BIAS, 16, BLOCK_N, BLOCK_K, UPCAST)
    f = tl.sum(tl.where(lead[:, None], f, 0.0), axis=0)      # row 0 (rows 1..15 read nothing)
    f = tl.where(cmask & (f < float("inf")), f, float("-inf"))
    amax = tl.load(amax_ptr + i).to(tl.int32)
    d, f_d = _pick_column(cols, f, m, beta, c_prev, target, amax)
    out = i.to(tl.int64) * S + q
    tl.store(samples_ptr + out, d.to(tl.int64))
    tl.store(sprob_ptr + out, tl.exp(f_d - m) * tl.load(inv_s_ptr + i))


def default_config(R: int, V: int, device: torch.device) -> dict:
    """Tile sizes and slices. On a GPU: 256-column tensor-core tiles and slices that fill whole
    waves (``whole_wave_splits``); under the interpreter: the smallest tiles tl.dot takes."""
    if device.type != "cuda":
        block_m, block_n, block_k = 16, 32, 32
        return dict(BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=1, num_stages=1,
                    splits=min(3, triton.cdiv(V, block_n)))
    # The fastest of gpu_check.py's sweep on an H200 (bf16, D 4096, V 126464): 128 x 256 tiles,
    # 3 stages for 2048 rows (4.08 ms, 1.33x the matmul; 128 x 128 was 4.83 ms), 64 x 256 with
    # 4 stages for 256 rows (0.90 ms, 2.20x; 64 x 128 was 1.15 ms). Wider vocabulary tiles halve
    # the epilogue's reductions per logit and the tile tables, though ptxas spills more
    # (benchmarks/gpu_kernel_resources.md).
    block_m, stages = (128, 3) if R >= 1024 else (64, 4)
    block_n, block_k = 256, 64
    # 8 warps at 255 registers a thread (benchmarks/gpu_kernel_resources.md): one program per
    # multiprocessor at a time.
    slots = torch.cuda.get_device_properties(device).multi_processor_count
    splits = whole_wave_splits(triton.cdiv(R, block_m), triton.cdiv(V, block_n), slots)
    return dict(BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=8, num_stages=stages, splits=splits)


def whole_wave_splits(row_blocks: int, tiles: int, slots: int, max_waves: int = 8) -> int:
    """Vocabulary slices per row block that finish soonest when ``slots`` programs run at once.

    A program over a slice of ``ceil(tiles / s)`` tiles takes that many tile steps plus about one
    for its prologue and partial-state store, and ``row_blocks * s`` programs run in
    ``ceil(row_blocks * s / slots)`` waves; the time is their product. Of the s up to ``tiles``
    (and ``max_waves`` waves) the fastest wins, the fewest slices on a tie: a grid of 2.06 waves
    that takes 3 (32 row blocks of a 126464-column head on 132 SMs, 9 slices) becomes 4 slices in
    one wave of 128 programs."""
    best, best_cost = 1, None
    for s in range(1, min(tiles, max(1, max_waves * slots // row_blocks)) + 1):
        cost = -(-row_blocks * s // slots) * (-(-tiles // s) + 1)
        if best_cost is None or cost < best_cost:
            best, best_cost = s, cost
    return best


def partial_states(hidden2d: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                   keys: torch.Tensor, ctr: torch.Tensor, num_samples: int, temperature: float, offset: int,
                   config: dict | None = None):
    """Launch the statistics kernel: (part_f [R, n, 4], part_i [R, n, 2], the per-(row, slice)
    partial states ``tiled_head.combine`` merges, and when drawing (num_samples > 0 and
    temperature > 0) the tile tables tab_r, tab_m [R, tiles] fp32 the draw kernel reads, else
    None, None). keys, ctr and offset are unused here: the draws are ``launch``'s."""
    R, D = rows.numel(), hidden2d.shape[1]
    V = weight.shape[0]
    cfg = dict(default_config(R, V, hidden2d.device), **(config or {}))
    bn = cfg["BLOCK_N"]
    v_per_split = triton.cdiv(triton.cdiv(V, cfg["splits"]), bn) * bn
    n_splits = triton.cdiv(V, v_per_split)
    drawing = num_samples > 0 and temperature > 0.0
    beta = fp32_inverse(temperature) if drawing else 1.0
    dev = hidden2d.device
    part_f = torch.empty(R, n_splits, 4, dtype=torch.float32, device=dev)
    part_i = torch.empty(R, n_splits, 2, dtype=torch.int32, device=dev)
    if drawing:
        tab_r, tab_m = torch.empty(2, R, triton.cdiv(V, bn), dtype=torch.float32, device=dev)
    else:
        tab_r = tab_m = None
    grid = (triton.cdiv(R, cfg["BLOCK_M"]), n_splits)
    _linear_stats_kernel[grid](
        hidden2d, rows, hidden2d.stride(0), weight, weight.stride(0), bias if bias is not None else hidden2d,
        part_f, part_i, tab_r if drawing else part_f, tab_m if drawing else part_f,
        R, V, D, v_per_split, n_splits, beta,
        HAS_BIAS=bias is not None, HAS_SAMPLES=drawing, TEMPERED=beta != 1.0,
        BLOCK_M=cfg["BLOCK_M"], BLOCK_N=bn, BLOCK_K=cfg["BLOCK_K"], UPCAST=dev.type != "cuda",
        num_warps=cfg["num_warps"], num_stages=cfg["num_stages"], enable_fp_fusion=False)
    return part_f, part_i, tab_r, tab_m


def draw_config(device: torch.device) -> dict:
    """num_warps of the draw kernel: one [16, BLOCK_K] x [BLOCK_K, BLOCK_N] dot at a time."""
    return dict(num_warps=4 if device.type == "cuda" else 1)


def launch(hidden2d: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
           keys: torch.Tensor, ctr: torch.Tensor, num_samples: int, temperature: float, offset: int,
           config: dict | None = None):
    """(entropy, logsumexp, max_prob, argmax, second_prob, samples, sample_prob, bad) of the rows
    ``hidden2d[rows]``: the statistics kernel, ``tiled_head.combine``, then the draw kernel (or
    the argmax at temperature 0). No host sync."""
    R, D = rows.numel(), hidden2d.shape[1]
    V = weight.shape[0]
    S = num_samples
    cfg = dict(default_config(R, V, hidden2d.device), **(config or {}))
    part_f, part_i, tab_r, tab_m = partial_states(hidden2d, rows, weight, bias, keys, ctr, S, temperature,
                                                  offset, cfg)
    entropy, lse, inv_s, amax, second, m, bad = tiled_head.combine(part_f, part_i)
    if tab_r is None:
        # No noise: every draw is the argmax, whose probability is max_prob.
        samples = amax[:, None].expand(R, S).clone()
        sprob = inv_s[:, None].expand(R, S).clone()
        return entropy, lse, inv_s, amax, second, samples, sprob, bad
    samples = torch.empty(R, S, dtype=torch.int64, device=hidden2d.device)
    sprob = torch.empty(R, S, dtype=torch.float32, device=hidden2d.device)
    if R > 0:
        bn = cfg["BLOCK_N"]
        _linear_draw_kernel[(R, S)](
            hidden2d, rows, hidden2d.stride(0), weight, weight.stride(0), bias if bias is not None else hidden2d,
            keys, ctr, tab_r, tab_m, m, inv_s.contiguous(), amax.contiguous(), samples, sprob,
            R, V, D, S, fp32_inverse(temperature), offset,
            HAS_BIAS=bias is not None, NT=table_width(triton.cdiv(V, bn)), BLOCK_N=bn, BLOCK_K=cfg["BLOCK_K"],
            UPCAST=hidden2d.device.type != "cuda", enable_fp_fusion=False, **draw_config(hidden2d.device))
    return entropy, lse, inv_s, amax, second, samples, sprob, bad
