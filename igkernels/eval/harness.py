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
(``until``) cut the completion at the first one. Log-likelihood requests raise: a masked
diffusion LM gives no left-to-right token log-likelihoods.
"""
from __future__ import annotations

import dataclasses
import sys

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from ..sampling.config import DecodeConfig
from .tasks.base import cut_at_stops

#: lm-eval's default generation length when a task gives no max_gen_toks.
DEFAULT_MAX_GEN_TOKS = 256
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
        self.steps = decode.pop("steps", None)
        self.config = DecodeConfig(**decode)
        if not isinstance(self.config.seed, int):
            raise TypeError("model_args: seed must be one int (request i gets seed + i)")
        self.batch_size = 8 if str(batch_size).startswith("auto") else int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"model_args: batch_size must be >= 1, got {batch_size}")
        self.pretrained = str(pretrained or MODEL_DIR)
        device = device or "cpu"
        check_device_and_backend(device, self.config.backend)
        model, self.tokenizer = load(self.pretrained, device=device, dtype=dtype)
        self.sampler = InfoGainSampler(model, self.tokenizer)
        self._served = 0

    # ---------------------------------------------------------------- requests
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Completions of ``requests`` (each ``args = (context, gen_kwargs)``), in their order;
        consecutive requests with the same generation settings are decoded as one batch."""
        from tqdm.auto import tqdm

        out: list[str] = []
        with tqdm(total=len(requests), desc="igkernels", disable=disable_tqdm, file=sys.stderr) as bar:
            start = 0
            while start < len(requests):
                key = self._settings(requests[start].args[1])
                stop = start + 1
                while stop < len(requests) and stop - start < self.batch_size and \
                        self._settings(requests[stop].args[1]) == key:
                    stop += 1
                batch = requests[start:stop]
                texts = self._decode([r.args[0] for r in batch], *key)
                for r, text in zip(batch, texts):
                    self.cache_hook.add_partial("generate_until", r.args, text)
                out.extend(texts)
                bar.update(len(batch))
                start = stop
        return out

    def _settings(self, gen_kwargs: dict) -> tuple[tuple[str, ...], int]:
        """(stop sequences, max new tokens) of one request's generation arguments."""
        until = gen_kwargs.get("until") or ()
        until = (until,) if isinstance(until, str) else tuple(until)
        return until, int(gen_kwargs.get("max_gen_toks", DEFAULT_MAX_GEN_TOKS))

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
        return self.tokenizer.apply_chat_template(chat_history, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)


if __name__ == "__main__":
    from lm_eval.__main__ import cli_evaluate
    cli_evaluate()
