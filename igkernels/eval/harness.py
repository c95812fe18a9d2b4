"""The lm-evaluation-harness model ``igkernels``: ``generate_until`` by batched igkernels decoding.

    python -m igkernels.eval.harness run --model igkernels --batch_size 8 \
        --model_args pretrained=PATH,variant=info_gain,candidates=8,steps=256 --tasks gsm8k

The arguments after ``python -m igkernels.eval.harness`` are lm-eval's own (``lm_eval run ...``):
this entry registers the model and hands over to lm-eval's command line, because lm-eval finds
models only in its own registry (a plain ``lm_eval --model igkernels`` does not know it). In
Python, importing this module registers it for ``lm_eval.simple_evaluate(model="igkernels", ...)``.

model_args: ``pretrained`` (checkpoint directory or Hub id; default: the embedded model),
``dtype``, and any ``DecodeConfig`` field (``variant``, ``candidates``, ``steps``,
``block_length``, ``seed``...); lm-eval's own ``--batch_size`` (requests decoded together; "auto"
means 8) and ``--device`` apply.
A request's ``max_gen_toks`` sets ``max_new_tokens``; ``steps`` defaults to it and is capped by
it. Request ``i`` (in lm-eval's order) decodes with seed ``seed + i``. Stop sequences
(``until``) cut the completion at the first one; the decode options come from model_args, so a
task's other generation arguments (``temperature``, ``do_sample``...) are ignored, with a
warning naming them. Log-likelihood requests raise: a masked diffusion LM gives no
left-to-right token log-likelihoods. lm-eval's CLI passes ``--device cuda:0`` unless told
otherwise: without a visible GPU the model says so and runs on the CPU.
"""
from __future__ import annotations

import dataclasses
import sys
import warnings

import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from ..sampling.config import DecodeConfig
from .tasks.base import cut_at_stops

#: lm-eval's default generation length when a task gives no max_gen_toks.
DEFAULT_MAX_GEN_TOKS = 256
#: DecodeConfig fields lm-eval sets in its own way (per request, or by its own flags).
_SET_BY_LM_EVAL = {"max_new_tokens": "each request's max_gen_toks", "chat_template": "lm-eval's --apply_chat_template",
                   "progress": "lm-eval's progress bar", "return_history": "nothing (completions only)"}
_NO_LOGLIKELIHOOD = ("igkernels: {} requests need left-to-right token log-likelihoods, which a masked diffusion "
                     "LM does not give; igkernels implements generate_until tasks only")


