"""The native model contract, and building one from a checkpoint without remote code.

A native model is an ``nn.Module`` whose parameter names are the checkpoint's own, built on
the meta device and filled from the safetensors files tensor by tensor (``checkpoint.py``), so
loading holds one copy of the weights. It takes ``input_ids`` [M, T] and a key-padding
``attention_mask`` [M, T] (True on real tokens; None for no padding), builds the attention
pattern of its family itself, and returns ``.logits`` [M, T, V]; ``hidden_states`` gives the
final normalised hidden states for the fused LM head without touching any module, and with a
``KVCache`` stores every layer's keys and values; ``window_states`` runs only some positions
of some canvases against those cached keys (``layers.py`` explains the packing).
"""
from __future__ import annotations

import math
import re
import warnings
from types import SimpleNamespace
from typing import ClassVar

import torch
from torch import nn

from .checkpoint import Checkpoint, CheckpointError
from .layers import AttentionContext, KVCache


def _check_values(ckpt: Checkpoint, name: str, t: torch.Tensor) -> None:
    """A weight is floating point and finite: a NaN weight gives NaN or, through attention
    that drops it, plausible logits, silently. min and max find both (NaN propagates) in one
    read and no temporary: isfinite's mask took 1.4x the weights' memory at load."""
    if not t.is_floating_point():
        raise CheckpointError(f"{ckpt.dir}: tensor {name!r} is stored as {str(t.dtype).removeprefix('torch.')}; "
                              "a weight must be a floating-point tensor")
    if t.numel() and not all(math.isfinite(v) for v in torch.aminmax(t.reshape(-1))):
        raise CheckpointError(f"{ckpt.dir}: tensor {name!r} holds NaN or infinite values")


class ModelOutput(SimpleNamespace):
    """``logits`` [M, T, V]."""


class NativeModel(nn.Module):
    """Base of the native implementations (``llada.py``, ``dream.py``, ``sdar.py``)."""

    #: the family name, as ``families.ADAPTERS`` knows it
    family: ClassVar[str]

    def __init__(self, config: dict):
        super().__init__()
        self.config = SimpleNamespace(**config)
        self.generation_config = SimpleNamespace()

    def setting(self, name: str, default=None, kind: type = int):
        """A config field, checked: missing fields take ``default`` (None: required); ints are
        sizes (>= 1), floats scales (finite, > 0)."""
        value = getattr(self.config, name, default)
        if value is None:
            raise CheckpointError(f"config.json of this {self.family} checkpoint has no {name!r}")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise CheckpointError(f"config.json: {name!r} must be a {kind.__name__}, got {value!r}")
        # Every int setting is a size or a count, every float one a scale (eps, RoPE theta).
        if kind is int and value < 1 or kind is float and not 0 < value < float("inf"):
            raise CheckpointError(f"config.json: {name!r} must be {'>= 1' if kind is int else 'finite and > 0'}, "
                                  f"got {value!r}")
        return value

    # ---------------------------------------------------------------- the forward
    #: number of attention layers (the cache's depth)
    num_layers: int

    def attention_mask(self, attention_mask: torch.Tensor | None, T: int, device: torch.device
                       ) -> torch.Tensor | None:
        """The family's attention pattern, bool [M or 1, 1, T, T], from a key-padding mask [M, T]."""
        raise NotImplementedError

    def decode(self, input_ids: torch.Tensor, positions: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        """Final normalised hidden states [M, L, D] of tokens ``input_ids`` [M, L] at ``positions``
        ([L], or [M, L] for windows)."""
        raise NotImplementedError

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      cache: KVCache | None = None, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Final normalised hidden states [M, T, D] of whole canvases; with ``cache``, every layer's
        keys and values are stored in its rows ``rows`` [M]."""
        T = input_ids.shape[1]
        ctx = AttentionContext(self.attention_mask(attention_mask, T, input_ids.device), cache, rows,
                               store=cache is not None)
        return self.decode(input_ids, torch.arange(T, device=input_ids.device), ctx)

    def window_states(self, input_ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor, cache: KVCache,
                      rows: torch.Tensor) -> torch.Tensor:
        """Hidden states [G, L] of window tokens ``input_ids`` [G, L] at ``positions`` [G, L],
        attending to the cached keys of sequences ``rows`` [G] and to each other as ``mask``
        [G, 1, L, T + L] allows."""
        return self.decode(input_ids, positions, AttentionContext(mask, cache, rows))

    def get_output_embeddings(self) -> nn.Module:
        """The LM head: a module with ``weight`` [V, D] (and ``bias`` or None)."""
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> ModelOutput:
        return ModelOutput(logits=self.get_output_embeddings()(self.hidden_states(input_ids, attention_mask)))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint, device: torch.device | str = "cpu",
                        dtype: torch.dtype | None = None) -> NativeModel:
        """Build on the meta device, then fill every parameter from the checkpoint's files."""
        with torch.device("meta"):
            try:
                model = cls(ckpt.config)
            except CheckpointError as exc:    # setting()'s "config.json...": say which one
                raise CheckpointError(f"{ckpt.dir}/{exc}") from None
        model.generation_config = SimpleNamespace(**ckpt.generation_config)
        dtype = dtype or ckpt.dtype()
        expected = dict(model.named_parameters())
        for name, t in ckpt.read(list(expected)):
            want = expected[name]
            if tuple(t.shape) != tuple(want.shape):
                raise CheckpointError(f"{ckpt.dir}: tensor {name!r} has shape {list(t.shape)}; this "
                                      f"{cls.family} config needs {list(want.shape)}")
            _check_values(ckpt, name, t)
            module_name, _, leaf = name.rpartition(".")
            module = model.get_submodule(module_name)
            module._parameters[leaf] = nn.Parameter(t.to(device=device, dtype=dtype), requires_grad=False)
            del t
        extra = sorted(set(ckpt.index()) - set(expected))
        # More layers than the config builds (an index beyond its count): the config does not
        # describe these weights, and dropping layers would decode with another model.
        shapes = {re.sub(r"\.\d+\.", ".#.", n) for n in expected}
        beyond = [n for n in extra if re.sub(r"\.\d+\.", ".#.", n) in shapes]
        if beyond:
            raise CheckpointError(f"{ckpt.dir}: {len(beyond)} tensor(s) of layers this config.json does not build, "
                                  f"e.g. {beyond[:2]}: config.json and the weights disagree (its layer count?)")
        if extra:
            warnings.warn(f"igkernels: {ckpt.dir}: {len(extra)} tensor(s) this {cls.family} model does not use "
                          f"were not read, e.g. {extra[:3]}", UserWarning, stacklevel=3)
        return model.eval()
