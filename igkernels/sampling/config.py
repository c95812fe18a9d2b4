"""``DecodeConfig``: every option of a decode, with its default, checked once.

The dataclass is the one place an option is written: ``InfoGainSampler.generate`` takes a
config and/or keyword overrides, the CLI builds its flags from the fields (``help`` and, where
the flag differs from the field name, ``flag``; ``cli_help`` where the flag's text differs; ``cli``
False for no flag, in each field's metadata), and the demo and the
JSON outputs record ``to_dict()``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ..ops import _checks
from .variants import VARIANTS

#: seed * 2**24 + position keys a token draw and must stay below 2**63.
MAX_SEED = 2 ** 39
SCHEDULES = ("even", "timesteps")
THRESHOLD_MODES = ("bypass", "parallel")
CACHES = ("none", "prefix", "dual")


def _opt(default, help: str, **meta):
    return field(default=default, metadata=dict(help=help, **meta))


@dataclass(frozen=True)
class DecodeConfig:
    """Options of one decode (``InfoGainSampler.generate``); validated on construction."""

    max_new_tokens: int = _opt(128, "masks appended to each prompt (0: decode only the prompt's own masks)")
    steps: int = _opt(128, "decoding steps per sequence, split evenly over its blocks")
    schedule: str = _opt("even", "positions per step inside a block: even (an even split, the remainder to the "
                                 "first steps) | timesteps (Dream's diffusion_generate: int(masks * (1 - s/t)) on "
                                 "linspace(1, eps, steps + 1))", choices=SCHEDULES)
    eps: float = _opt(1e-3, "the last timestep of schedule=timesteps")
    block_length: int | None = _opt(None, "length of the generation blocks, decoded left to right (at absolute "
                                          "multiples of it for block-diffusion models); a prompt's own masks form "
                                          "one extra block decoded first (default: 32, or a block-diffusion "
                                          "model's attention block size)")
    variant: str = _opt("info_gain", "decoding rule: " + " | ".join(VARIANTS), choices=tuple(VARIANTS))
    candidates: int = _opt(8, "1 <= N <= 1024 candidate actions per lookahead step")
    position_temperature: float = _opt(0.1, "temperature of the candidate position draws")
    threshold: float | None = _opt(None, "confidence threshold gamma in [0, 1] (default: off)")
    threshold_mode: str = _opt("bypass", "what the threshold does: bypass (commit up to k confident positions "
                                         "without lookahead) | parallel (commit every confident position of the "
                                         "block in one step, Fast-dLLM's parallel decoding)",
                               choices=THRESHOLD_MODES)
    temperature: float = _opt(0.0, "token temperature (0: argmax)")
    seed: int | tuple[int, ...] = _opt(0, "int (prompt i gets seed + i) or one int per prompt",
                                       cli_help="seed of the first prompt; prompt i gets seed + i")
    eos_penalty: float = _opt(0.0, "subtracted from the EOS logits before anything else")
    pad_penalty: float = _opt(0.0, "subtracted from the PAD logits before anything else")
    chat_template: bool = _opt(False, "wrap text prompts in the tokenizer's chat template")
    backend: str | None = _opt(None, "igkernels backend for the ops (reference, cpu, triton, cuda): a pure "
                                     "speed switch")
    max_forward_batch: int | None = _opt(None, "most canvases per model call (default: all in one call)")
    cache: str | None = _opt(None, "KV cache of a native model: none (every forward covers the whole canvas) | "
                                   "prefix (keys/values before the block, once per block) | dual (also those "
                                   "after it: a forward covers the block). Default: exact for block-causal "
                                   "models (SDAR, TraDo), none otherwise", choices=CACHES)
    fuse_lm_head: bool = _opt(False, "apply the LM head only to masked rows, fused with the statistics "
                                     "(linear_softmax_entropy): the [M, T, V] logits never exist. Assumes the "
                                     "model returns its head's output unchanged (no logit scaling)")
    return_history: bool = _opt(False, "record every step (GenerationOutput.history)", flag="--history")
    progress: bool = _opt(False, "progress bar over steps", cli=False)

    def __post_init__(self) -> None:
        for name, allowed in (("variant", tuple(VARIANTS)), ("schedule", SCHEDULES),
                              ("threshold_mode", THRESHOLD_MODES)):
            if not isinstance(getattr(self, name), str) or getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        if self.cache is not None and (not isinstance(self.cache, str) or self.cache not in CACHES):
            raise ValueError(f"cache must be one of {list(CACHES)} or None, got {self.cache!r}")
        _checks.check_int("max_new_tokens", self.max_new_tokens, 0)
        _checks.check_int("steps", self.steps, 1)
        if self.block_length is not None:
            _checks.check_int("block_length", self.block_length, 1)
        _checks.check_int("candidates", self.candidates, 1, _checks.MAX_CANDIDATES + 1)
        if not 0 < _checks.check_nonneg("eps", self.eps) < 1:
            raise ValueError(f"eps must be in (0, 1), got {self.eps}")
        for name in ("eos_penalty", "pad_penalty", "eps"):
            self._set(name, _checks.check_nonneg(name, getattr(self, name)))
        for name in ("position_temperature", "temperature"):
            self._set(name, _checks.check_temperature(name, getattr(self, name)))
        if self.threshold is not None:
            self._set("threshold", _checks.check_nonneg("threshold", self.threshold))
            if self.threshold > 1:   # compared with a probability: it would never be reached
                raise ValueError(f"threshold must be in [0, 1] (a probability), got {self.threshold}")
        elif self.threshold_mode != "bypass":
            raise ValueError(f"threshold_mode {self.threshold_mode!r} needs a threshold (it commits the positions "
                             "whose confidence reaches it)")
        if self.max_forward_batch is not None:
            _checks.check_int("max_forward_batch", self.max_forward_batch, 1)
        if self.backend is not None and not isinstance(self.backend, str):
            raise TypeError(f"backend must be a str or None, got {type(self.backend).__name__}")
        for name in ("chat_template", "fuse_lm_head", "return_history", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {type(getattr(self, name)).__name__}")
        self._set("seed", _check_seed(self.seed))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def replace(self, **overrides) -> DecodeConfig:
        """A copy with some options changed (unknown names raise TypeError naming them)."""
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"unknown decode option(s) {unknown}; DecodeConfig has "
                            f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **overrides)

    def seeds(self, num_prompts: int) -> list[int]:
        """One seed per prompt: ``seed + i``, or the listed seeds."""
        if isinstance(self.seed, int):
            if self.seed + num_prompts > MAX_SEED:
                raise ValueError(f"seed: prompt i gets seed + i, and seed {self.seed} + {num_prompts - 1} for "
                                 f"prompts[{num_prompts - 1}] leaves [0, {MAX_SEED - 1}]")
            return [self.seed + i for i in range(num_prompts)]
        if len(self.seed) != num_prompts:
            raise ValueError(f"seed: got {len(self.seed)} seeds for {num_prompts} prompts")
        return list(self.seed)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if isinstance(self.seed, tuple):
            d["seed"] = list(self.seed)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DecodeConfig:
        if not isinstance(d, dict):
            raise TypeError(f"a DecodeConfig is read from a dict, got {type(d).__name__}")
        return cls().replace(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DecodeConfig:
        return cls.from_dict(json.loads(text))


def _check_seed(seed) -> int | tuple[int, ...]:
    if isinstance(seed, (list, tuple)):
        for s in seed:
            _checks.check_int("seed", s, 0, MAX_SEED)
        return tuple(seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or a list of ints, got {type(seed).__name__}")
    return _checks.check_int("seed", seed, 0, MAX_SEED)
