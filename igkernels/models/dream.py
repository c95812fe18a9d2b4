"""Dream: a Qwen2.5 decoder turned masked diffusion LM; bidirectional attention, logits shifted
right by one, mask 151666.

``DreamModel`` is the native implementation of the authors' ``DreamModel``: the Qwen decoder
(``qwen.py``) with biases on q/k/v and attention over every real token.
"""
from __future__ import annotations

import torch

from .base import Adapter
from .layers import key_padding_mask
from .qwen import QwenModel


class DreamAdapter(Adapter):
    """Dream was initialised from an autoregressive LM and keeps its layout: the logits at
    row l-1 predict the token at position l (position 0 reads row 0, as Dream's own
    sampler does). ``shift = 1`` is the only place this is applied.

    The authors' model takes padding as a 4-D boolean key mask [M, 1, T, T] (queries may see
    every real key), which its SDPA attention accepts; a fully masked query row would give NaN.
    """

    name = "dream"
    shift = 1
    default_mask_id = 151666

    def model_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> dict:
        if attention_mask is None:
            return {"input_ids": input_ids}
        M, T = input_ids.shape
        return {"input_ids": input_ids,
                "attention_mask": attention_mask[:, None, None, :].expand(M, 1, T, T)}


class DreamModel(QwenModel):
    """Native Dream: ``model(input_ids, attention_mask).logits``, unshifted, as the authors'."""

    family = "dream"
    qkv_bias = True

    def attention_mask(self, attention_mask: torch.Tensor | None, T: int, device: torch.device
                       ) -> torch.Tensor | None:
        return key_padding_mask(attention_mask)
