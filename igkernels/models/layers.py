"""What the native implementations share.

Rounding follows the authors' code so that bf16 results stay close to theirs: norms compute in
fp32, RoPE's cos/sin are computed in fp32 from the positions (never kept as a buffer that a
meta-device build could leave uninitialised), attention is ``scaled_dot_product_attention``
with a boolean mask.

The KV cache: ``KVCache`` holds, per layer, the keys and values of every position of each
sequence's last full forward ([B, Hkv, T, d], after RoPE). An ``AttentionContext`` tells each
attention layer what to do with its keys: a full forward may store them for some sequences; a
window forward (the positions a step recomputes, for several candidates of a sequence packed
into one row) puts them after that sequence's cached keys, and its mask says which cached keys
and which window keys each query sees. The candidates of a sequence share one cached row: it is
gathered once per sequence and forward, never per candidate.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """y = weight * x / sqrt(mean(x^2) + eps), the mean and the scaling in fp32.

    ``weight_in_fp32``: the weight multiply also in fp32 with one cast at the end (flash-attn's
    kernel, which SDAR/TraDo use); otherwise the normalised x is cast to the input dtype first
    and multiplied there (the Llama/Qwen2 norm of LLaDA and Dream).
    """

    def __init__(self, size: int, eps: float, weight_in_fp32: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps
        self.weight_in_fp32 = weight_in_fp32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        y = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        if self.weight_in_fp32:
            return (y * self.weight.float()).to(x.dtype)
        return self.weight * y.to(x.dtype)


def rotary(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """fp32 (cos, sin) [..., head_dim] of RoPE at ``positions`` [T] or [B, T] (the "default" rope
    type: inv_freq_i = theta^(-2i / head_dim), each frequency used for both halves)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device=positions.device).float()
                                / head_dim))
    freqs = positions.float()[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, in_fp32: bool) -> torch.Tensor:
    """RoPE on x [B, H, T, head_dim] with cos/sin [T, head_dim] or per row [B, T, head_dim]: in
    fp32 and cast back (LLaDA's ``rope_full_precision``), or in x's dtype with cos/sin cast to it
    (the Qwen models)."""
    if cos.dim() == 3:
        cos, sin = cos[:, None], sin[:, None]
    xx = x.float() if in_fp32 else x
    c, s = (cos, sin) if in_fp32 else (cos.to(x.dtype), sin.to(x.dtype))
    half = xx.shape[-1] // 2
    rotated = torch.cat((-xx[..., half:], xx[..., :half]), dim=-1)
    return (xx * c + rotated * s).to(x.dtype)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
              scale: float | None = None) -> torch.Tensor:
    """Softmax attention of q [B, H, T, d] over k, v [B, Hkv, S, d] (query head h reads key/value
    head h // (H / Hkv)); ``mask`` bool [B or 1, 1, T, S], True where a query may see a key."""
    if q.shape[1] != k.shape[1]:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=True)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


class KVCache:
    """Per layer, keys and values [B, Hkv, T, d] of every position of each sequence's last full
    forward (allocated when first stored)."""

    def __init__(self, num_sequences: int, num_layers: int):
        self.B = num_sequences
        self.k: list[torch.Tensor | None] = [None] * num_layers
        self.v: list[torch.Tensor | None] = [None] * num_layers

    def store(self, layer: int, rows: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        if self.k[layer] is None:
            self.k[layer] = k.new_zeros((self.B,) + k.shape[1:])
            self.v[layer] = v.new_zeros((self.B,) + v.shape[1:])
        self.k[layer][rows] = k
        self.v[layer][rows] = v

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.k + self.v if t is not None)


@dataclass
class AttentionContext:
    """What an attention layer does with its keys (module doc): ``mask`` [B or 1, 1, L, S] bool;
    with a ``cache``, ``rows`` [B] are the sequences of the batch's rows, and the forward either
    ``store``s its keys there (a full forward) or reads them before its own (a window forward)."""
    mask: torch.Tensor | None
    cache: KVCache | None = None
    rows: torch.Tensor | None = None
    store: bool = False

    def keys_values(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cache is None:
            return k, v
        if self.store:
            self.cache.store(layer, self.rows, k, v)
            return k, v
        return (torch.cat([self.cache.k[layer][self.rows], k], dim=2),
                torch.cat([self.cache.v[layer][self.rows], v], dim=2))


def split_heads(x: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
    """[B, T, heads * head_dim] -> [B, heads, T, head_dim]."""
    B, T, _ = x.shape
    return x.view(B, T, heads, head_dim).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[B, heads, T, head_dim] -> [B, T, heads * head_dim]."""
    B, H, T, d = x.shape
    return x.transpose(1, 2).reshape(B, T, H * d)


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return F.silu(gate) * up


def key_padding_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """[M, 1, 1, T] bool from a key-padding mask [M, T] (True / 1 on real tokens), None for none."""
    return None if attention_mask is None else attention_mask.bool()[:, None, None, :]


class TiedHead(nn.Module):
    """The LM head of a checkpoint whose output projection is its input embedding (no bias)."""

    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        self.embedding = embedding
        self.bias = None

    @property
    def weight(self) -> torch.Tensor:
        return self.embedding.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.embedding.weight)
