"""``igk.load``: a Hugging Face masked diffusion LM and its tokenizer, ready for the sampler."""
from __future__ import annotations

import os
import warnings
from typing import Any

import torch

from .families import family_of_config

# Which auto class holds the LM head, per family, in order of preference (first one the
# checkpoint's auto_map names wins).
_AUTO_CLASSES = {
    "llada": ("AutoModel", "AutoModelForCausalLM"),
    "dream": ("AutoModel", "AutoModelForCausalLM"),
    "sdar": ("AutoModelForCausalLM", "AutoModel"),
}

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
           "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def _dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"dtype must be a torch.dtype or one of {sorted(_DTYPES)}, got {dtype!r}")


def load(path_or_id: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | str | None = None
         ) -> tuple[Any, Any]:
    """Load a masked diffusion LM and its tokenizer; returns ``(model, tokenizer)``.

    path_or_id: a local checkpoint directory or a Hub id.
    device:     where the model goes ("cpu", "cuda", "cuda:1", ...).
    dtype:      torch dtype or name ("bf16", "float32", ...); None keeps the checkpoint's.

    The family is read from ``config.json`` without running any code. Only the known
    remote-code families (LLaDA, MMaDA, Dream, SDAR, TraDo) are loaded with
    ``trust_remote_code=True``, and a warning says so; anything else is loaded as an
    ``AutoModelForMaskedLM``. The model is put in eval mode.
    """
    from transformers import (AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer,
                              PretrainedConfig)

    if isinstance(path_or_id, os.PathLike):
        path_or_id = os.fspath(path_or_id)
    if not isinstance(path_or_id, str) or not path_or_id:
        raise TypeError(f"path_or_id must be a non-empty str or path, got {path_or_id!r}")
    torch_dtype = _dtype(dtype)
    config_dict, _ = PretrainedConfig.get_config_dict(path_or_id)
    family = family_of_config(config_dict)
    trust = family is not None
    kwargs: dict[str, Any] = {"trust_remote_code": trust}
    if torch_dtype is not None:
        kwargs["dtype"] = torch_dtype
    if trust:
        msg = (f"igkernels.load: {path_or_id!r} is a {family} model; loading it with "
               "trust_remote_code=True (its own modelling code will run)")
        warnings.warn(msg, UserWarning, stacklevel=2)
        auto_map = config_dict.get("auto_map") or {}
        names = [n for n in _AUTO_CLASSES[family] if n in auto_map] or list(_AUTO_CLASSES[family][:1])
        auto = {"AutoModel": AutoModel, "AutoModelForCausalLM": AutoModelForCausalLM}[names[0]]
    else:
        auto = AutoModelForMaskedLM
    model = auto.from_pretrained(path_or_id, **kwargs)
    model.to(device)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(path_or_id, trust_remote_code=trust)
    return model, tokenizer
