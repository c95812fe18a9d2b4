"""Tiny random-weight look-alikes of the supported MDM families, built offline.

* ``make_bert``: a BERT masked LM from a ``transformers`` config, with a WordLevel tokenizer.
* ``make_remote``: LLaDA-, Dream- or SDAR-like models written as remote-code modules
  (``configuration_*.py`` + ``modeling_*.py`` and ``auto_map`` in ``config.json``) so that
  loading goes through ``trust_remote_code`` exactly as for the real checkpoints.
* ``DesignedMDM``: a fake model whose logits a test writes by hand.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

WORDS = ("the a cat dog sat on mat and ran to red blue big small one two three four five six seven "
         "eight nine ten is was it we you they see go up down left right yes no").split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<eos>"]
PAD, UNK, CLS, SEP, MASK, EOS = range(6)
VOCAB = SPECIALS + WORDS


def save_tokenizer(path: Path, eos: bool = True) -> None:
    """A WordLevel tokenizer over ``VOCAB`` (whitespace split) saved to ``path``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    extra = {"eos_token": "<eos>"} if eos else {}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   mask_token="[MASK]", cls_token="[CLS]", sep_token="[SEP]", **extra)
    fast.save_pretrained(str(path))


def make_bert(path: Path, seed: int = 0) -> Path:
    """Tiny BertForMaskedLM + tokenizer saved under ``path``."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, pad_token_id=PAD)
    model = BertForMaskedLM(cfg).eval()
    with torch.no_grad():  # sharper than the default init, so entropies differ between positions
        model.cls.predictions.decoder.weight.mul_(8.0)
    model.save_pretrained(str(path))
    save_tokenizer(path, eos=False)
    return path


_CONFIG_SRC = '''
from transformers import PretrainedConfig


class {cfg}(PretrainedConfig):
    model_type = "{model_type}"

    def __init__(self, vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 max_position_embeddings=128, mask_token_id=None, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.max_position_embeddings = max_position_embeddings
        self.mask_token_id = mask_token_id
        super().__init__(**kwargs)
'''

_MODEL_SRC = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput

from .{cfg_module} import {cfg}


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, h, mask):
        B, T, D = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        h = h + self.out(a.transpose(1, 2).reshape(B, T, D))
        return h + self.mlp(self.ln2(h))


class {model}(PreTrainedModel):
    config_class = {cfg}
    base_model_prefix = "model"

    def __init__(self, config):
        super().__init__(config)
        d = config.hidden_size
        self.embed = nn.Embedding(config.vocab_size, d)
        self.pos = nn.Embedding(config.max_position_embeddings, d)
        self.blocks = nn.ModuleList(Block(d, config.num_attention_heads) for _ in range(config.num_hidden_layers))
        self.norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, config.vocab_size, bias=False)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.3)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, input_ids, attention_mask=None, **kwargs):
        T = input_ids.shape[1]
        h = self.embed(input_ids) + self.pos(torch.arange(T, device=input_ids.device))
        mask = None
        if isinstance(attention_mask, torch.Tensor):
            mask = attention_mask.bool()
            if mask.dim() == 2:
                mask = mask[:, None, None, :]
        for blk in self.blocks:
            h = blk(h, mask)
        return MaskedLMOutput(logits=self.lm_head(self.norm(h)) * 4.0)
'''

FAMILIES = {
    # family: (model_type, class prefix, auto class of the LM). The model types name the family
    # (that is what igk.load detects) but differ from the real ones: transformers registers a
    # remote config class per model type, process-wide, and the authors' own (tests/oracle.py)
    # load in the same test session.
    "llada": ("llada_lookalike", "LLaDA", "AutoModel"),
    "dream": ("Dream_lookalike", "Dream", "AutoModel"),
    "sdar": ("sdar_lookalike", "SDAR", "AutoModelForCausalLM"),
}


def make_remote(path: Path, family: str, seed: int = 0, max_positions: int = 128) -> Path:
    """A remote-code look-alike of ``family`` ("llada", "dream", "sdar") saved under ``path``."""
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    model_type, prefix, auto = FAMILIES[family]
    path.mkdir(parents=True, exist_ok=True)
    low = prefix.lower()
    cfg_cls, model_cls = f"{prefix}Config", f"{prefix}ModelLM"
    (path / f"configuration_{low}.py").write_text(_CONFIG_SRC.format(cfg=cfg_cls, model_type=model_type))
    (path / f"modeling_{low}.py").write_text(
        _MODEL_SRC.format(cfg=cfg_cls, cfg_module=f"configuration_{low}", model=model_cls))
    config = {
        "model_type": model_type, "architectures": [model_cls],
        "auto_map": {"AutoConfig": f"configuration_{low}.{cfg_cls}", auto: f"modeling_{low}.{model_cls}"},
        "vocab_size": len(VOCAB), "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "max_position_embeddings": max_positions, "mask_token_id": MASK, "eos_token_id": EOS,
        "pad_token_id": PAD,
    }
    (path / "config.json").write_text(json.dumps(config, indent=1))
    cfg = AutoConfig.from_pretrained(str(path), trust_remote_code=True)
    torch.manual_seed(seed)
    auto_cls = AutoModel if auto == "AutoModel" else AutoModelForCausalLM
    model = auto_cls.from_config(cfg, trust_remote_code=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path / "model.safetensors"),
              metadata={"format": "pt"})
    save_tokenizer(path)
    return path


class DesignedMDM(torch.nn.Module):
    """A fake MDM whose logits are a function the test writes.

    ``fn(input_ids [M, T], attention_mask [M, T] | None) -> logits [M, T, V]``; calls are counted in ``calls`` and the
    number of canvases of each call in ``batch_sizes``.
    """

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.calls = 0
        self.batch_sizes: list[int] = []

    def forward(self, input_ids, attention_mask=None):
        self.calls += 1
        self.batch_sizes.append(input_ids.shape[0])
        return type("Out", (), {"logits": self.fn(input_ids, attention_mask)})()


_CACHE: dict[str, Path] = {}


def cached_remote(tmp_path_factory, family: str) -> Path:
    """``make_remote`` (or ``make_bert`` for "bert") once per test session."""
    if family not in _CACHE:
        path = tmp_path_factory.mktemp(family)
        _CACHE[family] = make_bert(path) if family == "bert" else make_remote(path, family)
    return _CACHE[family]


def make_tokens(text: str) -> list[int]:
    """Token ids of a whitespace-separated string over ``VOCAB``."""
    return [VOCAB.index(w) for w in text.split()]


__all__ = ["VOCAB", "PAD", "UNK", "CLS", "SEP", "MASK", "EOS", "make_bert", "make_remote", "DesignedMDM",
           "cached_remote", "make_tokens", "save_tokenizer", "FAMILIES"]
