"""K1: every softmax statistic of a logits row, and its inverse-transform draws, from one read.

The statistics are the online softmax of ``docs/backend_contract.md#online-softmax-statistics``
over tiles of BLOCK columns: the running max m is a scalar, updated once per tile, and each lane
keeps its own s and t, so a tile costs one exp per element and one block-wide max; the lanes
are summed once at the end. Argmax: when a tile raises m (strictly), argmax = the lowest column
of that tile equal to the new m; a later tile that only ties keeps the earlier, lower index.
Second (duplicates count): lb is the second largest of the maxima of the tiles that exceeded
the lb of their time; such a tile (rare after the first tiles) adds all its values but one
occurrence of its max to each lane's running max r, any other holds nothing above lb; second =
max(lb, the lanes' largest r).

Draws (``docs/backend_contract.md#token-draws-inverse-transform``), beta = fp32(1 / T): tile j
also records its tempered mass relative to the running max r_j after the tile,
M_j = sum_{v in j} exp(fp32(f_v - r_j) * beta) (at T = 1 the sum of the statistics' own exp),
in a [rows, tiles] fp32 table, written one tile late: its block sum rides on the next tile's
max reduction, packed with it in one 64-bit word, so a tile still costs one block reduction.
Once the row's m is known, the draw step moves every M_j to m (times exp(fp32(r_j - m) *
beta)), sums them in column order into C_j and Z, and for draw s
with target u_s * Z (one Philox uniform) takes the lowest tile with C_j > target (none:
the last tile with mass); it reads that one tile again, recomputes w_v = exp(fp32(f_v - m) *
beta) and sums C_{j-1} + cumsum(w): the draw is the lowest column with w_v > 0 beyond the
target (none: the tile's highest column with w_v > 0; none: the argmax), so a -inf logit is
never drawn. sample_prob = exp(f_draw - m) / s (untempered).

Split vocabulary (few rows): program (row, slice) reduces one slice to (m, s, t, top value, its
lowest index, second value) and writes the table entries of its own tiles (tile index counted
across the row); a combine program per (row, draw) merges the slices in order by the
contract's merge rules (the merge is cheap, so each draw's program redoes it), draw 0's
program writes the statistics, and each then runs the draw step. One program per row
(enough rows) runs the draw step at its end, after the statistics, for all of the row's draws.

Rows are ``logits + offsets[i]`` (int64 element offsets). ``status`` (int64 [1], NO_ERROR on
entry) becomes the lowest i whose row holds NaN / +inf or is entirely -inf (s is NaN or
m = -inf). With HAS_MASK (K2) a row whose mask byte is 0 reads nothing and reports entropy 0.
"""
from __future__ import annotations

import os
import struct

import torch
import triton
import triton.language as tl

from .philox import split_key, token_uniform

_BIG = tl.constexpr(2147483647)
# Compiled kernels reduce a tile's max and the previous tile's mass as one packed word; the
# interpreter (TRITON_INTERPRET=1, tests without a GPU), which would call the combine per
# element, reduces them apart (tests set _PACKED to run the packed reduction there too).
_PACKED = tl.constexpr(os.environ.get("TRITON_INTERPRET") != "1")


@triton.jit
def _pack(hi, lo):
    """Two fp32 values as one 64-bit word: a two-value block reduction then costs one
    shared-memory round trip (one barrier), as one of a single value does."""
    return (hi.to(tl.uint32, bitcast=True).to(tl.uint64) << 32) | lo.to(tl.uint32, bitcast=True).to(tl.uint64)


@triton.jit
def _unpack(x):
    return (x >> 32).to(tl.uint32).to(tl.float32, bitcast=True), x.to(tl.uint32).to(tl.float32, bitcast=True)


@triton.jit
def _max_sum(x, y):
    """(max, sum) of packed (hi, lo) pairs."""
    x_hi, x_lo = _unpack(x)
    y_hi, y_lo = _unpack(y)
    return _pack(tl.maximum(x_hi, y_hi), x_lo + y_lo)


