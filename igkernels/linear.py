"""Fused LM head: ``linear_softmax_entropy`` = ``softmax_entropy(hidden @ weight.T + bias)``
without materialising the [rows, V] logits.

Two paths compute per-(row, vocabulary slice) partial states that ``combine`` merges:
* the Triton kernel ``igkernels/triton/linear_softmax_entropy.py`` (``tl.dot`` tiles, online
  statistics), for CUDA tensors and, under ``TRITON_INTERPRET=1``, for CPU tensors (tests);
* elsewhere a chunked PyTorch loop over vocabulary tiles of ``_TILE_ELEMS / rows`` columns.
Either holds O(rows) state plus one tile, never [rows, V]. Logits are rounded where the
unfused expression rounds them: ``hidden @ weight.T`` in the inputs' dtype, then ``+ bias``
rounded again, so statistics match the unfused path within the dtype's tolerance.

Partial state of columns C (all fp32 unless said): m = max_C f, s = sum_C exp(f - m),
t = sum_C exp(f - m)(f - m), top2 (second largest, duplicates counting), idx (int, lowest
index of m), bad (a NaN/+inf was seen), and per sample the best Gumbel score, its logit and
its column. Merging moves every slice to the common max M with a = exp(m - M):
s = sum a s_j, t = sum a (t_j + (m_j - M) s_j); then H = log s - t / s, lse = M + log s,
max_prob = 1 / s, second_prob = exp(top2 - M) / s, sample_prob = exp(f_draw - M) / s.
Slices hold ascending columns, so "first slice reaching the max" gives the lowest index.
"""
from __future__ import annotations

import contextlib
import os
from typing import Sequence

import torch

from . import api, philox
from .types import BadRowError, TokenStats

_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
_TILE_ELEMS = 1 << 20  # fallback: elements of one logits tile (times samples)


def _use_triton(device: torch.device) -> bool:
    if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def linear_softmax_entropy(hidden: torch.Tensor, weight: torch.Tensor, *,
                           rows: torch.Tensor | Sequence[int] | None = None, bias: torch.Tensor | None = None,
                           num_samples: int = 0, temperature: float = 0.0, seed: int | torch.Tensor = 0,
                           offset: int = 0) -> TokenStats:
    """K1 over the rows of ``hidden @ weight.T + bias``, computed tile by tile.

    hidden:  [..., D] bfloat16 / float16 / float32 (the final hidden states).
    weight:  [V, D] of hidden's dtype (the LM head); bias: optional [V] of that dtype.
    rows:    optional int64 [R] indices into hidden's flattened leading dims; only those rows
             are multiplied and the outputs have leading shape [R].
    num_samples, temperature, seed, offset: as ``igk.softmax_entropy`` (the column of the
             random stream is the vocabulary index).
    Returns the TokenStats of ``softmax_entropy(hidden @ weight.T + bias)``.
    Raises ValueError naming the row if a row's logits hold NaN / +inf.
    """
    api._check_tensor("hidden", hidden, dtypes=_DTYPES)
    if hidden.dim() < 1 or hidden.shape[-1] < 1:
        raise ValueError(f"hidden must have shape [..., D] with D >= 1, got {tuple(hidden.shape)}")
    D = hidden.shape[-1]
    api._check_tensor("weight", weight, dim=2)
    if weight.dtype != hidden.dtype:
        raise TypeError(f"weight must have hidden's dtype {hidden.dtype}, got {weight.dtype}")
    if weight.shape[1] != D or weight.shape[0] < 1:
        raise ValueError(f"weight must have shape [V, {D}] with V >= 1, got {tuple(weight.shape)}")
    api._same_device("weight", weight, hidden, "hidden")
    V = weight.shape[0]
    if bias is not None:
        api._check_tensor("bias", bias, dim=1)
        if bias.dtype != hidden.dtype:
            raise TypeError(f"bias must have hidden's dtype {hidden.dtype}, got {bias.dtype}")
        if bias.shape[0] != V:
            raise ValueError(f"bias must have shape [{V}] (weight's V), got {tuple(bias.shape)}")
        api._same_device("bias", bias, hidden, "hidden")
        bias = bias.contiguous()
    num_samples = api.check_int("num_samples", num_samples, 0, api._MAX_STREAMS)
    temperature = api.check_nonneg("temperature", temperature)
    offset = api.check_int("offset", offset, 0, api._U32)

    lead = tuple(hidden.shape[:-1])
    n = hidden.numel() // D
    index, out_lead, keys, ctr = api.select_rows(rows, lead, seed, hidden.device, "hidden")
    if index.numel() == 0:
        return api._empty_stats(out_lead, num_samples, hidden.device)

    h2 = hidden.reshape(n, D)
    if h2.stride(-1) != 1:
        h2 = h2.contiguous()
    if weight.stride(-1) != 1:
        weight = weight.contiguous()
    if _use_triton(hidden.device):
        from .triton import linear_softmax_entropy as _kernel
        ctx = torch.cuda.device(hidden.device) if hidden.is_cuda else contextlib.nullcontext()
        with ctx:
            parts = _kernel.partial_states(h2, index.contiguous(), weight, bias, keys.contiguous(),
                                           ctr.contiguous(), num_samples, temperature, offset)
    else:
        parts = _chunked_partial_states(h2[index], weight, bias, keys, ctr, num_samples, temperature, offset)
    *stats, bad = combine(*parts, num_samples)
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise BadRowError(int(index[i]))
    return TokenStats(*(x.reshape(out_lead + x.shape[1:]) for x in stats))


def _chunked_partial_states(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, keys: torch.Tensor,
                            ctr: torch.Tensor, num_samples: int, temperature: float, offset: int):
    """Partial states of vocabulary tiles, computed with plain PyTorch (one tile at a time)."""
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
        pf.append(torch.stack([m, e.sum(1), (e * x).sum(1), top2], -1))
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
    """Merge the partial states of each row's slices (ascending columns), see the module doc.

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
    t = (alpha * (pt + dm * ps)).sum(1)
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
