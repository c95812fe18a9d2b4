"""What the native LLaDA, Dream and SDAR/TraDo implementations share.

Rounding follows the authors' code so that bf16 results stay close to theirs: norms compute in
fp32, RoPE's cos/sin are computed in fp32 from the positions (never kept as a buffer that a
meta-device build could leave uninitialised), attention is ``scaled_dot_product_attention``
with a boolean mask.
"""
from __future__ import annotations

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
    """fp32 (cos, sin) [T, head_dim] of RoPE at ``positions`` [T] (the "default" rope type:
    inv_freq_i = theta^(-2i / head_dim), each frequency used for both halves)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device=positions.device).float()
                                / head_dim))
    freqs = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, in_fp32: bool) -> torch.Tensor:
    """RoPE on x [B, H, T, head_dim]: in fp32 and cast back (LLaDA's ``rope_full_precision``),
    or in x's dtype with cos/sin cast to it (the Qwen models)."""
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
