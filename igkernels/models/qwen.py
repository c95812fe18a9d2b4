"""The Qwen decoder that Dream (Qwen2.5) and SDAR / TraDo (Qwen3) are built on, natively.

Parameter names are the Hugging Face Qwen names the checkpoints use
(``model.layers.{i}.self_attn.q_proj.weight``, ``lm_head.weight``, ...). A family subclass says
what differs: biases on q/k/v (Qwen2), RMSNorm of each head's q and k before RoPE (Qwen3), how
the norm rounds, and the attention pattern (``attention_mask``).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from .checkpoint import CheckpointError
from .layers import (AttentionContext, RMSNorm, TiedHead, apply_rotary, attention, merge_heads, rotary, split_heads,
                     swiglu)
from .native import NativeModel


class _Attention(nn.Module):
    def __init__(self, layer: int, d: int, heads: int, kv_heads: int, head_dim: int, qkv_bias: bool, qk_norm: bool,
                 eps: float, norm_in_fp32: bool):
        super().__init__()
        self.layer, self.heads, self.kv_heads, self.head_dim = layer, heads, kv_heads, head_dim
        self.q_proj = nn.Linear(d, heads * head_dim, bias=qkv_bias)
        self.k_proj = nn.Linear(d, kv_heads * head_dim, bias=qkv_bias)
        self.v_proj = nn.Linear(d, kv_heads * head_dim, bias=qkv_bias)
        self.o_proj = nn.Linear(heads * head_dim, d, bias=False)
        if qk_norm:
            self.q_norm = RMSNorm(head_dim, eps, norm_in_fp32)
            self.k_norm = RMSNorm(head_dim, eps, norm_in_fp32)
        self.qk_norm = qk_norm

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        # The head norms run on [B, T, H, d] before the transpose: contiguous rows, no copy.
        q = self.q_proj(x).unflatten(-1, (self.heads, self.head_dim))
        k = self.k_proj(x).unflatten(-1, (self.kv_heads, self.head_dim))
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        q = apply_rotary(q, cos, sin, in_fp32=False)
        k = apply_rotary(k, cos, sin, in_fp32=False)
        k, v = ctx.keys_values(self.layer, k, split_heads(self.v_proj(x), self.kv_heads, self.head_dim))
        return self.o_proj(merge_heads(attention(q, k, v, ctx.mask, scale=self.head_dim ** -0.5)))


class _MLP(nn.Module):
    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.gate_proj = nn.Linear(d, hidden, bias=False)
        self.up_proj = nn.Linear(d, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(swiglu(self.gate_proj(x), self.up_proj(x)))


class _Layer(nn.Module):
    def __init__(self, layer: int, d: int, hidden: int, eps: float, norm_in_fp32: bool, **attn):
        super().__init__()
        self.input_layernorm = RMSNorm(d, eps, norm_in_fp32)
        self.self_attn = _Attention(layer, d, eps=eps, norm_in_fp32=norm_in_fp32, **attn)
        self.post_attention_layernorm = RMSNorm(d, eps, norm_in_fp32)
        self.mlp = _MLP(d, hidden)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, ctx)
        return x + self.mlp(self.post_attention_layernorm(x))


class QwenModel(NativeModel):
    """Embedding, pre-norm decoder layers, final norm, untied (or tied) LM head."""

    qkv_bias: ClassVar[bool] = False
    qk_norm: ClassVar[bool] = False
    norm_in_fp32: ClassVar[bool] = False

    def __init__(self, config: dict):
        super().__init__(config)
        scaling = getattr(self.config, "rope_scaling", None)
        if scaling and (scaling.get("rope_type") or scaling.get("type")) not in (None, "default"):
            raise CheckpointError(f"config.json: rope_scaling {scaling!r} is not implemented natively "
                                  "(load it with native=False)")
        d = self.setting("hidden_size")
        heads = self.setting("num_attention_heads")
        self.head_dim = getattr(self.config, "head_dim", None) or d // heads
        self.theta = self.setting("rope_theta", 10000.0, float)
        eps = self.setting("rms_norm_eps", 1e-6, float)
        self.num_layers = self.setting("num_hidden_layers")
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(self.setting("vocab_size"), d)
        self.model.layers = nn.ModuleList(
            _Layer(i, d, self.setting("intermediate_size"), eps, self.norm_in_fp32, heads=heads,
                   kv_heads=self.setting("num_key_value_heads", heads), head_dim=self.head_dim,
                   qkv_bias=self.qkv_bias, qk_norm=self.qk_norm)
            for i in range(self.num_layers))
        self.model.norm = RMSNorm(d, eps, self.norm_in_fp32)
        self.tied = self.setting("tie_word_embeddings", False, bool)
        if not self.tied:
            self.lm_head = nn.Linear(d, self.setting("vocab_size"), bias=False)

    def get_output_embeddings(self) -> nn.Module:
        return TiedHead(self.model.embed_tokens) if self.tied else self.lm_head

    def decode(self, input_ids: torch.Tensor, positions: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        x = self.model.embed_tokens(input_ids)
        cos, sin = rotary(positions, self.head_dim, self.theta)
        for layer in self.model.layers:
            x = layer(x, cos, sin, ctx)
        return self.model.norm(x)
