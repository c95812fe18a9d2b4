"""Dream: remote code, mask 151666, logits shifted right by one."""
from __future__ import annotations

import torch

from .base import Adapter


class DreamAdapter(Adapter):
    """Dream was initialised from an autoregressive LM and keeps its layout: the logits at
    row l-1 predict the token at position l (position 0 reads row 0, as Dream's own
    sampler does). ``shift = 1`` is the only place this is applied.

    Padding goes in as a 4-D boolean key mask [M, 1, T, T] (queries may see every real
    key), which Dream's SDPA attention accepts; a fully masked query row would give NaN.
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
