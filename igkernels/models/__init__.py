"""Models: ``load`` (a checkpoint and its tokenizer) and the adapters that hold every model quirk
the sampler must know (logit shift, attention mask, block alignment, special ids).

One module per family (``llada``, ``dream``, ``sdar``, ``masked_lm``; ``base`` is the contract),
``families`` detects the family of a config, ``loading`` loads. ``docs/adding_a_model_family.md``
says how to add one.
"""
from .base import Adapter
from .dream import DreamAdapter
from .families import ADAPTERS, REMOTE_FAMILIES, detect, family_of_config, make_adapter
from .llada import LLaDAAdapter
from .loading import load
from .masked_lm import MaskedLMAdapter
from .sdar import SDARAdapter

__all__ = ["Adapter", "MaskedLMAdapter", "LLaDAAdapter", "DreamAdapter", "SDARAdapter", "ADAPTERS",
           "REMOTE_FAMILIES", "family_of_config", "detect", "make_adapter", "load"]
