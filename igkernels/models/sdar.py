"""SDAR and TraDo: block diffusion on a Qwen3 backbone, mask 151669.

Attention is causal across blocks of ``block_size`` absolute positions and bidirectional
inside a block. ``SDARModel`` is the native implementation of the authors'
``SDARForCausalLM`` (the Qwen decoder of ``qwen.py`` with RMSNorm on each head's q and k, norms
rounded as flash-attn's kernel rounds them); for the authors' own model the adapter builds the
block-causal mask. Either way the sampler aligns its decoding blocks to absolute positions,
and a block length must divide ``block_size``, so no token of a later attention block is
committed while an earlier one still has masks.
"""
from __future__ import annotations

from typing import Any

import torch

from .base import Adapter
from .qwen import QwenModel

#: SDAR's and TraDo's release setting, for a config that does not say.
DEFAULT_BLOCK_SIZE = 4


def block_causal_mask(T: int, block_size: int, attention_mask: torch.Tensor | None, device: torch.device
                      ) -> torch.Tensor:
    """[M or 1, 1, T, T] bool: query q sees key k iff block(k) <= block(q) and k is not padding
    (``attention_mask`` [M, T], True on real tokens, or None)."""
    blk = torch.arange(T, device=device) // block_size
    mask = (blk[None, :] <= blk[:, None])[None, None]
    if attention_mask is not None:
        mask = mask & attention_mask.bool()[:, None, None, :]
    return mask


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
        configured = self._config_int("block_size", "block_length")
        if configured is not None and configured < 1:
            raise ValueError(f"the model's config: block_size must be >= 1, got {configured}")
        self.block_size = block_size or configured or DEFAULT_BLOCK_SIZE

    @property
    def default_block_length(self) -> int:
        return self.block_size

    def check_block_length(self, block_length: int) -> None:
        if self.block_size % block_length:
            raise ValueError(f"block_length={block_length} does not divide this model's attention block size "
                             f"{self.block_size}: decoding would commit tokens of a later attention block while an "
                             f"earlier one still has masks; use a divisor of {self.block_size} (default: "
                             f"{self.block_size})")

    def model_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> dict:
        M, T = input_ids.shape
        mask = block_causal_mask(T, self.block_size, attention_mask, input_ids.device).expand(M, 1, T, T)
        return {"input_ids": input_ids, "attention_mask": mask}

    # Block-causal attention makes the cache exact: a position's keys and values depend only on
    # its own and earlier attention blocks, all final once decoding has moved past them.
    @property
    def default_cache(self) -> str:
        return "prefix" if self.native else "none"

    def _attention_block(self, block: tuple[int, int], length: int) -> tuple[int, int]:
        start, end = block
        bs = self.block_size
        return start // bs * bs, min(-(-end // bs) * bs, length)

    def cache_window(self, cache: str, block: tuple[int, int], length: int) -> tuple[int, int]:
        """The attention block holding the decoding block: nothing later is attended to."""
        return self._attention_block(block, length)

    def sees_cached_suffix(self, cache: str) -> bool:
        return False

    def uncertainty_range(self, cache: str, block: tuple[int, int], length: int) -> tuple[int, int]:
        """The attention block's masks, whatever the cache (SPEC §2)."""
        return self._attention_block(block, length)


class SDARModel(QwenModel):
    """Native SDAR / TraDo: ``model(input_ids, attention_mask).logits`` as the authors' with the
    block-causal mask of ``config.block_size``."""

    family = "sdar"
    qk_norm = True
    norm_in_fp32 = True

    def __init__(self, config: dict):
        super().__init__(config)
        self.block_size = self.setting("block_size", DEFAULT_BLOCK_SIZE)

    def attention_mask(self, attention_mask: torch.Tensor | None, T: int, device: torch.device) -> torch.Tensor:
        return block_causal_mask(T, self.block_size, attention_mask, device)