@register_model("igkernels")
class IGKernelsLM(LM):
    def __init__(self, pretrained: str | None = None, device: str | None = None, dtype: str | None = None,
                 batch_size: int | str = 8, max_batch_size: int | None = None, **decode):
        super().__init__()
        from ..cli import check_device_and_backend
        from ..models import load
        from ..sampling import InfoGainSampler
        from ..demo.app import MODEL_DIR

        fields = {f.name for f in dataclasses.fields(DecodeConfig)}
        unknown = sorted(set(decode) - fields)
        if unknown:
            raise ValueError(f"model_args: unknown {', '.join(unknown)}; expected pretrained, dtype or "
                             "DecodeConfig fields")
        clash = sorted(set(decode) & set(_SET_BY_LM_EVAL))
        if clash:
            raise ValueError(f"model_args: {clash[0]} is set by {_SET_BY_LM_EVAL[clash[0]]}, not by model_args")
        self.steps = decode.pop("steps", None)
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int)
                                       or self.steps < 1):
            raise ValueError(f"model_args: steps must be an int >= 1, got {self.steps!r}")
        if pretrained is not None and not str(pretrained):
            raise ValueError("model_args: pretrained is empty (leave it out for the embedded model)")
        self.config = DecodeConfig(**decode)
        if not isinstance(self.config.seed, int):
            raise TypeError("model_args: seed must be one int (request i gets seed + i)")
        self.batch_size = 8 if str(batch_size).startswith("auto") else int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"model_args: batch_size must be >= 1, got {batch_size}")
        self.pretrained = str(MODEL_DIR if pretrained is None else pretrained)
        device = device or "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            warnings.warn(f"igkernels: device {device!r} (lm-eval's default), but no CUDA device is visible; "
                          "running on the CPU", UserWarning, stacklevel=2)
            device = "cpu"
        check_device_and_backend(device, self.config.backend)
        model, self.tokenizer = load(self.pretrained, device=device, dtype=dtype)
        self.sampler = InfoGainSampler(model, self.tokenizer)
        self._served = 0
        self._ignored: set[str] = set()

    # ---------------------------------------------------------------- requests
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Completions of ``requests`` (each ``args = (context, gen_kwargs)``), in their order;
        consecutive requests with the same generation settings are decoded as one batch."""
        from tqdm.auto import tqdm

        out: list[str] = []
        with tqdm(total=len(requests), desc="igkernels", disable=disable_tqdm, file=sys.stderr) as bar:
            settings = [self._settings(i, r.args[1]) for i, r in enumerate(requests)]
            start = 0
            while start < len(requests):
                key = settings[start]
                stop = start + 1
                while stop < len(requests) and stop - start < self.batch_size and settings[stop] == key:
                    stop += 1
                batch = requests[start:stop]
                try:
                    texts = self._decode([r.args[0] for r in batch], *key)
                except (ValueError, TypeError) as exc:   # its prompts[j] is request start + j
                    raise type(exc)(f"lm-eval requests {start}..{stop - 1} (prompts[j] is request {start} + j): "
                                    f"{exc}") from exc
                for r, text in zip(batch, texts):
                    self.cache_hook.add_partial("generate_until", r.args, text)
                out.extend(texts)
                bar.update(len(batch))
                start = stop
        return out

    def _settings(self, i: int, gen_kwargs) -> tuple[tuple[str, ...], int]:
        """(stop sequences, max new tokens) of request ``i``'s generation arguments."""
        if not isinstance(gen_kwargs, dict):
            raise TypeError(f"lm-eval request {i}: gen_kwargs must be a dict, got {type(gen_kwargs).__name__}")
        until = gen_kwargs.get("until") or ()
        until = (until,) if isinstance(until, str) else until
        if not isinstance(until, (list, tuple)) or not all(isinstance(u, str) for u in until):
            raise TypeError(f"lm-eval request {i}: until must be a str or a list of str, got {until!r}")
        max_new = gen_kwargs.get("max_gen_toks", DEFAULT_MAX_GEN_TOKS)
        if isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1:
            raise ValueError(f"lm-eval request {i}: max_gen_toks must be an int >= 1, got {max_new!r}")
        ignored = sorted(set(gen_kwargs) - {"until", "max_gen_toks"} - self._ignored)
        if ignored:
            self._ignored.update(ignored)
            warnings.warn(f"igkernels: the tasks' generation arguments {', '.join(ignored)} are ignored; the decode "
                          "options come from model_args (temperature=..., variant=...)", UserWarning, stacklevel=3)
        return tuple(until), max_new

    def _decode(self, contexts: list[str], until: tuple[str, ...], max_new: int) -> list[str]:
        steps = max_new if self.steps is None else min(int(self.steps), max_new)
        seeds = tuple(self.config.seed + self._served + i for i in range(len(contexts)))
        self._served += len(contexts)
        result = self.sampler.generate(contexts, self.config.replace(max_new_tokens=max_new, steps=steps, seed=seeds,
                                                                     chat_template=False, progress=False))
        return [cut_at_stops(t, until) for t in result.texts]

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(_NO_LOGLIKELIHOOD.format("loglikelihood"))

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(_NO_LOGLIKELIHOOD.format("loglikelihood_rolling"))

    # ---------------------------------------------------------------- chat templates (--apply_chat_template)
    @property
    def tokenizer_name(self) -> str:
        return self.pretrained.replace("/", "__")

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return getattr(self.tokenizer, "chat_template", None) or ""

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"--apply_chat_template: {self.pretrained}'s tokenizer has no chat template")
        return self.tokenizer.apply_chat_template(chat_history, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)


if __name__ == "__main__":
    from lm_eval.__main__ import cli_evaluate
    cli_evaluate()
