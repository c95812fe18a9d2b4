"""K1: every softmax statistic of a logits row, and its Gumbel-max draws, from one read.

The statistics are the online softmax of ``docs/backend_contract.md#online-softmax-statistics``
over tiles of BLOCK columns: the running max m is a scalar, updated once per tile, and each lane
keeps its own s and t, so a tile costs one exp per element and one block-wide max; the lanes
are summed once at the end. Argmax: when a tile raises m (strictly), argmax = the lowest column
of that tile equal to the new m; a later tile that only ties keeps the earlier, lower index.
Second: each lane keeps its top two values (duplicates count); second = max(all lanes' second,
top of every lane but one lane holding m). Gumbel-max draw s: per tile a max of
f_v + temperature * g_{s,v} (multiply then add: launched without FMA contraction) and the
lowest index reaching it, kept when strictly above the running best; f_draw for sample_prob is
read back as a single element.

Split vocabulary (few rows): program (row, slice) reduces one slice to (m, s, t, top value, its
lowest index, second value, per-sample best score and index); a combine program merges the
slices in order by the contract's merge rules.

Rows are ``logits + offsets[i]`` (int64 element offsets). ``status`` (int64 [1], NO_ERROR on
entry) becomes the lowest i whose row holds NaN / +inf or is entirely -inf (s is NaN or
m = -inf). With HAS_MASK (K2) a row whose mask byte is 0 reads nothing and reports entropy 0.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .philox import gumbel_tile, split_key

_BIG = tl.constexpr(2147483647)


@triton.jit
def _tile_update(row_ptr, start, v_hi, top1, top2, s_vec, t_vec, m, amax, sb_score, sb_idx,
                 k0, k1, ctr, s_lo, n_s, temperature, offset,
                 BLOCK: tl.constexpr, S_BLOCK: tl.constexpr, HAS_SAMPLES: tl.constexpr, MASKED: tl.constexpr):
    """Fold columns start .. start + BLOCK - 1 into the lane state (MASKED: only those < v_hi).

    NaN and +inf are not tested for: either makes exp(f - m) (or a later rescale) NaN,
    which the sums carry to the end, where s != s marks the row bad.
    """
    v = start + tl.arange(0, BLOCK)
    if MASKED:
        f = tl.load(row_ptr + v, mask=v < v_hi, other=float("-inf")).to(tl.float32)
    else:
        f = tl.load(row_ptr + v).to(tl.float32)
    top2 = tl.maximum(top2, tl.minimum(top1, f))
    top1 = tl.maximum(top1, f)
    m_new = tl.max(top1, axis=0)
    if m_new > m:
        # The max moved into this tile (rare after the first tiles): its lowest index, and the
        # sums move to it (a = 0 when nothing was seen, or when a spread beyond float32 makes
        # d -inf: those terms are 0, not 0 * -inf).
        amax = tl.min(tl.where(f == m_new, v, _BIG), axis=0)
        seen = m > float("-inf")
        d = tl.where(seen, m, 0.0) - m_new
        a = tl.where(seen, tl.exp(d), 0.0)
        t_vec = tl.where(a > 0, a * (t_vec + d * s_vec), 0.0)
        s_vec = a * s_vec
    # -inf logits (and a far spread) give x = -inf, e = 0 and no term; NaN / +inf give NaN in s.
    x = f - tl.where(m_new > float("-inf"), m_new, 0.0)
    e = tl.exp(x)
    s_vec += e
    t_vec += tl.where(e > 0, e * x, 0.0)
    if HAS_SAMPLES:
        s_ar = tl.arange(0, S_BLOCK)
        for j in range(n_s):
            g = gumbel_tile(start, k0, k1, ctr, (s_lo + j).to(tl.uint32), offset, BLOCK)
            sc = f + temperature * g
            tmax = tl.max(sc, axis=0)
            tidx = tl.min(tl.where(sc == tmax, v, _BIG), axis=0)
            hit = (s_ar == j) & (tmax > sb_score)
            sb_score = tl.where(hit, tmax, sb_score)
            sb_idx = tl.where(hit, tidx, sb_idx)
    return top1, top2, s_vec, t_vec, m_new, amax, sb_score, sb_idx


@triton.jit
def _reduce_vocab(row_ptr, v_lo, v_hi, k0, k1, ctr, s_lo, n_s, temperature, offset,
                  BLOCK: tl.constexpr, S_BLOCK: tl.constexpr, HAS_SAMPLES: tl.constexpr):
    """Reduce columns [v_lo, v_hi) (v_lo a multiple of BLOCK) to (m, s, t, argmax, second,
    per-sample best score and index).

    Full tiles load without a mask (so loads vectorise); at most one masked tail tile.
    """
    top1 = tl.full([BLOCK], float("-inf"), tl.float32)
    top2 = tl.full([BLOCK], float("-inf"), tl.float32)
    s_vec = tl.zeros([BLOCK], tl.float32)
    t_vec = tl.zeros([BLOCK], tl.float32)
    m = tl.full([], float("-inf"), tl.float32)
    amax = tl.full([], 0, tl.int32)
    sb_score = tl.full([S_BLOCK], float("-inf"), tl.float32)
    sb_idx = tl.zeros([S_BLOCK], tl.int32)
    v_full = v_lo + (tl.maximum(v_hi - v_lo, 0) // BLOCK) * BLOCK
    for start in tl.range(v_lo, v_full, BLOCK, num_stages=4):
        top1, top2, s_vec, t_vec, m, amax, sb_score, sb_idx = _tile_update(
            row_ptr, start, v_hi, top1, top2, s_vec, t_vec, m, amax, sb_score, sb_idx,
            k0, k1, ctr, s_lo, n_s, temperature, offset, BLOCK, S_BLOCK, HAS_SAMPLES, False)
    for start in range(v_full, v_hi, BLOCK):
        top1, top2, s_vec, t_vec, m, amax, sb_score, sb_idx = _tile_update(
            row_ptr, start, v_hi, top1, top2, s_vec, t_vec, m, amax, sb_score, sb_idx,
            k0, k1, ctr, s_lo, n_s, temperature, offset, BLOCK, S_BLOCK, HAS_SAMPLES, True)
    # Second largest counting duplicates: every lane's second, and the top of all lanes but
    # one lane holding the max (lanes hold distinct columns, so a tie shows up either way).
    lane = tl.arange(0, BLOCK)
    first_lane = tl.min(tl.where(top1 == m, lane, _BIG), axis=0)
    others = tl.max(tl.where(lane == first_lane, float("-inf"), top1), axis=0)
    second = tl.maximum(tl.max(top2, axis=0), others)
    return m, tl.sum(s_vec, axis=0), tl.sum(t_vec, axis=0), amax, second, sb_score, sb_idx


@triton.jit
def _row_setup(pid, offsets, keys, ctr_ptr, mask_ptr, V, S, chunk,
               S_BLOCK: tl.constexpr, HAS_MASK: tl.constexpr, ALIGN: tl.constexpr):
    """(element offset, active, v_hi, k0, k1, ctr, first sample, samples in this chunk) of a row."""
    off = tl.multiple_of(tl.load(offsets + pid), ALIGN)
    if HAS_MASK:
        active = tl.load(mask_ptr + pid) != 0
    else:
        active = pid >= 0
    v_hi = tl.where(active, V, 0)
    k0, k1 = split_key(tl.load(keys + pid))
    ctr = tl.load(ctr_ptr + pid).to(tl.uint32)
    s_lo = chunk * S_BLOCK
    n_s = tl.minimum(S - s_lo, S_BLOCK)
    return off, active, v_hi, k0, k1, ctr, s_lo, n_s


@triton.jit
def _store_row(pid, row_ptr, active, chunk, m, s, t, amax, second, s_lo, n_s, sb_idx,
               ent_ptr, lse_ptr, maxp_ptr, amax_ptr, second_ptr, status_ptr, samples_ptr, sprob_ptr, S,
               S_BLOCK: tl.constexpr, HAS_SAMPLES: tl.constexpr, ENTROPY_ONLY: tl.constexpr):
    """Turn the row summary into the outputs; chunk 0 writes the statistics."""
    status = active & ((s != s) | (m == float("-inf")))
    # A skipped row (K2) becomes the one-token softmax: entropy 0, no 0/0 on the way.
    s = tl.where(active, s, 1.0)
    t = tl.where(active, t, 0.0)
    m = tl.where(active, m, 0.0)
    log_s = tl.log(s)
    lse = m + log_s
    first = chunk == 0
    # The call's status (igkernels.ops.deferred): the lowest bad row, by one atomic per bad row.
    tl.atomic_min(status_ptr, pid.to(tl.int64), mask=first & status)
    tl.store(ent_ptr + pid, log_s - t / s, mask=first)
    if not ENTROPY_ONLY:
        tl.store(lse_ptr + pid, lse, mask=first)
        tl.store(maxp_ptr + pid, 1.0 / s, mask=first)
        tl.store(amax_ptr + pid, amax.to(tl.int64), mask=first)
        tl.store(second_ptr + pid, tl.exp(second - m) / s, mask=first)
        if HAS_SAMPLES:
            s_ar = tl.arange(0, S_BLOCK)
            live = s_ar < n_s
            f_draw = tl.load(row_ptr + sb_idx, mask=live, other=0.0).to(tl.float32)
            out = pid.to(tl.int64) * S + s_lo + s_ar
            tl.store(samples_ptr + out, sb_idx.to(tl.int64), mask=live)
            tl.store(sprob_ptr + out, tl.exp(f_draw - m) / s, mask=live)


@triton.jit(do_not_specialize=["R", "S", "temperature", "offset"])
def softmax_entropy_kernel(logits, offsets, keys, ctr_ptr, mask_ptr,
                           ent_ptr, lse_ptr, maxp_ptr, amax_ptr, second_ptr, status_ptr,
                           samples_ptr, sprob_ptr, R, V, S, temperature, offset,
                           BLOCK: tl.constexpr, S_BLOCK: tl.constexpr, HAS_SAMPLES: tl.constexpr,
                           HAS_MASK: tl.constexpr, ENTROPY_ONLY: tl.constexpr, ALIGN: tl.constexpr):
    """Grid (rows * sample chunks,): one program reduces a whole row."""
    pid = tl.program_id(0) % R
    chunk = tl.program_id(0) // R
    off, active, v_hi, k0, k1, ctr, s_lo, n_s = _row_setup(pid, offsets, keys, ctr_ptr, mask_ptr, V, S, chunk,
                                                            S_BLOCK, HAS_MASK, ALIGN)
    row_ptr = logits + off
    m, s, t, amax, second, sb_score, sb_idx = _reduce_vocab(
        row_ptr, 0, v_hi, k0, k1, ctr, s_lo, n_s, temperature, offset,
        BLOCK, S_BLOCK, HAS_SAMPLES)
    _store_row(pid, row_ptr, active, chunk, m, s, t, amax, second, s_lo, n_s, sb_idx,
               ent_ptr, lse_ptr, maxp_ptr, amax_ptr, second_ptr, status_ptr, samples_ptr, sprob_ptr, S,
               S_BLOCK, HAS_SAMPLES, ENTROPY_ONLY)


@triton.jit(do_not_specialize=["R", "S", "temperature", "offset"])
def softmax_entropy_split_kernel(logits, offsets, keys, ctr_ptr, mask_ptr,
                                 p_m, p_s, p_t, p_idx, p_second, p_score, p_sidx,
                                 R, V, S, temperature, offset, SLICE, NSPLIT,
                                 BLOCK: tl.constexpr, S_BLOCK: tl.constexpr, HAS_SAMPLES: tl.constexpr,
                                 HAS_MASK: tl.constexpr, ALIGN: tl.constexpr):
    """Grid (rows * sample chunks, slices): one program reduces one vocabulary slice."""
    pid = tl.program_id(0) % R
    chunk = tl.program_id(0) // R
    sl = tl.program_id(1)
    off, active, v_hi, k0, k1, ctr, s_lo, n_s = _row_setup(pid, offsets, keys, ctr_ptr, mask_ptr, V, S, chunk,
                                                            S_BLOCK, HAS_MASK, ALIGN)
    v_lo = sl * SLICE
    m, s, t, amax, second, sb_score, sb_idx = _reduce_vocab(
        logits + off, v_lo, tl.minimum(v_hi, v_lo + SLICE), k0, k1, ctr, s_lo, n_s, temperature,
        offset, BLOCK, S_BLOCK, HAS_SAMPLES)
    part = pid.to(tl.int64) * NSPLIT + sl
    first = chunk == 0
    tl.store(p_m + part, m, mask=first)
    tl.store(p_s + part, s, mask=first)
    tl.store(p_t + part, t, mask=first)
    tl.store(p_idx + part, amax, mask=first)
    tl.store(p_second + part, second, mask=first)
    if HAS_SAMPLES:
        s_ar = tl.arange(0, S_BLOCK)
        out = part * S + s_lo + s_ar
        tl.store(p_score + out, sb_score, mask=s_ar < n_s)
        tl.store(p_sidx + out, sb_idx, mask=s_ar < n_s)


@triton.jit(do_not_specialize=["R", "S"])
def softmax_entropy_combine_kernel(logits, offsets, mask_ptr,
                                   p_m, p_s, p_t, p_idx, p_second, p_score, p_sidx,
                                   ent_ptr, lse_ptr, maxp_ptr, amax_ptr, second_ptr, status_ptr,
                                   samples_ptr, sprob_ptr, R, S, NSPLIT,
                                   S_BLOCK: tl.constexpr, HAS_SAMPLES: tl.constexpr,
                                   HAS_MASK: tl.constexpr, ENTROPY_ONLY: tl.constexpr):
    """Grid (rows * sample chunks,): merge a row's slices in ascending order."""
    pid = tl.program_id(0) % R
    chunk = tl.program_id(0) // R
    off = tl.load(offsets + pid)
    if HAS_MASK:
        active = tl.load(mask_ptr + pid) != 0
    else:
        active = pid >= 0
    s_lo = chunk * S_BLOCK
    n_s = tl.minimum(S - s_lo, S_BLOCK)
    s_ar = tl.arange(0, S_BLOCK)
    m = tl.full([], float("-inf"), tl.float32)
    s = tl.full([], 0.0, tl.float32)
    t = tl.full([], 0.0, tl.float32)
    second = tl.full([], float("-inf"), tl.float32)
    amax = tl.full([], 0, tl.int32)
    sb_score = tl.full([S_BLOCK], float("-inf"), tl.float32)
    sb_idx = tl.zeros([S_BLOCK], tl.int32)
    for sl in range(NSPLIT):
        part = pid.to(tl.int64) * NSPLIT + sl
        pm = tl.load(p_m + part)
        ps = tl.load(p_s + part)
        pt = tl.load(p_t + part)
        m_new = tl.maximum(m, pm)
        seen = m > float("-inf")
        d = tl.where(seen, m, 0.0) - tl.where(seen, m_new, 0.0)
        a = tl.where(seen, tl.exp(d), 0.0)
        seen_p = pm > float("-inf")
        e = tl.where(seen_p, pm, 0.0) - tl.where(seen_p, m_new, 0.0)
        b = tl.where(seen_p, tl.exp(e), 0.0)
        t = tl.where(a > 0, a * (t + d * s), 0.0) + tl.where(b > 0, b * (pt + e * ps), 0.0)
        s = a * s + b * ps
        second = tl.maximum(tl.maximum(second, tl.load(p_second + part)), tl.minimum(m, pm))
        amax = tl.where(pm > m, tl.load(p_idx + part), amax)
        m = m_new
        if HAS_SAMPLES:
            live = s_ar < n_s
            sc = tl.load(p_score + part * S + s_lo + s_ar, mask=live, other=float("-inf"))
            si = tl.load(p_sidx + part * S + s_lo + s_ar, mask=live, other=0)
            hit = sc > sb_score
            sb_score = tl.where(hit, sc, sb_score)
            sb_idx = tl.where(hit, si, sb_idx)
    _store_row(pid, logits + off, active, chunk, m, s, t, amax, second, s_lo, n_s, sb_idx,
               ent_ptr, lse_ptr, maxp_ptr, amax_ptr, second_ptr, status_ptr, samples_ptr, sprob_ptr, S,
               S_BLOCK, HAS_SAMPLES, ENTROPY_ONLY)


