"""LLaDA (and MMaDA, which shares its backbone): remote code, logits unshifted, mask 126336."""
from __future__ import annotations

from .base import Adapter


class LLaDAAdapter(Adapter):
    """LLaDA's ``LLaDAModelLM`` takes a [M, T] key-padding ``attention_mask`` and attends
    bidirectionally; logits row t predicts token t."""

    name = "llada"
    default_mask_id = 126336
