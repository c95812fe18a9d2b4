"""``InfoGainSampler``: Info-Gain decoding (SPEC §1) and its baselines over masked diffusion LMs, batched.

``generate`` turns prompts into a ``Canvas`` and runs ``decode.decode`` (schedule, propose,
evaluate, transition; one host sync per step). The mask token's logit is set to -inf before
any statistic (a committed mask would never be decoded); EOS / PAD penalties are subtracted
next. Sequence ``i`` has the seed ``seed + i`` (int ``seed``) or ``seed[i]``, and no draw
depends on the batch layout, so ``generate([p_i], seed=seed + i)`` decodes ``p_i`` exactly as
it is decoded inside a batch (up to float rounding of the model's forward).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..models import Adapter, make_adapter
from .canvas import Canvas
from .config import DecodeConfig
from .decode import decode


@dataclass
class GenerationOutput:
    """Result of ``InfoGainSampler.generate``.

    sequences          [B, T] int64: prompt + decoded tokens, right padded with the pad id
    texts              list[str] of the decoded new tokens (the whole sequence when
                       ``max_new_tokens == 0``); None without a tokenizer
    cumulative_entropy [B] float32: sum over steps of C(a_t|x_t), in nats
    num_forward        model forward calls (chunks counted one by one)
    lookahead_steps    [B] int64: steps each sequence decided by lookahead
    bypass_steps       [B] int64: steps each sequence took by the high-confidence bypass
    history            when requested: one dict per step (``History.entries``), else None
    prompt_lengths     list[int], tokens of each prompt
    lengths            list[int], prompt + new tokens of each sequence (its unpadded length)
    config             the DecodeConfig used
    """
    sequences: torch.Tensor
    texts: list[str] | None
    cumulative_entropy: torch.Tensor
    num_forward: int
    lookahead_steps: torch.Tensor
    bypass_steps: torch.Tensor
    history: list[dict] | None
    prompt_lengths: list[int]
    lengths: list[int]
    config: DecodeConfig


class InfoGainSampler:
    """Info-Gain decoding (and its baselines) for a masked diffusion LM.

    model:     a Hugging Face MDM (or any callable returning logits, see ``models.base``)
    tokenizer: its tokenizer, needed for text prompts and ``texts``; may be None
    mask_id:   overrides the mask token id the adapter finds
    adapter:   None (detect from the config), a name ("masked_lm", "llada", "dream",
               "sdar"), an ``Adapter`` class, or an instance
    """

    def __init__(self, model: Any, tokenizer: Any = None, mask_id: int | None = None,
                 adapter: str | type[Adapter] | Adapter | None = None):
        if not callable(model):
            raise TypeError(f"model must be a callable torch module, got {type(model).__name__}")
        self.adapter = make_adapter(model, tokenizer, mask_id, adapter)
        self.model = model
        self.tokenizer = tokenizer
        self.mask_id = self.adapter.mask_id

    def generate(self, prompts, config: DecodeConfig | None = None, *, attention_mask: torch.Tensor | None = None,
                 **overrides) -> GenerationOutput:
        """Decode B prompts together.

        prompts:        list[str] | list[list[int]] | LongTensor [B, L] (with ``attention_mask``
                        [B, L], left or right padded)
        config:         a ``DecodeConfig`` (default: all defaults); ``overrides`` are its fields
                        by name (``generate(prompts, steps=64, variant="lookum")``)
        Returns a ``GenerationOutput``; every option is documented on ``DecodeConfig``.
        """
        if config is not None and not isinstance(config, DecodeConfig):
            raise TypeError(f"config must be a DecodeConfig, got {type(config).__name__}")
        config = (config or DecodeConfig()).replace(**overrides) if overrides else (config or DecodeConfig())
        ids = self._encode(prompts, attention_mask, config.chat_template)
        seeds = config.seeds(len(ids))
        self._check_lengths(ids, config.max_new_tokens)
        a = self.adapter
        canvas = Canvas.build(ids, seeds, config, a.mask_id, a.pad_id if a.pad_id is not None else 0,
                              a.aligned_blocks, a.device)
        with torch.inference_mode():
            x, totals, num_forward = decode(a, canvas, config)
        seqs = x.cpu()
        return GenerationOutput(
            sequences=seqs, texts=self._texts(seqs, canvas, config), cumulative_entropy=totals.cumulative_entropy.cpu(),
            num_forward=num_forward, lookahead_steps=totals.lookahead_steps.cpu(),
            bypass_steps=totals.bypass_steps.cpu(),
            history=totals.history.entries() if totals.history is not None else None,
            prompt_lengths=canvas.prompt_lengths, lengths=canvas.lengths, config=config)

    # ------------------------------------------------------------------ inputs and outputs
    def _check_lengths(self, ids: list[list[int]], G: int) -> None:
        ctx = self.adapter.max_length
        for i, p in enumerate(ids):
            if len(p) + G == 0:
                raise ValueError(f"prompts[{i}] is empty and max_new_tokens is 0: nothing to decode")
            if ctx is not None and len(p) + G > ctx:
                raise ValueError(f"prompts[{i}] has {len(p)} tokens; with max_new_tokens={G} the canvas of "
                                 f"{len(p) + G} positions exceeds the model's context of {ctx}")

    def _texts(self, seqs: torch.Tensor, canvas: Canvas, config: DecodeConfig) -> list[str] | None:
        if self.tokenizer is None:
            return None
        starts = canvas.prompt_lengths if config.max_new_tokens > 0 else [0] * len(canvas.lengths)
        return [self.tokenizer.decode(seqs[b, lo:canvas.lengths[b]].tolist(), skip_special_tokens=True)
                for b, lo in enumerate(starts)]

    def _encode(self, prompts, attention_mask, chat_template: bool) -> list[list[int]]:
        if isinstance(prompts, str):
            prompts = [prompts]
        if isinstance(prompts, torch.Tensor):
            return _tensor_prompts(prompts, attention_mask)
        if attention_mask is not None:
            raise ValueError("attention_mask is only for a prompts tensor [B, L]")
        if not isinstance(prompts, (list, tuple)):
            raise TypeError(f"prompts must be a list of str, a list of token-id lists or a LongTensor, "
                            f"got {type(prompts).__name__}")
        if len(prompts) == 0:
            raise ValueError("prompts: empty prompt list; pass at least one prompt")
        return [self._encode_one(i, p, chat_template) for i, p in enumerate(prompts)]

    def _encode_one(self, i: int, p, chat_template: bool) -> list[int]:
        if isinstance(p, str):
            if self.tokenizer is None:
                raise TypeError("prompts: text prompts need a tokenizer; pass token ids or a tokenizer")
            if chat_template:
                text = self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
                return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            return list(self.tokenizer(p)["input_ids"])
        if isinstance(p, torch.Tensor) and p.dim() == 1 and not p.is_floating_point():
            return p.tolist()
        if isinstance(p, (list, tuple)) and all(isinstance(t, int) and not isinstance(t, bool) for t in p):
            return list(p)
        raise TypeError(f"prompts[{i}] must be a str or a list of int token ids, got {type(p).__name__}")


def _tensor_prompts(prompts: torch.Tensor, attention_mask) -> list[list[int]]:
    if prompts.dtype not in (torch.int64, torch.int32) or prompts.dim() not in (1, 2):
        raise TypeError(f"prompts tensor must be an integer [B, L] tensor, got "
                        f"{prompts.dtype} of shape {tuple(prompts.shape)}")
    prompts = prompts.reshape(-1, prompts.shape[-1]).cpu()
    if attention_mask is None:
        return [row.tolist() for row in prompts]
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != prompts.shape:
        raise ValueError(f"attention_mask must be a tensor of the prompts' shape {tuple(prompts.shape)}")
    keep = attention_mask.reshape(prompts.shape).cpu().bool()
    return [row[m].tolist() for row, m in zip(prompts, keep)]
