"""Models: ``load`` (a checkpoint and its tokenizer) and the adapters that hold every model quirk
the sampler must know (logit shift, attention mask, block alignment, special ids).

One module per family (``llada``, ``dream``, ``sdar``, ``masked_lm``; ``base`` is the adapter
contract) holds its adapter and its native implementation (``native`` is that contract,
``layers`` and ``qwen`` what the implementations share); ``checkpoint`` reads a checkpoint
directory, ``families`` detects the family of a config, ``loading`` loads. ``docs/adding_a_model_family.md``
says how to add one.
"""
from .base import Adapter
from .checkpoint import CheckpointError
from .dream import DreamAdapter, DreamModel
from .families import ADAPTERS, NATIVE_MODELS, REMOTE_FAMILIES, detect, family_of_config, make_adapter
from .llada import LLaDAAdapter, LLaDAModel
from .loading import load
from .masked_lm import BertMaskedLM, MaskedLMAdapter
from .native import NativeModel
from .sdar import SDARAdapter, SDARModel

__all__ = ["Adapter", "MaskedLMAdapter", "LLaDAAdapter", "DreamAdapter", "SDARAdapter", "ADAPTERS",
           "REMOTE_FAMILIES", "NATIVE_MODELS", "NativeModel", "LLaDAModel", "DreamModel", "SDARModel", "BertMaskedLM",
           "CheckpointError", "family_of_config", "detect", "make_adapter", "load"]