@triton.jit
def _tile_update(row_ptr, start, v_lo, v_hi, s_vec, t_vec, r_vec, w_prev, m, lb, amax, tab_r, tab_m, beta,
                 BLOCK: tl.constexpr, HAS_SAMPLES: tl.constexpr, TEMPERED: tl.constexpr, MASKED: tl.constexpr):
    """Fold columns start .. start + BLOCK - 1 into the row state (MASKED: only those < v_hi);
    with HAS_SAMPLES write the previous tile's table entries (tab_r, tab_m: the row's table)
    and leave this tile's tempered weights in w_prev.

    NaN and +inf are not tested for: either makes exp(f - m) (or a later rescale) NaN,
    which the sums carry to the end, where s != s marks the row bad.
    """
    v = start + tl.arange(0, BLOCK)
    if MASKED:
        f = tl.load(row_ptr + v, mask=v < v_hi, other=float("-inf")).to(tl.float32)
    else:
        f = tl.load(row_ptr + v).to(tl.float32)
    if HAS_SAMPLES:
        # The previous tile's mass rides on this tile's max reduction, packed in one word.
        if _PACKED:
            f_max, mass = _unpack(tl.reduce(_pack(f, w_prev), 0, _max_sum))
        else:
            f_max = tl.max(f, axis=0)
            mass = tl.sum(w_prev, axis=0)
        j = start // BLOCK - 1
        tl.store(tab_r + j, m, mask=start > v_lo)
        tl.store(tab_m + j, mass, mask=start > v_lo)
    else:
        f_max = tl.max(f, axis=0)
    m_new = tl.maximum(m, f_max)
    if f_max > lb:
        # The tile may hold one of the row's two largest values (rare after the first tiles):
        # all its values but one occurrence of its max join the lanes' candidates for second,
        # and that max joins the tile maxima, whose second largest is lb (offsets in the
        # tile, not columns: no column vector kept alive across the load pipeline).
        lane = tl.arange(0, BLOCK)
        first = tl.min(tl.where(f == f_max, lane, _BIG), axis=0)
        r_vec = tl.maximum(r_vec, tl.where(lane == first, float("-inf"), f))
        lb = tl.maximum(lb, tl.minimum(m, f_max))
        if f_max > m:
            # The max moved into this tile: the sums move to it (a = 0 when nothing was seen,
            # m = -inf, or when a spread beyond float32 makes d -inf: then d counts as 0, so
            # those terms are 0, not 0 * -inf).
            amax = start + first
            d = m - m_new
            a = tl.exp(d)
            d = tl.where(a > 0, d, 0.0)
            t_vec = a * (t_vec + d * s_vec)
            s_vec = a * s_vec
    # -inf logits (and a far spread) give x = -inf, e = 0 and no term (the clamp: no 0 * -inf);
    # NaN / +inf give NaN in s.
    x = f - tl.where(m_new > float("-inf"), m_new, 0.0)
    e = tl.exp(x)
    s_vec += e
    t_vec += e * tl.maximum(x, -3.4028234663852886e38)
    if HAS_SAMPLES:
        # This tile's tempered weights relative to r_j = m_new (>= every logit of the tile).
        if TEMPERED:
            w_prev = tl.exp(x * beta)
        else:
            w_prev = e
    return s_vec, t_vec, r_vec, w_prev, m_new, lb, amax


