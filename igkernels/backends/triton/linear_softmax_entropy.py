"""Fused LM head: softmax statistics of ``hidden @ weight.T (+ bias)`` without the logits.

Program (row block, vocabulary slice) loops over the slice in tiles of BLOCK_N columns. Each
tile of logits is a ``tl.dot`` over D in fp32, then rounded where the unfused code rounds:

    f = fp32(dtype(acc))                       hidden @ weight.T is returned in the inputs' dtype
    f = fp32(dtype(f + fp32(bias)))            with a bias: one more rounding, as torch's add
(fp32 inputs use an IEEE fp32 dot and no rounding.) So the statistics equal those of
``softmax_entropy(hidden @ weight.T + bias)`` up to the accumulation order of the dot, which
moves a logit by at most one unit of its dtype's last place.

Per tile the online softmax state of each row (m, s, t of
``docs/backend_contract.md#online-softmax-statistics``), the argmax (lowest index of the max), the second largest
logit counting duplicates, and per sample the best Gumbel score fp32(f) + fp32(T) * g
(multiply then add: launched with enable_fp_fusion=False) with its logit and column. The
Philox stream is that of ``igkernels/backends/philox.py`` with the vocabulary index as the column.

Each program writes one partial state per (row, slice); ``igkernels.backends.tiled_head.combine`` merges
the slices of a row in PyTorch ([R, slices] tensors: the extra memory is O(rows)). Slices make enough
programs when there are few rows; consecutive program ids share a slice, so its weight tiles
are reused from L2 by the row blocks running together.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from .philox import gumbel_from_words, philox4x32_10, split_key

_BIG = tl.constexpr(2147483647)


@triton.jit
def _gumbel_2d(v0, k0, k1, ctr, stream_word, offset, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """Gumbel noise [BLOCK_M, BLOCK_N] of columns v0 .. v0 + BLOCK_N - 1 (v0 a multiple of 4).

    k0, k1, ctr: [BLOCK_M, 1] uint32 per row. One Philox call per four columns; word j of call
    q is column 4q + j (join/reshape interleaves them back into column order).
    """
    q = ((v0 >> 2) + tl.arange(0, BLOCK_N // 4)).to(tl.uint32)
    c0 = q[None, :] + tl.zeros([BLOCK_M, BLOCK_N // 4], tl.uint32)
    w0, w1, w2, w3 = philox4x32_10(c0, ctr, stream_word, offset, k0, k1)
    w = tl.reshape(tl.join(tl.join(w0, w2), tl.join(w1, w3)), [BLOCK_M, BLOCK_N])
    return gumbel_from_words(w)


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


# Arguments that change from call to call (rows, draws, the step counter) are not specialised:
# a new value must not cost a decode a recompile. V and D (fixed per model) keep their
# divisibility hints. The draw count is a runtime loop over S_PAD (a power of two) slots.
@triton.jit(do_not_specialize=["R", "v_per_split", "n_splits", "num_samples", "temperature", "offset"])
def _linear_stats_kernel(
        h_ptr, rows_ptr, stride_h, w_ptr, stride_w, b_ptr, keys_ptr, ctr_ptr,
        part_f_ptr, part_i_ptr, part_sf_ptr, part_si_ptr,
        R, V, D, v_per_split, n_splits, num_samples, temperature, offset,
        HAS_BIAS: tl.constexpr, HAS_SAMPLES: tl.constexpr, S_PAD: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, UPCAST: tl.constexpr):
    DTYPE: tl.constexpr = h_ptr.dtype.element_ty
    pid_m = tl.program_id(0)
    pid_s = tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rmask = rm < R
    hrow = tl.load(rows_ptr + rm, mask=rmask, other=0)
    ks = tl.arange(0, BLOCK_K)
    cols0 = tl.arange(0, BLOCK_N)

    m = tl.full([BLOCK_M], float("-inf"), tl.float32)
    s = tl.zeros([BLOCK_M], tl.float32)
    t = tl.zeros([BLOCK_M], tl.float32)
    top2 = tl.full([BLOCK_M], float("-inf"), tl.float32)
    idx = tl.full([BLOCK_M], _BIG, tl.int32)
    bad = tl.zeros([BLOCK_M], tl.int32)
    s_ar = tl.arange(0, S_PAD)
    d_score = tl.full([BLOCK_M, S_PAD], float("-inf"), tl.float32)
    d_f = tl.full([BLOCK_M, S_PAD], float("-inf"), tl.float32)
    d_idx = tl.full([BLOCK_M, S_PAD], _BIG, tl.int32)
    if HAS_SAMPLES:
        k0, k1 = split_key(tl.load(keys_ptr + rm, mask=rmask, other=0))
        k0 = k0[:, None]
        k1 = k1[:, None]
        ctr = tl.load(ctr_ptr + rm, mask=rmask, other=0).to(tl.uint32)[:, None]

    v_lo = pid_s * v_per_split
    v_hi = tl.minimum(V, v_lo + v_per_split)
    for v0 in range(v_lo, v_hi, BLOCK_N):
        cols = v0 + cols0
        cmask = cols < v_hi
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
        # The rounding points of the unfused hidden @ weight.T (+ bias), see the module doc.
        f = _round(acc, DTYPE, UPCAST)
        if HAS_BIAS:
            f = _round(f + tl.load(b_ptr + cols, mask=cmask, other=0.0).to(tl.float32)[None, :], DTYPE, UPCAST)
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
        s += tl.sum(e, axis=1)
        t += tl.sum(tl.where(e > 0, e * x, 0.0), axis=1)
        m = m_new

        if HAS_SAMPLES:
            for j in range(num_samples):
                g = _gumbel_2d(v0, k0, k1, ctr, j, offset, BLOCK_M, BLOCK_N)
                score = tl.where(fin, f + temperature * g, float("-inf"))
                best = tl.max(score, axis=1)
                bcol = tl.min(tl.where((score == best[:, None]) & fin, cols[None, :], _BIG), axis=1)
                bf = tl.max(tl.where(cols[None, :] == bcol[:, None], f, float("-inf")), axis=1)
                sel = s_ar[None, :] == j
                cur = tl.max(tl.where(sel, d_score, float("-inf")), axis=1)
                upd = sel & (best > cur)[:, None]
                d_score = tl.where(upd, best[:, None], d_score)
                d_f = tl.where(upd, bf[:, None], d_f)
                d_idx = tl.where(upd, bcol[:, None], d_idx)

    base = rm * n_splits + pid_s
    tl.store(part_f_ptr + base * 4 + 0, m, mask=rmask)
    tl.store(part_f_ptr + base * 4 + 1, s, mask=rmask)
    tl.store(part_f_ptr + base * 4 + 2, t, mask=rmask)
    tl.store(part_f_ptr + base * 4 + 3, top2, mask=rmask)
    tl.store(part_i_ptr + base * 2 + 0, idx, mask=rmask)
    tl.store(part_i_ptr + base * 2 + 1, bad, mask=rmask)
    if HAS_SAMPLES:
        sp = base[:, None] * S_PAD + s_ar[None, :]
        smask = rmask[:, None] & (s_ar[None, :] < num_samples)
        tl.store(part_sf_ptr + sp * 2, d_score, mask=smask)
        tl.store(part_sf_ptr + sp * 2 + 1, d_f, mask=smask)
        tl.store(part_si_ptr + sp, d_idx, mask=smask)


def default_config(R: int, V: int, device: torch.device) -> dict:
    """Tile sizes and slices. On a GPU: 128-wide tensor-core tiles and at least two programs
    per multiprocessor; under the interpreter: the smallest tiles tl.dot takes."""
    if device.type != "cuda":
        block_m, block_n, block_k = 16, 32, 32
        return dict(BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=1, num_stages=1,
                    splits=min(3, triton.cdiv(V, block_n)))
    block_m = 128 if R >= 1024 else 64
    block_n, block_k = 128, 64
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    row_blocks = triton.cdiv(R, block_m)
    splits = max(1, min(triton.cdiv(2 * sms, row_blocks), triton.cdiv(V, block_n)))
    return dict(BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=8, num_stages=3, splits=splits)


def partial_states(hidden2d: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                   keys: torch.Tensor, ctr: torch.Tensor, num_samples: int, temperature: float, offset: int,
                   config: dict | None = None):
    """Launch the kernel; returns the per-(row, slice) partial states ``tiled_head.combine`` takes."""
    R, D = rows.numel(), hidden2d.shape[1]
    V = weight.shape[0]
    cfg = dict(default_config(R, V, hidden2d.device), **(config or {}))
    bn = cfg["BLOCK_N"]
    v_per_split = triton.cdiv(triton.cdiv(V, cfg["splits"]), bn) * bn
    n_splits = triton.cdiv(V, v_per_split)
    S = num_samples if temperature > 0.0 else 0
    s_pad = max(1, 1 << max(0, math.ceil(math.log2(max(S, 1)))))
    dev = hidden2d.device
    part_f = torch.empty(R, n_splits, 4, dtype=torch.float32, device=dev)
    part_i = torch.empty(R, n_splits, 2, dtype=torch.int32, device=dev)
    part_sf = torch.empty(R, n_splits, s_pad, 2, dtype=torch.float32, device=dev)
    part_si = torch.empty(R, n_splits, s_pad, dtype=torch.int32, device=dev)
    grid = (triton.cdiv(R, cfg["BLOCK_M"]), n_splits)
    _linear_stats_kernel[grid](
        hidden2d, rows, hidden2d.stride(0), weight, weight.stride(0), bias if bias is not None else hidden2d,
        keys, ctr, part_f, part_i, part_sf, part_si,
        R, V, D, v_per_split, n_splits, S, float(temperature), offset,
        HAS_BIAS=bias is not None, HAS_SAMPLES=S > 0, S_PAD=s_pad,
        BLOCK_M=cfg["BLOCK_M"], BLOCK_N=bn, BLOCK_K=cfg["BLOCK_K"], UPCAST=hidden2d.device.type != "cuda",
        num_warps=cfg["num_warps"], num_stages=cfg["num_stages"], enable_fp_fusion=False)
    return part_f, part_i, part_sf[..., :S, :], part_si[..., :S]
