"""``igkernels`` command line: ``igkernels generate ...`` (and ``igkernels demo ...``, ``igkernels eval ...``).

``generate`` loads a model with ``igk.load`` and decodes the prompts with the
InfoGainSampler; its decode flags are built from the fields of ``DecodeConfig``, so every
option and default is written once. ``demo`` lives in ``igkernels/demo/`` (``add_arguments(parser)``,
``run(args) -> int``) and is imported only when asked for, so the rest of the CLI does not
depend on it; so is ``eval`` (``igkernels/eval/cli.py``).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import os
import sys
from typing import Any, Iterable, Sequence

from .models.checkpoint import as_dtype
from .models.families import ADAPTERS
from .sampling.config import DecodeConfig

_ARG_TYPES = {"int": int, "float": float, "str": str}


def add_decode_options(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """One flag per ``DecodeConfig`` field (all, or those in ``names``), with its default and help."""
    wanted = set(names) if names is not None else None
    for f in dataclasses.fields(DecodeConfig):
        meta = f.metadata
        if meta.get("cli", True) is False or (wanted is not None and f.name not in wanted):
            continue
        flag = meta.get("flag", "--" + f.name.replace("_", "-"))
        if f.type == "bool":
            parser.add_argument(flag, dest=f.name, action="store_true", help=meta["help"])
            continue
        kind = _ARG_TYPES[f.type.split("|")[0].strip()]
        text = meta.get("cli_help", meta["help"])
        parser.add_argument(flag, dest=f.name, type=kind, default=f.default, choices=meta.get("choices"),
                            help=text if "default" in text else f"{text} (default: {f.default})")


def decode_config(args: argparse.Namespace, **fixed) -> DecodeConfig:
    """The DecodeConfig of parsed ``add_decode_options`` flags (``fixed`` sets the rest); a bad
    value raises the option's error with the flag's name."""
    fields = {f.name: f for f in dataclasses.fields(DecodeConfig)}
    try:
        return DecodeConfig(**{**{k: v for k, v in vars(args).items() if k in fields}, **fixed})
    except (ValueError, TypeError) as exc:
        name = str(exc).split()[0]
        if name not in fields or name in fixed:
            raise
        flag = fields[name].metadata.get("flag", "--" + name.replace("_", "-"))
        raise type(exc)(flag + str(exc)[len(name):]) from None


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="decode prompts with the Info-Gain sampler",
                       description="Decode prompts with the Info-Gain sampler (or a baseline).")
    p.add_argument("--model", required=True, help="local checkpoint directory or Hub id")
    p.add_argument("--prompt", action="append", required=True,
                   help="prompt text; repeat the flag to decode several prompts as one batch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default=None, help="bf16 | fp16 | fp32 (default: the checkpoint's)")
    p.add_argument("--remote-code", action="store_true",
                   help="run a diffusion checkpoint's own modelling code instead of igkernels' native implementation")
    p.add_argument("--mask-id", type=int, default=None, help="mask token id, if the model does not name one")
    p.add_argument("--adapter", default=None, choices=sorted(ADAPTERS), help="model family (default: detect)")
    add_decode_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="igkernels", description="Info-Gain decoding of masked diffusion LMs")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_generate(sub)
    sub.add_parser("demo", add_help=False,
                   help="decode held-out puzzles with the embedded model under every variant and compare them")
    sub.add_parser("eval", add_help=False,
                   help="benchmark accuracy per decoding variant (resumable; data parallel under torchrun)")
    return parser


def strict_json(obj: Any, **kw) -> str:
    """JSON every parser accepts: non-finite floats (a duplicate candidate's J = -inf) become null."""
    def finite(x):
        if isinstance(x, float):
            return x if math.isfinite(x) else None
        if isinstance(x, dict):
            return {k: finite(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [finite(v) for v in x]
        return x
    return json.dumps(finite(obj), allow_nan=False, **kw)


def check_device_and_backend(device: str, backend: str | None) -> None:
    """Fail before any work, naming the flag, when --device or --backend cannot run here."""
    import torch

    from .backends import registry
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"--device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device!r}: no CUDA device is visible to torch here")
    if backend is not None:
        try:
            registry.resolve("softmax_entropy", backend, dev.type)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"--backend {backend!r}: {exc}") from None


def check_dtype(dtype: str | None) -> None:
    """Fail before any work, naming the flag, when --dtype is not a dtype igk.load takes."""
    try:
        as_dtype(dtype)
    except ValueError as exc:
        raise ValueError(f"--{exc}") from None


def _generate(args: argparse.Namespace) -> int:
    from .models import load
    from .sampling import InfoGainSampler

    config = decode_config(args, progress=not args.no_progress and not args.json)
    check_device_and_backend(args.device, config.backend)
    if args.mask_id is not None and args.mask_id < 0:
        raise ValueError(f"--mask-id must be >= 0, got {args.mask_id}")
    check_dtype(args.dtype)
    model, tokenizer = load(args.model, device=args.device, dtype=args.dtype, native=not args.remote_code)
    sampler = InfoGainSampler(model, tokenizer, mask_id=args.mask_id, adapter=args.adapter)
    out = sampler.generate(args.prompt, config)
    starts = out.prompt_lengths if out.config.max_new_tokens > 0 else [0] * len(args.prompt)  # infilling: all
    results = [{"prompt": p, "text": out.texts[i] if out.texts is not None else None,
                "tokens": out.sequences[i, starts[i]:out.lengths[i]].tolist(),
                "cumulative_entropy": float(out.cumulative_entropy[i]),
                "lookahead_steps": int(out.lookahead_steps[i]), "bypass_steps": int(out.bypass_steps[i])}
               for i, p in enumerate(args.prompt)]
    if args.json:
        doc = {"model": args.model, "config": out.config.to_dict(), "num_forward": out.num_forward, "results": results}
        if config.return_history:
            doc["history"] = out.history
        print(strict_json(doc))
        return 0
    for i, r in enumerate(results):
        print(f"=== [{i}] {r['prompt']}")
        print(r["text"] if r["text"] is not None else r["tokens"])
        print(f"--- cumulative entropy {r['cumulative_entropy']:.4f} nats, lookahead steps "
              f"{r['lookahead_steps']}, bypass steps {r['bypass_steps']}")
    print(f"model forwards: {out.num_forward}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``igkernels`` console script; returns the exit status: 0, 2 for a user
    error (one line on stderr naming the flag or path; IGK_DEBUG=1 shows the traceback), 130 on
    Ctrl-C."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "igkernels"
    try:
        if argv[:1] == ["demo"]:
            demo = importlib.import_module("igkernels.demo")
            demo_parser = argparse.ArgumentParser(prog="igkernels demo")
            demo.add_arguments(demo_parser)
            return int(demo.run(demo_parser.parse_args(argv[1:])) or 0)
        if argv[:1] == ["eval"]:
            from .eval import cli as eval_cli
            return int(eval_cli.main(argv[1:]) or 0)
        return _generate(build_parser().parse_args(argv))
    except KeyboardInterrupt:
        resume = "; rerun the same command to resume (finished batches are kept)" if command == "eval" else ""
        print(f"igkernels {command}: interrupted{resume}", file=sys.stderr)
        return 130
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        if os.environ.get("IGK_DEBUG") == "1":
            raise
        print(f"igkernels {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
