"""The reference backend: plain PyTorch, written to be read beside SPEC §2.

It is the truth every test compares with. Statistics are computed in float64 from the
selected rows; random numbers come from ``igkernels.philox`` exactly as the fused kernels
draw them:

    token draw s     inverse transform: the lowest v whose cumulative tempered weight
                     C_v = sum_{v' <= v} w_v' exceeds u_s * Z, with w_v = exp(fp32(f_v - m) * beta)
                     in fp32, beta = fp32(1 / temperature), Z = C_{V-1}, u_s one uniform;
                     C and Z are summed here in float64 (the kernels: fp32 tiles)
    position draw    score_t = fp32(conf_t) / fp32(tau) + gumbel_t              (candidate c >= 1)

The backends receive arguments already checked and normalised by ``igkernels.ops``:
rows of ``logits`` are addressed by their logical (flattened leading) index, and every
selected row carries its own Philox key and counter row (see ``philox.py``). Each op returns
its result and a status naming the first bad row (``igkernels.ops.deferred``).
"""
from __future__ import annotations

import torch

from ..ops._checks import selection_tensors
from ..ops.deferred import first_error
from ..ops.types import Candidates, TokenStats
from . import philox


def _selected_rows(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    return logits.reshape(-1, logits.shape[-1])[rows]


def _bad_rows(f: torch.Tensor) -> torch.Tensor:
    """A row must hold no NaN / +inf and at least one finite logit: the rows that do not."""
    return torch.isnan(f).any(-1) | torch.isposinf(f).any(-1) | torch.isneginf(f).all(-1)


def entropy(f: torch.Tensor) -> torch.Tensor:
    """H = -sum_v p_v log p_v of softmax(f) along the last dim, with 0 log 0 = 0."""
    return torch.special.entr(torch.softmax(f, dim=-1)).sum(-1)


def token_uniforms(keys: torch.Tensor, ctr: torch.Tensor, num_samples: int, offset: int) -> torch.Tensor:
    """u [R, S] in (0, 1), fp32: draw s of a row takes column s of the token domain."""
    words = philox.random_words(keys, ctr, torch.zeros_like(ctr), philox.TOKEN_DOMAIN, offset, num_samples)
    return philox.uniform(words)


def tempered_beta(temperature: float, device: torch.device | str | None = None) -> torch.Tensor:
    """beta = fp32(1 / temperature), the draws' inverse temperature (a 0-dim tensor)."""
    # Filled on the device (no host copy, which would sync a GPU); fill rounds the double to
    # float32 to nearest, as torch.tensor does.
    return torch.full((), 1.0 / temperature, dtype=torch.float32, device=device)


def tempered_weights(f32: torch.Tensor, m32: torch.Tensor, temperature: float) -> torch.Tensor:
    """w [R, V] = exp(fp32(f - m) * beta), beta = fp32(1 / temperature): 0 exactly at -inf logits."""
    return torch.exp((f32 - m32[:, None]) * tempered_beta(temperature, f32.device))


def first_above(c: torch.Tensor, target: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """[R, S]: the lowest v with c[:, v] > target (c [R, n] cumulative, target [R, S]); where
    none (rounding), the highest v where ``positive`` [R, n] holds."""
    n = c.shape[-1]
    idx = torch.searchsorted(c, target, right=True)
    last = n - 1 - positive.flip(-1).int().argmax(-1, keepdim=True)
    return torch.where(idx < n, idx, last)


def inverse_transform_tokens(f32: torch.Tensor, keys: torch.Tensor, ctr: torch.Tensor, num_samples: int,
                             temperature: float, offset: int) -> torch.Tensor:
    """Draws [R, num_samples] from softmax(f / temperature) of fp32 logits [R, V]; the argmax
    when temperature == 0.

    Draw s is the lowest v with C_v > u_s * Z (see the module doc). Rounding can leave the
    target at or above every C_v only in the kernels' fp32 sums; the rule for that case, the
    highest v with w_v > 0, keeps a -inf logit (w = 0) from ever being drawn.
    """
    R, V = f32.shape
    if temperature == 0.0:
        return f32.argmax(-1, keepdim=True).expand(R, num_samples).clone()
    w = tempered_weights(f32, f32.max(-1).values, temperature)
    c = torch.cumsum(w.double(), -1)
    target = token_uniforms(keys, ctr, num_samples, offset).double() * c[:, -1:]
    return first_above(c, target, w > 0)


def softmax_entropy(logits: torch.Tensor, rows: torch.Tensor | None, offsets: torch.Tensor | None,
                    keys: torch.Tensor | None, ctr: torch.Tensor | None, key: int, num_samples: int,
                    temperature: float, offset: int) -> tuple[TokenStats, torch.Tensor]:
    """K1 over the selected rows: statistics of p = softmax(f) and inverse-transform draws.

    ``offsets`` (element offset of each row, for pointer-based kernels) is not needed here.
    """
    rows, _, keys, ctr = selection_tensors(logits, rows, offsets, keys, ctr, key)
    f32 = _selected_rows(logits, rows).float()
    f = f32.double()
    top2 = f.topk(min(2, f.shape[-1]), dim=-1).values
    m = top2[:, :1]
    second = top2[:, 1:] if f.shape[-1] > 1 else torch.full_like(m, float("-inf"))
    # p_v = exp(f_v - m) / z rather than exp(f_v - logsumexp): m + log z loses log z to
    # rounding once |m| is beyond ~1e15, and a tie at the top would read as probability 1.
    z = torch.exp(f - m).sum(-1, keepdim=True)
    samples = inverse_transform_tokens(f32, keys, ctr, num_samples, temperature, offset)
    return TokenStats(
        entropy=entropy(f).float(),
        logsumexp=torch.logsumexp(f, -1).float(),
        max_prob=(1 / z[:, 0]).float(),
        argmax=f32.argmax(-1),
        second_prob=(torch.exp(second - m) / z)[:, 0].float(),
        samples=samples,
        sample_prob=(torch.exp(f.gather(-1, samples) - m) / z).float(),
    ), first_error(_bad_rows(f32))


def state_uncertainty(logits: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """U(x_b) = mean of H_l over the masked positions l of sequence b; 0 where none."""
    B, T = mask.shape
    rows = mask.reshape(-1).nonzero().squeeze(-1)
    f = _selected_rows(logits, rows).float()
    bad = _bad_rows(f)
    total = torch.zeros(B, dtype=torch.float64, device=logits.device)
    total.index_add_(0, rows // T, entropy(f.double()))
    return (total / mask.sum(-1).clamp(min=1)).float(), first_error(bad, rows)


def sample_candidates(confidence: torch.Tensor, valid: torch.Tensor, k: int, seq_k: torch.Tensor | None,
                      num_candidates: int, position_temperature: float, keys: torch.Tensor, ctr: torch.Tensor,
                      offset: int) -> Candidates:
    """K3: N top-k position sets per sequence; candidate 0 noiseless, c >= 1 Gumbel-perturbed.

    confidence: [B, N, T] float32 (may be an expanded view), valid: [B, T] bool; seq_k: None or
    int64 [B] in [0, k], sequence b's own k (its top-seq_k[b] set, -1 padded to k).
    """
    B, N, T = confidence.shape[0], num_candidates, valid.shape[1]
    words = philox.random_words(keys[:, None], ctr[:, None], torch.arange(N, device=valid.device)[None, :],
                                philox.POSITION_DOMAIN, offset, T)       # [B, N, T]
    tau = torch.tensor(position_temperature, dtype=torch.float32)
    noisy = confidence / tau + philox.gumbel(words) if position_temperature > 0 else confidence.clone()
    scores = torch.cat([confidence[:, :1], noisy[:, 1:]], dim=1)
    # The order (valid first, score descending, lower position first): two stable sorts, the
    # last by validity, so a valid position is taken before any invalid one, even at -inf.
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    invalid = (~valid)[:, None, :].expand(B, N, T).gather(-1, order)
    order = order.gather(-1, torch.sort(invalid.to(torch.uint8), dim=-1, stable=True).indices)[..., :k]
    kk = order.shape[-1]
    chosen_valid = valid[:, None, :].expand(B, N, T).gather(-1, order)
    if seq_k is not None:
        chosen_valid &= torch.arange(kk, device=valid.device) < seq_k[:, None, None]
    positions = torch.where(chosen_valid, order, torch.full_like(order, T))
    positions = positions.sort(-1).values
    positions = torch.where(positions == T, -1, positions)
    if kk < k:
        positions = torch.cat([positions, positions.new_full((B, N, k - kk), -1)], dim=-1)
    return Candidates(positions=positions, unique=first_of_equal_rows(positions))


def first_of_equal_rows(positions: torch.Tensor) -> torch.Tensor:
    """unique [B, N]: whether row c of positions [B, N, k] differs from every row c' < c.

    Sorting the rows lexicographically (k stable passes, last key first) puts equal rows next
    to each other in candidate order, so the first of each run is the unique one: O(N log N)
    per sequence where comparing every pair would hold [B, N, N] flags."""
    B, N, k = positions.shape
    order = torch.arange(N, device=positions.device).expand(B, N)
    for j in reversed(range(k)):
        column = positions[:, :, j].gather(1, order)
        order = order.gather(1, torch.sort(column, dim=1, stable=True).indices)
    rows = positions.gather(1, order[:, :, None].expand(B, N, k))
    starts = torch.ones(B, N, dtype=torch.bool, device=positions.device)
    starts[:, 1:] = (rows[:, 1:] != rows[:, :-1]).any(-1)
    return torch.empty_like(starts).scatter_(1, order, starts)


def linear_softmax_entropy(hidden: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                           keys: torch.Tensor, ctr: torch.Tensor, num_samples: int, temperature: float,
                           offset: int) -> tuple[TokenStats, torch.Tensor]:
    """The fused head's definition: K1 of the logits ``hidden[rows] @ weight.T + bias``, formed in
    the inputs' dtype exactly as the unfused expression forms them. hidden: [n, D]."""
    logits = hidden[rows] @ weight.T
    if bias is not None:
        logits = logits + bias
    return softmax_entropy(logits, None, None, keys, ctr, 0, num_samples, temperature, offset)


def _register() -> None:
    import sys

    from . import registry
    # Lowest rank: the automatic choice falls back to it wherever no fused kernel runs.
    registry.register_backend("reference", priority={"cpu": 0, "cuda": 0}, load=lambda: sys.modules[__name__])


_register()
