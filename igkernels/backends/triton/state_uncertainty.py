"""K2: U_b = mean over masked t of H(softmax(logits[b, t])), 0 where b has no masked t.

Math: the entropy of each row is K1's (entropy = log s - t / s from one online pass, see
softmax_entropy.py). Pass 1 runs K1's row kernel over all B*T rows with the mask read in
the kernel: an unmasked row's vocabulary range is empty, so it costs one byte of mask and
no logits, and no host sync is needed to find the masked rows. Its entropies go to a
[B*T] fp32 buffer (0 for unmasked rows). Pass 2, one program per b, sums that row of the
buffer and counts the mask in a fixed tile order, so the mean
      U_b = (sum_t mask_bt * H_bt) / max(1, sum_t mask_bt)
is deterministic (no float atomics).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ...ops.deferred import NO_ERROR
from . import softmax_entropy as _k1


@triton.jit(do_not_specialize=["T"])
def masked_mean_kernel(ent_ptr, mask_ptr, out_ptr, T, BLOCK_T: tl.constexpr):
    b = tl.program_id(0)
    cols = tl.arange(0, BLOCK_T)
    total = tl.zeros([BLOCK_T], tl.float32)
    count = tl.zeros([BLOCK_T], tl.int32)
    base = b.to(tl.int64) * T
    for start in range(0, T, BLOCK_T):
        t = start + cols
        live = t < T
        total += tl.load(ent_ptr + base + t, mask=live, other=0.0)
        count += (tl.load(mask_ptr + base + t, mask=live, other=0) != 0).to(tl.int32)
    n = tl.sum(count, axis=0)
    tl.store(out_ptr + b, tl.sum(total, axis=0) / tl.maximum(n, 1).to(tl.float32))


def launch(logits: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(U [B] float32, status int64 [1]: the lowest bad masked row b * T + t, or NO_ERROR) for
    logits [B, T, V] and a bool mask [B, T]."""
    B, T, _ = logits.shape
    dev = logits.device
    R = B * T
    bi = torch.arange(B, device=dev, dtype=torch.int64)[:, None]
    ti = torch.arange(T, device=dev, dtype=torch.int64)[None, :]
    offsets = (bi * logits.stride(0) + ti * logits.stride(1)).reshape(-1)
    mask8 = mask.contiguous().view(torch.uint8).reshape(-1)
    ent = torch.empty(R, dtype=torch.float32, device=dev)
    status = torch.full((1,), NO_ERROR, dtype=torch.int64, device=dev)
    zeros = torch.zeros(R, dtype=torch.int64, device=dev)
    _k1.launch(logits, offsets, zeros, zeros, mask8, ent, ent, ent, zeros, ent, status, zeros, ent,
               0, 0.0, 0, entropy_only=True)
    out = torch.empty(B, dtype=torch.float32, device=dev)
    block_t = min(1024, max(16, triton.next_power_of_2(T)))
    masked_mean_kernel[(B,)](ent, mask8, out, T, BLOCK_T=block_t, num_warps=4, enable_fp_fusion=False)
    return out, status
