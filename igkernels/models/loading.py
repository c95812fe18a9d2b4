"""``igk.load``: a masked diffusion LM and its tokenizer, ready for the sampler.

LLaDA, MMaDA (its text model), Dream, SDAR and TraDo load natively (``native.py``): the
weights are read from the checkpoint's safetensors into igkernels' own implementation, no
remote code runs, and transformers provides only the tokenizer. ``native=False`` keeps the
remote-code route through the authors' own modelling files (transformers 4.4x or 5.x). BERT
masked LMs load natively too (the KV cache needs a native model); any other checkpoint loads
as an ``AutoModelForMaskedLM``.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from .checkpoint import Checkpoint, CheckpointError, as_dtype, read_json
from .families import NATIVE_MASKED_LMS, NATIVE_MODELS, family_of_config

# Which auto class holds the LM head, per family, in order of preference (first one the
# checkpoint's auto_map names wins).
_AUTO_CLASSES = {
    "llada": ("AutoModel", "AutoModelForCausalLM"),
    "dream": ("AutoModel", "AutoModelForCausalLM"),
    "sdar": ("AutoModelForCausalLM", "AutoModel"),
}
# What a checkpoint directory needs from a Hub repository.
_HUB_FILES = ["config.json", "generation_config.json", "*.safetensors", "model.safetensors.index.json",
              "tokenizer*", "special_tokens_map.json", "vocab*", "merges.txt", "*.jinja", "*.py"]


def load(path_or_id: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | str | None = None,
         native: bool = True) -> tuple[Any, Any]:
    """Load a masked diffusion LM and its tokenizer; returns ``(model, tokenizer)`` in eval mode.

    path_or_id: a local checkpoint directory or a Hub id (fetched with ``huggingface_hub``).
    device:     where the model goes ("cpu", "cuda", "cuda:1", ...).
    dtype:      torch dtype or name ("bf16", "float32", ...); None keeps the checkpoint's.
    native:     LLaDA / MMaDA / Dream / SDAR / TraDo with igkernels' own implementation (no remote
                code); False runs the checkpoint's own modelling code (``trust_remote_code``), with
                a warning. Other model types load as ``AutoModelForMaskedLM`` either way.
    Raises CheckpointError (a ValueError) naming the file or tensor that cannot be used.
    """
    dtype = as_dtype(dtype)
    if not isinstance(native, bool):
        raise TypeError(f"native must be a bool, got {native!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA device is visible to torch here")
    directory = _local_dir(path_or_id)
    config = read_json(Path(directory) / "config.json") if Path(directory, "config.json").is_file() else None
    if config is None:
        raise CheckpointError(f"{Path(directory) / 'config.json'}: no such file (a checkpoint directory holds "
                              "its config.json)")
    family = family_of_config(config)
    if family is not None and native:
        model = _native(directory, family, config, device, dtype)
        return model, _tokenizer(directory, trust=False)
    masked_lm = NATIVE_MASKED_LMS.get(str(config.get("model_type")))
    if masked_lm is not None and native and "ForMaskedLM" in "".join(config.get("architectures") or ["ForMaskedLM"]):
        return masked_lm.from_checkpoint(Checkpoint(directory), device=device, dtype=dtype), \
            _tokenizer(directory, trust=False)
    if family is not None:
        return _remote_code(directory, family, config, device, dtype), _tokenizer(directory, trust=True)
    return _masked_lm(directory, config, device, dtype), _tokenizer(directory, trust=False)


def _local_dir(path_or_id: str | os.PathLike) -> str:
    """The checkpoint directory: ``path_or_id`` itself, or a Hub snapshot of it."""
    if isinstance(path_or_id, os.PathLike):
        path_or_id = os.fspath(path_or_id)
    if not isinstance(path_or_id, str) or not path_or_id:
        raise TypeError(f"path_or_id must be a non-empty str or path, got {path_or_id!r}")
    if os.path.isdir(path_or_id):
        return path_or_id
    if os.path.exists(path_or_id) or path_or_id.startswith((".", "/", "~")) or path_or_id.count("/") != 1:
        raise CheckpointError(f"{path_or_id}: no such checkpoint directory (a Hub id has the form org/name)")
    from huggingface_hub import snapshot_download
    try:
        return snapshot_download(path_or_id, allow_patterns=_HUB_FILES)
    except Exception as exc:  # offline, unknown repository, gated: say which and why
        raise CheckpointError(f"{path_or_id}: not a local directory, and the Hub download failed: "
                              f"{type(exc).__name__}: {exc}") from None


def _native(directory: str, family: str, config: dict, device, dtype) -> torch.nn.Module:
    ckpt = Checkpoint(directory)
    try:
        return NATIVE_MODELS[family].from_checkpoint(ckpt, device=device, dtype=dtype)
    except CheckpointError as exc:
        if "mmada" in str(config.get("model_type", "")).lower():
            raise CheckpointError(f"{directory}: this MMaDA checkpoint is not a LLaDA under another name, which is "
                                  f"what igkernels decodes natively ({exc}); load it with native=False") from None
        raise


def _tokenizer(directory: str, trust: bool):
    """The checkpoint's tokenizer; its own code runs only if it names some (with a warning). A
    tokenizer config that names its class is read without the model config, whose ``auto_map``
    would otherwise make transformers ask about the model's remote code."""
    from transformers import AutoTokenizer, PretrainedConfig
    tok_config = Path(directory) / "tokenizer_config.json"
    settings = read_json(tok_config) if tok_config.is_file() else {}
    if not trust and settings.get("auto_map"):
        warnings.warn(f"igkernels.load: {directory}'s tokenizer ships its own code; loading it with "
                      "trust_remote_code=True", UserWarning, stacklevel=3)
        trust = True
    kwargs = {"config": PretrainedConfig()} if settings.get("tokenizer_class") else {}
    try:
        return AutoTokenizer.from_pretrained(directory, trust_remote_code=trust, **kwargs)
    except Exception as exc:  # missing or damaged tokenizer files, a missing converter package
        text = " ".join(line.strip() for line in str(exc).strip().splitlines())
        raise CheckpointError(f"{directory}: cannot load its tokenizer ({type(exc).__name__}: "
                              f"{text[:400] + ('...' if len(text) > 400 else '')})") from None


