"""``InfoGainSampler``: Info-Gain decoding (SPEC §1) and its baselines over masked diffusion LMs, batched.

``generate`` turns prompts into a ``Canvas`` and runs ``decode.decode`` (schedule, propose,
evaluate, transition; one host sync per step). The mask token's logit is set to -inf before
any statistic (a committed mask would never be decoded); EOS / PAD penalties are subtracted
next. Sequence ``i`` has the seed ``seed + i`` (int ``seed``) or ``seed[i]``, and no draw
depends on the batch layout, so ``generate([p_i], seed=seed + i)`` decodes ``p_i`` exactly as
it is decoded inside a batch (up to float rounding of the model's forward).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
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
        if tokenizer is not None and not (callable(tokenizer) and callable(getattr(tokenizer, "decode", None))):
            raise TypeError(f"tokenizer must be a Hugging Face tokenizer (callable, with decode) or None, "
                            f"got {type(tokenizer).__name__}")
        self.adapter = make_adapter(model, tokenizer, mask_id, adapter)
        self.model = model
        self.tokenizer = tokenizer
        self.mask_id = self.adapter.mask_id
        self._padding_ok: bool | None = None   # checked once, on the first padded batch
        self._head_ok = False                  # the fused LM head checked once, on the first fused decode

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
        a = self.adapter
        if config.block_length is None:
            config = config.replace(block_length=a.default_block_length)
        if config.cache is None:
            config = config.replace(cache=a.default_cache)
        a.check_block_length(config.block_length)
        a.check_cache(config.cache)
        ids = self._encode(prompts, attention_mask, config.chat_template)
        seeds = config.seeds(len(ids))
        self._check_lengths(ids, config.max_new_tokens)
        canvas = Canvas.build(ids, seeds, config, a.mask_id, a.pad_id if a.pad_id is not None else 0,
                              a.aligned_blocks, a.device)
        if canvas.padded and not self._respects_padding(canvas):
            return self._by_length(ids, seeds, config)
        if config.fuse_lm_head and not self._head_ok:
            with torch.inference_mode():
                a.check_lm_head(canvas.x[:1, :canvas.lengths[0]], None)
            self._head_ok = True
        with torch.inference_mode():
            x, totals, num_forward = decode(a, canvas, config)
        seqs = x.cpu()
        return GenerationOutput(
            sequences=seqs, texts=self._texts(seqs, canvas, config), cumulative_entropy=totals.cumulative_entropy.cpu(),
            num_forward=num_forward, lookahead_steps=totals.lookahead_steps.cpu(),
            bypass_steps=totals.bypass_steps.cpu(),
            history=totals.history.entries() if totals.history is not None else None,
            prompt_lengths=canvas.prompt_lengths, lengths=canvas.lengths, config=config)

    # ------------------------------------------------------------------ padding
    def _respects_padding(self, canvas: Canvas) -> bool:
        """Whether the model handles padding (checked on the first padded batch, then remembered)."""
        if self._padding_ok is None:
            b = min(range(len(canvas.lengths)), key=canvas.lengths.__getitem__)
            with torch.inference_mode():
                self._padding_ok = self.adapter.respects_padding(canvas.x[b], canvas.lengths[b])
            if not self._padding_ok:
                warnings.warn("igkernels: this model ignores attention_mask (padded positions change the logits of "
                              "real ones); batches are decoded in groups of equal canvas length", UserWarning,
                              stacklevel=3)
        return self._padding_ok

    def _by_length(self, ids: list[list[int]], seeds: list[int], config: DecodeConfig) -> GenerationOutput:
        """Decode the prompts in groups of equal canvas length (no padding), merged in order."""
        groups: dict[int, list[int]] = {}
        for i, p in enumerate(ids):
            groups.setdefault(len(p), []).append(i)
        parts = [(rows, self.generate([ids[i] for i in rows], config.replace(seed=tuple(seeds[i] for i in rows))))
                 for rows in groups.values()]
        pad = self.adapter.pad_id if self.adapter.pad_id is not None else 0
        return merge_outputs(parts, len(ids), pad, config)

    # ------------------------------------------------------------------ inputs and outputs
    def _check_lengths(self, ids: list[list[int]], G: int) -> None:
        """Every canvas fits the model's context, holds a mask to decode, and only ids of its
        vocabulary (an id outside it would fail deep inside the model's embedding)."""
        a = self.adapter
        ctx, V = a.max_length, a.vocab_size
        if V is not None:
            for name, ids_ in (("mask_id", [a.mask_id]), ("eos id", a.eos_ids),
                               ("pad id", [a.pad_id] if a.pad_id is not None else [])):
                for t in ids_:
                    if not 0 <= t < V:
                        raise ValueError(f"{name} {t} is outside the model's vocabulary of {V} tokens")
        for i, p in enumerate(ids):
            if len(p) + G == 0:
                raise ValueError(f"prompts[{i}] is empty and max_new_tokens is 0: nothing to decode")
            if G == 0 and a.mask_id not in p:
                raise ValueError(f"prompts[{i}] holds no mask token (id {a.mask_id}) and max_new_tokens is 0: "
                                 "nothing to decode")
            if ctx is not None and len(p) + G > ctx:
                raise ValueError(f"prompts[{i}] has {len(p)} tokens; with max_new_tokens={G} the canvas of "
                                 f"{len(p) + G} positions exceeds the model's context of {ctx}")
            bad = [t for t in p if not 0 <= t < V] if V is not None else []
            if bad:
                raise ValueError(f"prompts[{i}] holds token id {bad[0]}, outside the model's vocabulary of {V} tokens")

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
        if isinstance(p, (list, tuple)):
            for j, t in enumerate(p):
                if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)):
                    raise TypeError(f"prompts[{i}][{j}] must be an int token id, got {t!r} ({type(t).__name__})")
            return [int(t) for t in p]
        raise TypeError(f"prompts[{i}] must be a str or a list of int token ids, got {type(p).__name__}")