@triton.jit
def _reduce_vocab(row_ptr, v_lo, v_hi, tab_r, tab_m, beta,
                  BLOCK: tl.constexpr, HAS_SAMPLES: tl.constexpr, TEMPERED: tl.constexpr):
    """Reduce columns [v_lo, v_hi) (v_lo a multiple of BLOCK) to (m, s, t, argmax, second),
    writing the tiles' masses with HAS_SAMPLES.

    Full tiles load without a mask (so loads vectorise), then at most one masked tail tile.
    Row state: the scalars m, argmax and lb, and each lane's s, t and r. A tile costs one
    block-wide max (with draws carrying the previous tile's mass); only a tile whose max
    exceeds lb (the second largest tile max so far) costs a second block reduction.
    Second largest counting duplicates: with one occurrence of each such tile's max set
    aside, it is the larger of the second largest of those maxima (lb) and the largest
    remaining value (over the lanes' r); the other tiles hold nothing above lb.
    """
    s_vec = tl.zeros([BLOCK], tl.float32)
    t_vec = tl.zeros([BLOCK], tl.float32)
    r_vec = tl.full([BLOCK], float("-inf"), tl.float32)
    w_prev = tl.zeros([BLOCK], tl.float32)
    m = tl.full([], float("-inf"), tl.float32)
    lb = tl.full([], float("-inf"), tl.float32)
    amax = tl.full([], 0, tl.int32)
    v_full = v_lo + (tl.maximum(v_hi - v_lo, 0) // BLOCK) * BLOCK
    for start in tl.range(v_lo, v_full, BLOCK, num_stages=4):
        s_vec, t_vec, r_vec, w_prev, m, lb, amax = _tile_update(
            row_ptr, start, v_lo, v_hi, s_vec, t_vec, r_vec, w_prev, m, lb, amax, tab_r, tab_m, beta,
            BLOCK, HAS_SAMPLES, TEMPERED, False)
    if v_full < v_hi:
        s_vec, t_vec, r_vec, w_prev, m, lb, amax = _tile_update(
            row_ptr, v_full, v_lo, v_hi, s_vec, t_vec, r_vec, w_prev, m, lb, amax, tab_r, tab_m, beta,
            BLOCK, HAS_SAMPLES, TEMPERED, True)
    if HAS_SAMPLES:
        # The last tile's entries.
        j = (tl.maximum(v_hi, v_lo + 1) - 1) // BLOCK
        mass = tl.sum(w_prev, axis=0)
        tl.store(tab_r + j, m, mask=v_hi > v_lo)
        tl.store(tab_m + j, mass, mask=v_hi > v_lo)
    second = tl.maximum(lb, tl.max(r_vec, axis=0))
    return m, tl.sum(s_vec, axis=0), tl.sum(t_vec, axis=0), amax, second


@triton.jit
def _row_setup(pid, logits, offsets, mask_ptr, V, HAS_MASK: tl.constexpr, ALIGN: tl.constexpr):
    """(row pointer, active, v_hi) of a row. The row pointer is ALIGN elements aligned (the
    launch checks the base pointer too), so full tiles load in ALIGN-element vectors even
    where the base pointer is not 16-byte aligned (and the compiler is not told so)."""
    off = tl.multiple_of(tl.load(offsets + pid), ALIGN)
    row_ptr = tl.multiple_of(logits + off, ALIGN * (logits.dtype.element_ty.primitive_bitwidth // 8))
    if HAS_MASK:
        active = tl.load(mask_ptr + pid) != 0
    else:
        active = pid >= 0
    v_hi = tl.where(active, V, 0)
    return row_ptr, active, v_hi


@triton.jit
def _store_row(pid, active, first, m, s, t, amax, second,
               ent_ptr, lse_ptr, maxp_ptr, amax_ptr, second_ptr, status_ptr, ENTROPY_ONLY: tl.constexpr):
    """Turn the row summary into the statistics (stored where ``first``)."""
    status = active & ((s != s) | (m == float("-inf")))
    # A skipped row (K2) becomes the one-token softmax: entropy 0, no 0/0 on the way.
    s = tl.where(active, s, 1.0)
    t = tl.where(active, t, 0.0)
    m = tl.where(active, m, 0.0)
    log_s = tl.log(s)
    lse = m + log_s
    # The call's status (igkernels.ops.deferred): the lowest bad row, by one atomic per bad row.
    tl.atomic_min(status_ptr, pid.to(tl.int64), mask=first & status)
    tl.store(ent_ptr + pid, log_s - t / s, mask=first)
    if not ENTROPY_ONLY:
        tl.store(lse_ptr + pid, lse, mask=first)
        tl.store(maxp_ptr + pid, 1.0 / s, mask=first)
        tl.store(amax_ptr + pid, amax.to(tl.int64), mask=first)
        tl.store(second_ptr + pid, tl.exp(second - m) / s, mask=first)


@triton.jit
def _tile_cumsum(tab_r, tab_m, n_tiles, m, beta, NT: tl.constexpr):
    """(C, mass, Z): the row's tile masses moved to m, their column-order cumulative sum
    (fp32) and its last entry Z; NT >= n_tiles (a power of two)."""
    j = tl.arange(0, NT)
    live = j < n_tiles
    r = tl.load(tab_r + j, mask=live, other=float("-inf"))
    mass = tl.load(tab_m + j, mask=live, other=0.0)
    # r_j = -inf (a tile before any finite logit) has mass 0: no -inf - -inf.
    mass = tl.where(mass > 0, mass * tl.exp((r - m) * beta), 0.0)
    c = tl.cumsum(mass, axis=0)
    z = tl.sum(tl.where(j == n_tiles - 1, c, 0.0), axis=0)
    return c, mass, z


@triton.jit
def _pick_tile(c, mass, z, u, NT: tl.constexpr):
    """(tile j, C_{j-1}, target u * Z) of a draw with uniform u: the lowest tile with C_j > target
    (and mass, so that rounding in the scan cannot pick an empty tile), else the last tile with
    mass (the target at or above every C_j by rounding)."""
    jj = tl.arange(0, NT)
    target = u * z
    j = tl.min(tl.where((c > target) & (mass > 0), jj, _BIG), axis=0)
    j = tl.where(j == _BIG, tl.max(tl.where(mass > 0, jj, -1), axis=0), j)
    j = tl.maximum(j, 0)
    return j, tl.sum(tl.where(jj == j - 1, c, 0.0), axis=0), target


@triton.jit
def _pick_column(v, f, m, beta, c_prev, target, amax):
    """(column, its fp32 logit) of the draw in the tile of columns v (logits f, -inf outside the
    row): the lowest column of positive weight w_v = exp(fp32(f_v - m) * beta) where
    C_{j-1} + cumsum(w) exceeds the target; none (rounding): the tile's highest column of
    positive weight; none at all (a bad row): the argmax, whose logit is m."""
    w = tl.exp((f - m) * beta)
    pos = w > 0
    run = c_prev + tl.cumsum(w, axis=0)
    d = tl.min(tl.where(pos & (run > target), v, _BIG), axis=0)
    d = tl.where(d == _BIG, tl.max(tl.where(pos, v, -1), axis=0), d)
    d = tl.where(d < 0, amax, d)
    f_d = tl.max(tl.where(v == d, f, float("-inf")), axis=0)
    return d, tl.where(f_d > float("-inf"), f_d, m)


@triton.jit
def _draw(row_ptr, v_hi, c, mass, z, u, m, beta, amax, BLOCK: tl.constexpr, NT: tl.constexpr):
    """(column, its fp32 logit) of the draw with uniform u: its tile from the table, then that
    one tile read again (see the module doc)."""
    j, c_prev, target = _pick_tile(c, mass, z, u, NT)
    v = j * BLOCK + tl.arange(0, BLOCK)
    f = tl.load(row_ptr + v, mask=v < v_hi, other=float("-inf")).to(tl.float32)
    return _pick_column(v, f, m, beta, c_prev, target, amax)


@triton.jit(do_not_specialize=["R", "S", "beta", "offset"])
def softmax_entropy_kernel(logits, offsets, keys, ctr_ptr, mask_ptr,
                           ent_ptr, lse_ptr, maxp_ptr, amax_ptr, second_ptr, status_ptr,
                           samples_ptr, sprob_ptr, tab_r, tab_m, R, V, S, beta, offset,
                           BLOCK: tl.constexpr, NT: tl.constexpr, HAS_SAMPLES: tl.constexpr,
                           TEMPERED: tl.constexpr, HAS_MASK: tl.constexpr, ENTROPY_ONLY: tl.constexpr,
                           ALIGN: tl.constexpr):
    """Grid (rows,): one program reduces a whole row, then (HAS_SAMPLES) draws its S tokens."""
    pid = tl.program_id(0)
    row_ptr, active, v_hi = _row_setup(pid, logits, offsets, mask_ptr, V, HAS_MASK, ALIGN)
    n_tiles = tl.cdiv(V, BLOCK)
    tab = pid.to(tl.int64) * n_tiles
    m, s, t, amax, second = _reduce_vocab(row_ptr, 0, v_hi, tab_r + tab, tab_m + tab, beta,
                                          BLOCK, HAS_SAMPLES, TEMPERED)
    _store_row(pid, active, pid >= 0, m, s, t, amax, second,
               ent_ptr, lse_ptr, maxp_ptr, amax_ptr, second_ptr, status_ptr, ENTROPY_ONLY)
    if HAS_SAMPLES:
        tl.debug_barrier()   # the table this program wrote, visible to all its threads
        c, mass, z = _tile_cumsum(tab_r + tab, tab_m + tab, n_tiles, m, beta, NT)
        k0, k1 = split_key(tl.load(keys + pid))
        ctr = tl.load(ctr_ptr + pid).to(tl.uint32)
        for q in range(S):
            u = token_uniform(q, k0, k1, ctr, offset)
            d, f_d = _draw(row_ptr, v_hi, c, mass, z, u, m, beta, amax, BLOCK, NT)
            out = pid.to(tl.int64) * S + q
            tl.store(samples_ptr + out, d.to(tl.int64))
            tl.store(sprob_ptr + out, tl.exp(f_d - m) / s)


@triton.jit(do_not_specialize=["R", "beta"])
def softmax_entropy_split_kernel(logits, offsets, mask_ptr,
                                 p_m, p_s, p_t, p_idx, p_second, tab_r, tab_m,
                                 R, V, beta, SLICE, NSPLIT,
                                 BLOCK: tl.constexpr, HAS_SAMPLES: tl.constexpr, TEMPERED: tl.constexpr,
                                 HAS_MASK: tl.constexpr, ALIGN: tl.constexpr):
    """Grid (rows, slices): one program reduces one vocabulary slice (and writes its tiles' masses)."""
    pid = tl.program_id(0)
    sl = tl.program_id(1)
    row_ptr, active, v_hi = _row_setup(pid, logits, offsets, mask_ptr, V, HAS_MASK, ALIGN)
    v_lo = sl * SLICE
    tab = pid.to(tl.int64) * tl.cdiv(V, BLOCK)
    m, s, t, amax, second = _reduce_vocab(row_ptr, v_lo, tl.minimum(v_hi, v_lo + SLICE),
                                          tab_r + tab, tab_m + tab, beta, BLOCK, HAS_SAMPLES, TEMPERED)
    part = pid.to(tl.int64) * NSPLIT + sl
    tl.store(p_m + part, m)
    tl.store(p_s + part, s)
    tl.store(p_t + part, t)
    tl.store(p_idx + part, amax)
    tl.store(p_second + part, second)


@triton.jit(do_not_specialize=["R", "S", "beta", "offset"])
def softmax_entropy_combine_kernel(logits, offsets, keys, ctr_ptr, mask_ptr,
                                   p_m, p_s, p_t, p_idx, p_second, tab_r, tab_m,
                                   ent_ptr, lse_ptr, maxp_ptr, amax_ptr, second_ptr, status_ptr,
                                   samples_ptr, sprob_ptr, R, V, S, beta, offset, NSPLIT,
                                   BLOCK: tl.constexpr, NT: tl.constexpr, HAS_SAMPLES: tl.constexpr,
                                   HAS_MASK: tl.constexpr, ENTROPY_ONLY: tl.constexpr):
    """Grid (draws or 1, rows): merge a row's slices in ascending order; draw 0 stores the
    statistics, and with HAS_SAMPLES each program makes its draw (a row's draws are neighbours,
    so its tiles are read again from L2)."""
    q = tl.program_id(0)
    pid = tl.program_id(1)
    off = tl.load(offsets + pid)
    if HAS_MASK:
        active = tl.load(mask_ptr + pid) != 0
    else:
        active = pid >= 0
    m = tl.full([], float("-inf"), tl.float32)
    s = tl.full([], 0.0, tl.float32)
    t = tl.full([], 0.0, tl.float32)
    second = tl.full([], float("-inf"), tl.float32)
    amax = tl.full([], 0, tl.int32)
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
    _store_row(pid, active, q == 0, m, s, t, amax, second,
               ent_ptr, lse_ptr, maxp_ptr, amax_ptr, second_ptr, status_ptr, ENTROPY_ONLY)
    if HAS_SAMPLES:
        n_tiles = tl.cdiv(V, BLOCK)
        tab = pid.to(tl.int64) * n_tiles
        row_ptr = logits + off
        c, mass, z = _tile_cumsum(tab_r + tab, tab_m + tab, n_tiles, m, beta, NT)
        k0, k1 = split_key(tl.load(keys + pid))
        u = token_uniform(q, k0, k1, tl.load(ctr_ptr + pid).to(tl.uint32), offset)
        d, f_d = _draw(row_ptr, V, c, mass, z, u, m, beta, amax, BLOCK, NT)
        out = pid.to(tl.int64) * S + q
        tl.store(samples_ptr + out, d.to(tl.int64))
        tl.store(sprob_ptr + out, tl.exp(f_d - m) / s)


# Overrides for tests: FORCE_BLOCK sets the vocabulary tile, FORCE_SPLIT the number of slices
# (the split path then runs even on a CPU or for many rows).
FORCE_BLOCK: int | None = None
FORCE_SPLIT: int | None = None


def _tile(V: int) -> tuple[int, int]:
    """(BLOCK, num_warps): the whole row when it fits in 1024 columns, else 1024-column tiles
    with 4 warps: 8 contiguous elements per thread (16-byte loads for bf16/fp16, two for fp32),
    about 110 registers a thread (ptxas, sm_90).

    Measured on an H200 (benchmarks/gpu_check.py's tile sweep, bf16 4096 x 126464): 1024-column
    tiles with 4 warps 0.406 ms (60% of copy bandwidth), 2048 with 8 warps 0.444 ms, 4096 with 8
    warps 0.465 ms; with one draw 0.493 / 0.658 / 0.537 ms. Smaller programs keep more rows in
    flight per SM (each with its tiles in the cp.async pipeline of the tile loop), and a row's
    per-tile block reductions wait on fewer warps.
    """
    if FORCE_BLOCK is not None:
        block = FORCE_BLOCK
    else:
        block = min(1024, max(16, triton.next_power_of_2(V)))
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


def fp32_inverse(temperature: float) -> float:
    """beta = fp32(1 / temperature) (round to nearest) as a Python float: exact, so the kernels
    receive it unrounded."""
    return struct.unpack("f", struct.pack("f", 1.0 / temperature))[0]   # ops: temperature in [1e-30, 1e30]


def table_width(n_tiles: int) -> int:
    """NT: the power of two (>= 2) one block of the draw step holds a row's tile table in."""
    return max(2, triton.next_power_of_2(n_tiles))


def launch(logits, offsets, keys, ctr, mask, ent, lse, maxp, amax, second, status, samples, sprob,
           S: int, temperature: float, offset: int, entropy_only: bool = False) -> None:
    """Fill the [R] outputs (and [R, S] draws when temperature > 0) for the rows at ``offsets``.

    ``mask``: None, or uint8 [R]; rows with mask 0 are skipped (entropy 0, never bad).
    ``status``: int64 [1] holding NO_ERROR; the lowest bad row is left in it.
    Draws need a [R, tiles] fp32 table of tile masses (two, with their references), allocated here.
    """
    R, V = offsets.numel(), logits.shape[-1]
    block, warps = _tile(V)
    has_samples = S > 0 and temperature > 0.0 and not entropy_only
    beta = fp32_inverse(temperature) if has_samples else 1.0
    tiles = triton.cdiv(V, block)
    has_mask = mask is not None
    mask = mask if has_mask else offsets   # never read without HAS_MASK
    dev = logits.device
    if has_samples:
        tab_r, tab_m = torch.empty(2, R * tiles, dtype=torch.float32, device=dev)
    else:
        tab_r = tab_m = ent                # never touched without HAS_SAMPLES
    nsplit = _num_slices(R, V, block, dev)
    common = dict(HAS_SAMPLES=has_samples, HAS_MASK=has_mask)
    nt = table_width(tiles) if has_samples else 2   # no table: no recompile by V
    align = _alignment(logits)
    if nsplit == 1:
        softmax_entropy_kernel[(R,)](
            logits, offsets, keys, ctr, mask, ent, lse, maxp, amax, second, status, samples, sprob, tab_r, tab_m,
            R, V, S, beta, offset, BLOCK=block, NT=nt, TEMPERED=beta != 1.0, ENTROPY_ONLY=entropy_only,
            ALIGN=align, num_warps=warps, enable_fp_fusion=False, **common)
        return
    slice_cols = triton.cdiv(tiles, nsplit) * block
    nsplit = triton.cdiv(V, slice_cols)
    p_m, p_s, p_t, p_second = (torch.empty(R * nsplit, dtype=torch.float32, device=dev) for _ in range(4))
    p_idx = torch.empty(R * nsplit, dtype=torch.int32, device=dev)
    softmax_entropy_split_kernel[(R, nsplit)](
        logits, offsets, mask, p_m, p_s, p_t, p_idx, p_second, tab_r, tab_m,
        R, V, beta, slice_cols, nsplit, BLOCK=block, TEMPERED=beta != 1.0, ALIGN=align, num_warps=warps,
        enable_fp_fusion=False, **common)
    softmax_entropy_combine_kernel[(S if has_samples else 1, R)](
        logits, offsets, keys, ctr, mask, p_m, p_s, p_t, p_idx, p_second, tab_r, tab_m,
        ent, lse, maxp, amax, second, status, samples, sprob, R, V, S, beta, offset, nsplit,
        BLOCK=block, NT=nt, ENTROPY_ONLY=entropy_only, num_warps=warps if has_samples else 1,
        enable_fp_fusion=False, **common)
