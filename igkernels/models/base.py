"""The adapter contract: everything model-specific the sampler needs, and nothing else.

The sampler only ever asks an adapter to run the model on a batch of canvases and to say
which logits row predicts which position. Keeping "forward on canvases" here is what lets a
KV cache (prefix / dual) be added later inside the adapter without touching the loop. A
native model (``native.NativeModel``) takes a key-padding mask and builds its family's
attention itself; a Hugging Face model gets the inputs its family's remote code expects.
"""
from __future__ import annotations

import threading
from typing import Any

import torch

from .native import NativeModel

#: Decoding block length when neither the call nor the model says (SPEC §1's reference setting).
DEFAULT_BLOCK_LENGTH = 32
#: The checkpoints ``igk.load`` builds a native model for: the ones a KV cache works with.
NATIVE_FAMILIES = "LLaDA, MMaDA, Dream, SDAR, TraDo, BERT"


class Adapter:
    """Generic adapter for a masked diffusion LM whose logits row t predicts token t.

    Works for any ``AutoModelForMaskedLM`` and any callable ``model(input_ids=...,
    attention_mask=...)`` returning logits (an object with ``.logits``, a mapping with
    ``"logits"``, or a float tensor ``[M, T, V]``).
    """

    name = "masked_lm"
    #: logits row ``t - shift`` predicts the token at position ``t`` (clamped at row 0).
    shift = 0
    #: decode generation blocks at absolute multiples of block_length (block diffusion)
    #: instead of counting them from the end of the prompt.
    aligned_blocks = False
    #: mask id of the family when neither the config nor the tokenizer names one.
    default_mask_id: int | None = None

    def __init__(self, model: Any, tokenizer: Any = None, mask_id: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.config = getattr(model, "config", None)
        self.native = isinstance(model, NativeModel)
        self.mask_id = self._find_mask_id(mask_id)

    # ---- ids ---------------------------------------------------------------------------
    def _config_int(self, *names: str) -> int | None:
        for n in names:
            v = getattr(self.config, n, None)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
        return None

    @property
    def vocab_size(self) -> int | None:
        return self._config_int("vocab_size", "embedding_size")

    def _find_mask_id(self, mask_id: int | None) -> int:
        if mask_id is not None:
            if isinstance(mask_id, bool) or not isinstance(mask_id, int) or mask_id < 0:
                raise TypeError(f"mask_id must be a non-negative int, got {mask_id!r}")
            return mask_id
        found = self._config_int("mask_token_id")
        if found is None and self.tokenizer is not None:
            found = getattr(self.tokenizer, "mask_token_id", None)
        if found is None and self.default_mask_id is not None:
            vocab = self.vocab_size
            if vocab is None or self.default_mask_id < vocab:
                found = self.default_mask_id
        if found is None:
            raise ValueError(
                f"mask_id: no mask token id found for this {self.name} model (not in the model "
                "config's mask_token_id nor the tokenizer's mask_token); pass mask_id=<int> to "
                "InfoGainSampler (CLI: --mask-id)")
        return int(found)

    def _token_ids(self, attr: str, config_attr: str) -> list[int]:
        ids = []
        generation = getattr(self.model, "generation_config", None)
        for v in (getattr(self.tokenizer, attr, None), getattr(self.config, config_attr, None),
                  getattr(generation, config_attr, None)):
            for i in (v if isinstance(v, (list, tuple)) else [v]):
                if isinstance(i, int) and not isinstance(i, bool) and i not in ids and i != self.mask_id:
                    ids.append(i)
        return ids

    @property
    def eos_ids(self) -> list[int]:
        """Every end-of-sequence id the tokenizer, config or generation config knows (several for
        chat models: SDAR's ``<|im_end|>`` is only in its generation config)."""
        return self._token_ids("eos_token_id", "eos_token_id")

    @property
    def pad_id(self) -> int | None:
        ids = self._token_ids("pad_token_id", "pad_token_id")
        return ids[0] if ids else None

    @property
    def max_length(self) -> int | None:
        """Longest canvas the model accepts, if its config says."""
        return self._config_int("max_position_embeddings", "max_sequence_length", "n_positions")

    @property
    def default_block_length(self) -> int:
        """The decoding block length when the call does not set one."""
        return DEFAULT_BLOCK_LENGTH

    def check_block_length(self, block_length: int) -> None:
        """Raise ValueError if the model cannot be decoded in blocks of ``block_length``."""

    # ---- KV cache ----------------------------------------------------------------------
    @property
    def default_cache(self) -> str:
        """The KV cache mode when the call does not set one."""
        return "none"

    def check_cache(self, cache: str) -> None:
        """Raise ValueError if the model cannot decode with cache mode ``cache``."""
        if cache != "none" and not self.native:
            raise ValueError(f"cache={cache!r} needs a native model ({NATIVE_FAMILIES}, loaded by igk.load); this "
                             f"{type(self.model).__name__} runs through transformers: decode it with cache='none'")

    def cache_window(self, cache: str, block: tuple[int, int], length: int) -> tuple[int, int]:
        """Positions [lo, hi) a step recomputes while decoding the block of positions
        ``block`` = [start, end) of a canvas of ``length`` real positions; the keys and values
        of the others come from the cache. prefix: the block and all after it; dual: the block."""
        start, end = block
        return (start, length) if cache == "prefix" else (start, end)

    def sees_cached_suffix(self, cache: str) -> bool:
        """Whether a window attends to the cached positions after it (``dual``), besides those before."""
        return cache == "dual"

    def uncertainty_range(self, cache: str, block: tuple[int, int], length: int) -> tuple[int, int]:
        """Positions whose masks U(x') averages (SPEC §2, KV cache): all remaining masks, or under
        ``dual`` the current block's, the only ones its forward recomputes."""
        return block if cache == "dual" else (0, length)

    @property
    def device(self) -> torch.device:
        for p in self.model.parameters() if hasattr(self.model, "parameters") else ():
            return p.device
        return torch.device("cpu")

    # ---- forward -------------------------------------------------------------------------
    def model_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> dict:
        """Keyword arguments of the model call; ``attention_mask`` [M, T] bool or None (no padding)."""
        kw = {"input_ids": input_ids}
        if attention_mask is not None:
            kw["attention_mask"] = attention_mask.long()
        return kw

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Logits [M, T, V] of the canvases ``input_ids`` [M, T] (right padded; padding is
        False in ``attention_mask``, which is None when no canvas is padded)."""
        if self.native:
            return self.model(input_ids, attention_mask).logits
        return self._logits_of(self.model(**self.model_inputs(input_ids, attention_mask)), input_ids)

    def respects_padding(self, canvas: torch.Tensor, length: int) -> bool:
        """Whether the model gives ``canvas`` [T] right padded after ``length`` tokens the logits it
        gives the unpadded canvas, at the real positions. Native models do by construction; a
        model that ignores ``attention_mask`` (the pre-2025 LLaDA file) shifts them by up to ~20."""
        if self.native:
            return True
        T = canvas.shape[0]
        real = torch.arange(T, device=canvas.device) < length
        alone = self.forward(canvas[None, :length], None)[0]
        padded = self.forward(canvas[None], real[None])[0, :length]
        # Different shapes may change the float rounding of a forward, not more.
        rel = 1e-3 if alone.dtype == torch.float32 else 2e-2
        alone, padded = alone.float(), padded.float()
        return bool((alone - padded).abs().max() <= rel * max(1.0, float(alone.abs().max())))

    def _logits_of(self, out: Any, input_ids: torch.Tensor) -> torch.Tensor:
        logits = getattr(out, "logits", None)
        if logits is None and isinstance(out, dict):
            logits = out.get("logits")
        if logits is None and isinstance(out, torch.Tensor):
            logits = out
        if (not isinstance(logits, torch.Tensor) or logits.dim() != 3
                or tuple(logits.shape[:2]) != tuple(input_ids.shape) or not logits.is_floating_point()):
            raise TypeError(
                f"model: its forward must return logits [M, T, V] (an output with .logits), got "
                f"{type(out).__name__}" + (f" with logits of shape {tuple(logits.shape)}"
                                           if isinstance(logits, torch.Tensor) else ""))
        return logits

    # ---- fused LM head ---------------------------------------------------------------------
    def lm_head(self) -> torch.nn.Module:
        """The model's output projection (``get_output_embeddings()``), a Linear [V, D]."""
        if getattr(self.config, "scale_logits", False):
            raise TypeError(f"fuse_lm_head: this {self.name} model scales its logits after the LM head "
                            "(scale_logits); decode with fuse_lm_head=False")
        get = getattr(self.model, "get_output_embeddings", None)
        head = get() if callable(get) else None
        if not isinstance(getattr(head, "weight", None), torch.Tensor) or head.weight.dim() != 2:
            raise TypeError(f"fuse_lm_head: this {self.name} model exposes no output projection through "
                            "get_output_embeddings(); decode with fuse_lm_head=False")
        return head

    def forward_hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Final hidden states [M, T, D], without the [M, T, V] logits (the sampler applies the head
        to masked rows). A native model returns them; a Hugging Face model's forward is stopped at
        its LM head by a pre-hook that fires only for this call's thread, so the model is never
        modified and other threads using it meanwhile get their logits."""
        if self.native:
            return self.model.hidden_states(input_ids, attention_mask)
        owner = threading.get_ident()

        def stop(module, args):
            if threading.get_ident() == owner:
                raise _HiddenStates(args[0])

        handle = self.lm_head().register_forward_pre_hook(stop)
        try:
            self.model(**self.model_inputs(input_ids, attention_mask))
        except _HiddenStates as got:
            return got.hidden
        finally:
            handle.remove()
        raise TypeError(f"fuse_lm_head: this {self.name} model's forward never ran its output projection "
                        "(get_output_embeddings()); decode with fuse_lm_head=False")

    def check_lm_head(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> None:
        """Raise unless the model's logits of ``input_ids`` are its LM head's output: the fused
        head would otherwise decode other logits, silently, for a forward that scales or
        soft-caps them after the head. Native models are built so; a Hugging Face model runs
        one whole forward here."""
        if self.native:
            return
        owner, seen = threading.get_ident(), {}

        def keep(module, args, out):
            if threading.get_ident() == owner:
                seen["out"] = out

        handle = self.lm_head().register_forward_hook(keep)
        try:
            logits = self.forward(input_ids, attention_mask)
        finally:
            handle.remove()
        head = seen.get("out")
        if not isinstance(head, torch.Tensor) or head.shape != logits.shape \
                or not torch.equal(logits.to(head.dtype), head):
            raise TypeError(f"fuse_lm_head: this {self.name} model's logits are not its output projection's "
                            "output (its forward changes them after the LM head); decode with fuse_lm_head=False")

    def logit_rows(self, canvas: torch.Tensor, position: torch.Tensor, T: int) -> torch.Tensor:
        """Flat row index into logits [M, T, V] predicting ``position`` of canvas ``canvas``."""
        return canvas * T + (position - self.shift).clamp(min=0)


class _HiddenStates(Exception):
    """Carries the LM head's input out of a Hugging Face forward (``Adapter.forward_hidden``)."""

    def __init__(self, hidden: torch.Tensor):
        super().__init__("the LM head's input")
        self.hidden = hidden
