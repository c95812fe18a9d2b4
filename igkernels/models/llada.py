"""LLaDA (and MMaDA's text model, a LLaDA under another name): bidirectional attention, logits
unshifted, mask 126336.

``LLaDAModel`` is the native implementation of the authors' ``LLaDAModelLM`` with its
``block_type: "llama"`` blocks: RMSNorm before attention and MLP, RoPE applied in fp32
(``rope_full_precision``), multi-head or grouped-query attention over every real token, and
the SwiGLU MLP ``ff_out(silu(ff_proj(x)) * up_proj(x))``. Parameter names are the checkpoint's
(``model.transformer.blocks.{i}.q_proj.weight``, ...).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .base import Adapter
from .checkpoint import CheckpointError
from .layers import (AttentionContext, RMSNorm, TiedHead, apply_rotary, attention, key_padding_mask, merge_heads,
                     rotary, split_heads, swiglu)
from .native import NativeModel


class LLaDAAdapter(Adapter):
    """LLaDA's model takes a [M, T] key-padding ``attention_mask`` and attends bidirectionally;
    logits row t predicts token t."""

    name = "llada"
    default_mask_id = 126336


class _Block(nn.Module):
    def __init__(self, layer: int, d: int, heads: int, kv_heads: int, hidden: int, eps: float, bias: bool,
                 qkv_bias: bool):
        super().__init__()
        self.layer, self.heads, self.kv_heads, self.head_dim = layer, heads, kv_heads, d // heads
        self.attn_norm = RMSNorm(d, eps)
        self.q_proj = nn.Linear(d, d, bias=qkv_bias)
        self.k_proj = nn.Linear(d, kv_heads * self.head_dim, bias=qkv_bias)
        self.v_proj = nn.Linear(d, kv_heads * self.head_dim, bias=qkv_bias)
        self.attn_out = nn.Linear(d, d, bias=bias)
        self.ff_norm = RMSNorm(d, eps)
        self.ff_proj = nn.Linear(d, hidden, bias=bias)
        self.up_proj = nn.Linear(d, hidden, bias=bias)
        self.ff_out = nn.Linear(hidden, d, bias=bias)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        h = self.attn_norm(x)
        q = apply_rotary(split_heads(self.q_proj(h), self.heads, self.head_dim), cos, sin, in_fp32=True)
        k = apply_rotary(split_heads(self.k_proj(h), self.kv_heads, self.head_dim), cos, sin, in_fp32=True)
        k, v = ctx.keys_values(self.layer, k, split_heads(self.v_proj(h), self.kv_heads, self.head_dim))
        x = x + self.attn_out(merge_heads(attention(q, k, v, ctx.mask)))
        h = self.ff_norm(x)
        return x + self.ff_out(swiglu(self.ff_proj(h), self.up_proj(h)))


class LLaDAModel(NativeModel):
    """Native LLaDA / MMaDA-text: ``model(input_ids, attention_mask).logits`` as the authors'."""

    family = "llada"

    def __init__(self, config: dict):
        super().__init__(config)
        self._check_supported()
        d = self.setting("d_model")
        heads = self.setting("n_heads")
        kv_heads = 1 if getattr(self.config, "multi_query_attention", None) else self.setting("n_kv_heads", heads)
        hidden = getattr(self.config, "mlp_hidden_size", None) or self.setting("mlp_ratio") * d
        eps = self.setting("rms_norm_eps", 1e-5, float)
        bias = self.setting("include_bias", False, bool)
        qkv_bias = bias or self.setting("include_qkv_bias", False, bool)
        V = getattr(self.config, "embedding_size", None) or self.setting("vocab_size")
        self.theta = self.setting("rope_theta", 10000.0, float)
        self.head_dim = d // heads
        self.tied = self.setting("weight_tying", False, bool)
        self.num_layers = self.setting("n_layers")
        self.model = nn.Module()
        self.model.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(V, d),
            blocks=nn.ModuleList(_Block(i, d, heads, kv_heads, hidden, eps, bias, qkv_bias)
                                 for i in range(self.num_layers)),
            ln_f=RMSNorm(d, eps)))
        if not self.tied:
            self.model.transformer["ff_out"] = nn.Linear(d, V, bias=bias)

    def _check_supported(self) -> None:
        """The authors' file has options no LLaDA / MMaDA release uses; refuse them by name."""
        c = self.config
        for name, want in (("block_type", "llama"), ("layer_norm_type", "rms"), ("activation_type", "silu"),
                           ("rope", True), ("alibi", False), ("attention_layer_norm", False),
                           ("block_group_size", 1), ("rope_full_precision", True)):
            value = getattr(c, name, want)
            if value != want:
                raise CheckpointError(f"config.json: this LLaDA checkpoint sets {name}={value!r}; igkernels' native "
                                      f"LLaDA implements {name}={want!r} only (load it with native=False)")

    def get_output_embeddings(self) -> nn.Module:
        t = self.model.transformer
        return TiedHead(t["wte"]) if self.tied else t["ff_out"]

    def attention_mask(self, attention_mask: torch.Tensor | None, T: int, device: torch.device
                       ) -> torch.Tensor | None:
        return key_padding_mask(attention_mask)

    def decode(self, input_ids: torch.Tensor, positions: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        t = self.model.transformer
        x = t["wte"](input_ids)
        if getattr(self.config, "input_emb_norm", False):
            x = x * self.config.d_model ** 0.5
        cos, sin = rotary(positions, self.head_dim, self.theta)
        for block in t["blocks"]:
            x = block(x, cos, sin, ctx)
        return t["ln_f"](x)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        out = super().forward(input_ids, attention_mask)
        if getattr(self.config, "scale_logits", False):
            out.logits = out.logits * (1 / math.sqrt(self.config.d_model))
        return out

