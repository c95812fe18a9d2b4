"""Any ``AutoModelForMaskedLM`` with a mask token (BERT, RoBERTa, ModernBERT, ...)."""
from __future__ import annotations

from .base import Adapter


class MaskedLMAdapter(Adapter):
    """Bidirectional encoder with an MLM head: logits row t predicts token t; the mask id
    comes from the tokenizer's ``mask_token``."""

    name = "masked_lm"
