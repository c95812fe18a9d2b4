"""SDAR and TraDo: block diffusion on a Qwen3 backbone, mask 151669.

Attention is causal across blocks of ``block_size`` absolute positions and bidirectional
inside a block; the adapter builds that mask, so the model sees the same pattern it was
trained with, and asks the sampler to align its decoding blocks to absolute positions
(use a ``block_length`` that is a multiple of ``block_size``).
"""
from __future__ import annotations

from typing import Any

import torch

from .base import Adapter


class SDARAdapter(Adapter):
    """Block-causal masked diffusion LM; logits row t predicts token t.

    block_size: attention block length; default the config's ``block_size`` /
                ``block_length``, else 4 (SDAR's and TraDo's release setting).
    """

    name = "sdar"
    default_mask_id = 151669
    aligned_blocks = True

    def __init__(self, model: Any, tokenizer: Any = None, mask_id: int | None = None,
                 block_size: int | None = None):
        super().__init__(model, tokenizer, mask_id)
        self.block_size = block_size or self._config_int("block_size", "block_length") or 4

    def attention_mask(self, attention_mask: torch.Tensor | None, M: int, T: int,
                       device: torch.device) -> torch.Tensor:
        """[M, 1, T, T] bool: query q sees key k iff block(k) <= block(q) and k is not padding."""
        blk = torch.arange(T, device=device) // self.block_size
        mask = (blk[None, :] <= blk[:, None])[None, None].expand(M, 1, T, T)
        if attention_mask is not None:
            mask = mask & attention_mask[:, None, None, :]
        return mask

    def model_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> dict:
        M, T = input_ids.shape
        return {"input_ids": input_ids,
                "attention_mask": self.attention_mask(attention_mask, M, T, input_ids.device)}