# Overrides for tests: FORCE_BLOCK sets the vocabulary tile, FORCE_SPLIT the number of slices
# (the split path then runs even on a CPU or for many rows).
FORCE_BLOCK: int | None = None
FORCE_SPLIT: int | None = None

# Draws one program keeps in registers; more samples take extra programs per row (each
# re-reads the row), so up to 32 draws come from a single read.
_MAX_S_BLOCK = 32


def _tile(V: int) -> tuple[int, int]:
    """(BLOCK, num_warps): the whole row when it fits in 2048 columns, else 2048-column tiles
    with 8 warps: 8 contiguous elements per thread (16-byte loads for bf16/fp16, two for fp32).

    Sizing (ptxas for sm_90): the lane state costs about 12 registers per element held, so
    8 elements per thread is ~110 registers; 2048 x 8 warps then fits two programs per SM,
    each with three tiles in flight through the 4-stage cp.async pipeline of the tile loop
    (about 24 KB of bf16 in flight per SM, what H100/H200 bandwidth x latency asks for),
    and the per-tile block reductions of one program overlap the other's loads. 4096 x 16
    warps holds the same bytes in flight but only one program per SM.
    """
    if FORCE_BLOCK is not None:
        block = FORCE_BLOCK
    else:
        block = min(2048, max(16, triton.next_power_of_2(V)))
    return block, max(1, min(8, block // 256))


def _num_slices(R: int, V: int, block: int, device) -> int:
    """Split the vocabulary when rows cannot fill the GPU (fewer than 2 rows per SM) into
    slices of whole tiles, aiming at about 4 programs per SM in all."""
    tiles = triton.cdiv(V, block)
    if FORCE_SPLIT is not None:
        return min(FORCE_SPLIT, tiles)
    if device.type != "cuda" or tiles < 4:
        return 1
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    if R >= 2 * sms:
        return 1
    return min(tiles, triton.cdiv(4 * sms, R))


def _alignment(logits) -> int:
    """Largest power of two (up to 16 bytes' worth of elements) dividing every row's element
    offset: the base pointer's alignment and every leading stride that can be non-zero."""
    esize = logits.element_size()
    align = 16 // esize
    while align > 1 and (logits.data_ptr() % (align * esize)
                         or any(st % align for n, st in zip(logits.shape[:-1], logits.stride()[:-1]) if n > 1)):
        align //= 2
    return align


def launch(logits, offsets, keys, ctr, mask, ent, lse, maxp, amax, second, status, samples, sprob,
           S: int, temperature: float, offset: int, entropy_only: bool = False) -> None:
    """Fill the [R] outputs (and [R, S] draws when temperature > 0) for the rows at ``offsets``.

    ``mask``: None, or uint8 [R]; rows with mask 0 are skipped (entropy 0, never bad).
    ``status``: int64 [1] holding NO_ERROR; the lowest bad row is left in it.
    """
    R, V = offsets.numel(), logits.shape[-1]
    block, warps = _tile(V)
    has_samples = S > 0 and temperature > 0.0 and not entropy_only
    s_block = min(triton.next_power_of_2(S), _MAX_S_BLOCK) if has_samples else 1
    chunks = triton.cdiv(S, s_block) if has_samples else 1
    has_mask = mask is not None
    mask = mask if has_mask else offsets   # never read without HAS_MASK
    nsplit = _num_slices(R, V, block, logits.device)
    common = dict(S_BLOCK=s_block, HAS_SAMPLES=has_samples, HAS_MASK=has_mask)
    align = _alignment(logits)
    if nsplit == 1:
        softmax_entropy_kernel[(R * chunks,)](
            logits, offsets, keys, ctr, mask, ent, lse, maxp, amax, second, status, samples, sprob,
            R, V, S, temperature, offset, BLOCK=block, ENTROPY_ONLY=entropy_only, ALIGN=align, num_warps=warps,
            enable_fp_fusion=False, **common)
        return
    tiles = triton.cdiv(V, block)
    slice_cols = triton.cdiv(tiles, nsplit) * block
    nsplit = triton.cdiv(V, slice_cols)
    dev = logits.device
    p_m, p_s, p_t, p_second = (torch.empty(R * nsplit, dtype=torch.float32, device=dev) for _ in range(4))
    p_idx = torch.empty(R * nsplit, dtype=torch.int32, device=dev)
    n_part = R * nsplit * S if has_samples else 1
    p_score = torch.empty(n_part, dtype=torch.float32, device=dev)
    p_sidx = torch.empty(n_part, dtype=torch.int32, device=dev)
    softmax_entropy_split_kernel[(R * chunks, nsplit)](
        logits, offsets, keys, ctr, mask, p_m, p_s, p_t, p_idx, p_second, p_score, p_sidx,
        R, V, S, temperature, offset, slice_cols, nsplit, BLOCK=block, ALIGN=align, num_warps=warps,
        enable_fp_fusion=False, **common)
    softmax_entropy_combine_kernel[(R * chunks,)](
        logits, offsets, mask, p_m, p_s, p_t, p_idx, p_second, p_score, p_sidx,
        ent, lse, maxp, amax, second, status, samples, sprob, R, S, nsplit,
        ENTROPY_ONLY=entropy_only, num_warps=max(1, min(4, s_block // 32)), enable_fp_fusion=False,
        **common)