def _dtype_kwarg(dtype: torch.dtype | None) -> dict:
    """``dtype=`` for transformers >= 5, ``torch_dtype=`` before."""
    if dtype is None:
        return {}
    import transformers
    return {"dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype": dtype}


def _first_line(exc: BaseException) -> str:
    """An exception as one line: transformers appends lists of classes and advice."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def _masked_lm(directory: str, config: dict, device, dtype) -> torch.nn.Module:
    from transformers import AutoModelForMaskedLM
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(directory, output_loading_info=True, **_dtype_kwarg(dtype))
    except (ValueError, KeyError) as exc:
        known = ", ".join(sorted(NATIVE_MODELS))
        raise CheckpointError(f"{directory}/config.json: model_type {config.get('model_type')!r} is neither a family "
                              f"igkernels knows ({known}, MMaDA, TraDo) nor a masked LM transformers can load "
                              f"({_first_line(exc)})") from None
    except Exception as exc:  # a damaged weights file (SafetensorError, OSError...): say where
        raise CheckpointError(f"{directory}: transformers could not load it as a masked LM ({_first_line(exc)})") \
            from None
    # transformers fills weights the checkpoint lacks (a model saved without its LM head) with
    # random values and only logs it: such a model decodes noise.
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise CheckpointError(f"{directory}: the checkpoint lacks {len(missing)} weight(s) of a masked LM, e.g. "
                              f"{missing[:3]} (saved without its LM head?)")
    return model.to(device).eval()


def _remote_code(directory: str, family: str, config: dict, device, dtype) -> torch.nn.Module:
    """The checkpoint's own modelling code. It fails loudly (or, for RoPE, silently) under some
    transformers versions; every failure is turned into an error that says what to do."""
    import transformers
    from transformers import AutoModel, AutoModelForCausalLM

    warnings.warn(f"igkernels.load: {directory!r} is a {family} model; loading it with trust_remote_code=True "
                  "(its own modelling code will run)", UserWarning, stacklevel=3)
    auto_map = config.get("auto_map") or {}
    names = [n for n in _AUTO_CLASSES[family] if n in auto_map] or list(_AUTO_CLASSES[family][:1])
    auto = {"AutoModel": AutoModel, "AutoModelForCausalLM": AutoModelForCausalLM}[names[0]]
    try:
        model = auto.from_pretrained(directory, trust_remote_code=True, **_dtype_kwarg(dtype))
    except Exception as exc:
        raise RuntimeError(f"loading {directory} with its own {family} modelling code failed under transformers "
                           f"{transformers.__version__}: {type(exc).__name__}: {exc}. igk.load(..., native=True) "
                           "(the default) needs no remote code") from exc
    _check_rotary_buffers(model, directory)
    return model.to(device).eval()


def _check_rotary_buffers(model: torch.nn.Module, directory: str) -> None:
    """transformers 5 builds remote-code models on the meta device and refills the non-persistent
    ``inv_freq`` buffer with uninitialised memory, which Dream's and SDAR's files never recompute:
    their logits are then garbage, silently. Compare every such buffer with the default formula."""
    theta = getattr(model.config, "rope_theta", None)
    scaling = getattr(model.config, "rope_scaling", None) or {}
    if (scaling.get("rope_type") or scaling.get("type") or "default") != "default":
        return
    for name, buf in model.named_buffers():
        if not name.endswith("inv_freq") or theta is None or buf.dtype != torch.float32:
            continue
        dim = 2 * buf.numel()
        want = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64, device=buf.device).float() / dim))
        if not torch.allclose(buf, want, rtol=1e-5, atol=0):
            raise RuntimeError(f"{directory}: the checkpoint's own modelling code left the RoPE buffer {name} "
                               "uninitialised under this transformers version (its logits would be garbage); load "
                               "it with igk.load(..., native=True), the default")