def merge_outputs(parts: list[tuple[list[int], GenerationOutput]], B: int, pad: int, config: DecodeConfig
                  ) -> GenerationOutput:
    """One GenerationOutput of B sequences from outputs of groups of them (``rows`` in order)."""
    T = max(out.sequences.shape[1] for _, out in parts)
    seqs = torch.full((B, T), pad, dtype=torch.int64)
    per_row = {name: torch.zeros(B, dtype=getattr(parts[0][1], name).dtype)
               for name in ("cumulative_entropy", "lookahead_steps", "bypass_steps")}
    texts, prompt_lengths, lengths = [None] * B, [0] * B, [0] * B
    for rows, out in parts:
        seqs[rows, :out.sequences.shape[1]] = out.sequences
        for name, t in per_row.items():
            t[rows] = getattr(out, name)
        for j, i in enumerate(rows):
            texts[i] = out.texts[j] if out.texts is not None else None
            prompt_lengths[i], lengths[i] = out.prompt_lengths[j], out.lengths[j]
    history = None
    if config.return_history:
        history = [_merged_step(step, parts, B) for step in range(max(len(out.history) for _, out in parts))]
    return GenerationOutput(sequences=seqs, texts=texts if parts[0][1].texts is not None else None,
                            num_forward=sum(out.num_forward for _, out in parts), history=history,
                            prompt_lengths=prompt_lengths, lengths=lengths, config=config, **per_row)


def _merged_step(step: int, parts: list[tuple[list[int], GenerationOutput]], B: int) -> dict:
    """History entry ``step`` of the whole batch: each group's own, "done" where it had finished."""
    entry = {"step": step, "kind": ["done"] * B, "positions": [[] for _ in range(B)],
             "tokens": [[] for _ in range(B)], "canvases": [0] * B, "candidates": [None] * B}
    for rows, out in parts:
        if step < len(out.history):
            for key in ("kind", "positions", "tokens", "canvases", "candidates"):
                for j, i in enumerate(rows):
                    entry[key][i] = out.history[step][key][j]
    return entry


def _tensor_prompts(prompts: torch.Tensor, attention_mask) -> list[list[int]]:
    if prompts.dtype not in (torch.int64, torch.int32) or prompts.dim() not in (1, 2):
        raise TypeError(f"prompts tensor must be an integer [B, L] tensor, got "
                        f"{prompts.dtype} of shape {tuple(prompts.shape)}")
    if prompts.is_meta:
        raise ValueError("prompts: a meta tensor holds no token ids")
    if prompts.numel() == 0:
        raise ValueError(f"prompts: an empty tensor of shape {tuple(prompts.shape)}; pass at least one prompt")
    prompts = prompts.reshape(-1, prompts.shape[-1]).cpu()
    if attention_mask is None:
        return [row.tolist() for row in prompts]
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != prompts.shape:
        raise ValueError(f"attention_mask must be a tensor of the prompts' shape {tuple(prompts.shape)}")
    keep = _padding_mask(attention_mask.reshape(prompts.shape).cpu())
    return [row[m].tolist() for row, m in zip(prompts, keep)]


def _padding_mask(mask: torch.Tensor) -> torch.Tensor:
    """A key-padding ``attention_mask`` as bool: 0/1 (or bool) values, each row's ones one run
    (left or right padding); anything else would drop tokens from inside a prompt."""
    if mask.dtype != torch.bool:
        if mask.is_floating_point() or mask.is_complex() or not ((mask == 0) | (mask == 1)).all():
            raise ValueError("attention_mask must hold 0/1 (or bool) values")
        mask = mask.bool()
    runs = (mask[:, 1:] & ~mask[:, :-1]).sum(1) + mask[:, 0]
    bad = (runs > 1).nonzero()
    if len(bad):
        raise ValueError(f"attention_mask row {int(bad[0, 0])} is not a padding mask (its ones must be one run, "
                         "padding on the left or the right)")
    return mask
