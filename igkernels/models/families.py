"""The model families: their adapters, and detection of the family from a config."""
from __future__ import annotations

from typing import Any

from .base import Adapter
from .dream import DreamAdapter, DreamModel
from .llada import LLaDAAdapter, LLaDAModel
from .masked_lm import BertMaskedLM, MaskedLMAdapter
from .native import NativeModel
from .sdar import SDARAdapter, SDARModel

ADAPTERS: dict[str, type[Adapter]] = {
    "masked_lm": MaskedLMAdapter, "llada": LLaDAAdapter, "dream": DreamAdapter, "sdar": SDARAdapter,
}

#: The native implementation of each family (MMaDA's text model and TraDo load as LLaDA and SDAR).
NATIVE_MODELS: dict[str, type[NativeModel]] = {"llada": LLaDAModel, "dream": DreamModel, "sdar": SDARModel}
#: Masked LMs implemented natively, by ``model_type`` (others load through transformers).
NATIVE_MASKED_LMS: dict[str, type[NativeModel]] = {"bert": BertMaskedLM}

#: Substrings of ``model_type`` / ``architectures`` naming a family that ships remote code.
REMOTE_FAMILIES: dict[str, str] = {
    "llada": "llada", "mmada": "llada", "dream": "dream", "sdar": "sdar", "trado": "sdar",
}


def family_of_config(config: Any) -> str | None:
    """Adapter name of a known remote-code family from a config (object or dict), else None."""
    get = config.get if isinstance(config, dict) else (lambda k, d=None: getattr(config, k, d))
    names = [str(get("model_type", "") or "")] + [str(a) for a in (get("architectures", None) or [])]
    names += [str(v) for v in (get("auto_map", None) or {}).values()]
    for name in names:
        low = name.lower()
        for key, family in REMOTE_FAMILIES.items():
            if key in low:
                return family
    return None


def detect(model: Any) -> type[Adapter]:
    """The adapter class for ``model``, from its config; the generic masked-LM adapter otherwise."""
    if isinstance(model, NativeModel):
        return ADAPTERS[model.family]
    config = getattr(model, "config", None)
    family = family_of_config(config) if config is not None else None
    return ADAPTERS[family or "masked_lm"]


def make_adapter(model: Any, tokenizer: Any = None, mask_id: int | None = None,
                 adapter: str | type[Adapter] | Adapter | None = None) -> Adapter:
    """Resolve ``adapter`` (None: detect; a name in ``ADAPTERS``; a class; an instance)."""
    if isinstance(adapter, Adapter):
        return adapter
    if adapter is None:
        cls = detect(model)
    elif isinstance(adapter, str):
        if adapter not in ADAPTERS:
            raise ValueError(f"adapter must be one of {sorted(ADAPTERS)}, an Adapter class or instance; "
                             f"got {adapter!r}")
        cls = ADAPTERS[adapter]
    elif isinstance(adapter, type) and issubclass(adapter, Adapter):
        cls = adapter
    else:
        raise TypeError(f"adapter must be a name, an Adapter class or instance, got {type(adapter).__name__}")
    return cls(model, tokenizer, mask_id)

