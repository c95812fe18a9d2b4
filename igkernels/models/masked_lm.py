"""Masked LMs: any ``AutoModelForMaskedLM`` with a mask token (BERT, RoBERTa, ModernBERT, ...)
through transformers, and BERT natively (the embedded demo model is one).

``BertMaskedLM`` is the native implementation of transformers' ``BertForMaskedLM`` with
absolute position embeddings: post-norm layers (``LayerNorm(x + attention)``,
``LayerNorm(h + GELU MLP)``), attention over every real token, and the MLM head (dense, GELU,
LayerNorm, then the decoder tied to the word embeddings plus ``cls.predictions.bias``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Adapter
from .checkpoint import CheckpointError
from .layers import AttentionContext, attention, key_padding_mask, merge_heads, split_heads
from .native import NativeModel


# Encoders whose position ids start after the padding id (RoBERTa's embeddings): they accept
# max_position_embeddings - pad_token_id - 1 tokens.
_POSITIONS_AFTER_PAD = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "roberta-prelayernorm",
                        "data2vec-text", "longformer", "mpnet", "xmod", "ibert"}


class MaskedLMAdapter(Adapter):
    """Bidirectional encoder with an MLM head: logits row t predicts token t; the mask id
    comes from the tokenizer's ``mask_token``."""

    name = "masked_lm"

    @property
    def max_length(self) -> int | None:
        n = super().max_length
        pad = self._config_int("pad_token_id")
        if n is not None and pad is not None and getattr(self.config, "model_type", None) in _POSITIONS_AFTER_PAD:
            return n - pad - 1
        return n


class _SelfAttention(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)


class _Output(nn.Module):
    def __init__(self, d_in: int, d: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(d_in, d)
        self.LayerNorm = nn.LayerNorm(d, eps=eps)


class _Layer(nn.Module):
    def __init__(self, layer: int, d: int, heads: int, hidden: int, eps: float):
        super().__init__()
        self.index, self.heads, self.head_dim = layer, heads, d // heads
        self.attention = nn.Module()
        self.attention.self = _SelfAttention(d)
        self.attention.output = _Output(d, d, eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(d, hidden)
        self.output = _Output(hidden, d, eps)

    def forward(self, x: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        s = self.attention.self
        q = split_heads(s.query(x), self.heads, self.head_dim)
        k, v = ctx.keys_values(self.index, split_heads(s.key(x), self.heads, self.head_dim),
                               split_heads(s.value(x), self.heads, self.head_dim))
        o = self.attention.output
        x = o.LayerNorm(x + o.dense(merge_heads(attention(q, k, v, ctx.mask))))
        return self.output.LayerNorm(x + self.output.dense(F.gelu(self.intermediate.dense(x))))


class BertMaskedLM(NativeModel):
    """Native ``BertForMaskedLM``: ``model(input_ids, attention_mask).logits`` as transformers'."""

    family = "masked_lm"

    def __init__(self, config: dict):
        super().__init__(config)
        for name, want in (("position_embedding_type", "absolute"), ("hidden_act", "gelu"),
                           ("tie_word_embeddings", True)):
            if getattr(self.config, name, want) != want:
                raise CheckpointError(f"config.json: this BERT checkpoint sets {name}={getattr(self.config, name)!r}; "
                                      f"igkernels' native BERT implements {name}={want!r} only (load it with "
                                      "native=False)")
        d, eps = self.setting("hidden_size"), self.setting("layer_norm_eps", 1e-12, float)
        V = self.setting("vocab_size")
        self.num_layers = self.setting("num_hidden_layers")
        self.bert = nn.Module()
        self.bert.embeddings = nn.Module()
        e = self.bert.embeddings
        e.word_embeddings = nn.Embedding(V, d)
        e.position_embeddings = nn.Embedding(self.setting("max_position_embeddings"), d)
        e.token_type_embeddings = nn.Embedding(self.setting("type_vocab_size", 2), d)
        e.LayerNorm = nn.LayerNorm(d, eps=eps)
        self.bert.encoder = nn.Module()
        self.bert.encoder.layer = nn.ModuleList(
            _Layer(i, d, self.setting("num_attention_heads"), self.setting("intermediate_size"), eps)
            for i in range(self.num_layers))
        self.cls = nn.Module()
        self.cls.predictions = nn.Module()
        p = self.cls.predictions
        p.transform = nn.Module()
        p.transform.dense = nn.Linear(d, d)
        p.transform.LayerNorm = nn.LayerNorm(d, eps=eps)
        p.bias = nn.Parameter(torch.zeros(V))

    def attention_mask(self, attention_mask: torch.Tensor | None, T: int, device: torch.device
                       ) -> torch.Tensor | None:
        return key_padding_mask(attention_mask)

    def decode(self, input_ids: torch.Tensor, positions: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        """The MLM head's transformed states (what its decoder multiplies) of ``input_ids``."""
        e = self.bert.embeddings
        x = e.word_embeddings(input_ids) + e.token_type_embeddings.weight[0] + e.position_embeddings(positions)
        x = e.LayerNorm(x)
        for layer in self.bert.encoder.layer:
            x = layer(x, ctx)
        t = self.cls.predictions.transform
        return t.LayerNorm(F.gelu(t.dense(x)))

    def get_output_embeddings(self) -> nn.Module:
        return _Decoder(self.bert.embeddings.word_embeddings, self.cls.predictions.bias)


class _Decoder(nn.Module):
    """The MLM decoder: the word embeddings, plus the prediction bias."""

    def __init__(self, embedding: nn.Embedding, bias: nn.Parameter):
        super().__init__()
        self.embedding, self.bias = embedding, bias

    @property
    def weight(self) -> torch.Tensor:
        return self.embedding.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.embedding.weight, self.bias)
