"""``igkernels`` command line: ``igkernels generate ...`` (and ``igkernels demo ...``).

``generate`` loads a model with ``igk.load`` and decodes the prompts with the
InfoGainSampler; every ``generate`` option is a flag. ``demo`` lives in
``igkernels/demo.py`` (``add_arguments(parser)``, ``run(args) -> int``) and is imported
only when asked for, so the rest of the CLI does not depend on it.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Sequence

from .sampler import VARIANTS


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="decode prompts with the Info-Gain sampler",
                       description="Decode prompts with the Info-Gain sampler (or a baseline).")
    p.add_argument("--model", required=True, help="local checkpoint directory or Hub id")
    p.add_argument("--prompt", action="append", required=True,
                   help="prompt text; repeat the flag to decode several prompts as one batch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default=None, help="bf16 | fp16 | fp32 (default: the checkpoint's)")
    p.add_argument("--mask-id", type=int, default=None, help="mask token id, if the model does not name one")
    p.add_argument("--adapter", default=None, help="masked_lm | llada | dream | sdar (default: detect)")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--steps", type=int, default=128)
    p.add_argument("--block-length", type=int, default=32)
    p.add_argument("--variant", default="info_gain", choices=VARIANTS)
    p.add_argument("--candidates", type=int, default=8)
    p.add_argument("--position-temperature", type=float, default=0.1)
    p.add_argument("--threshold", type=float, default=None, help="high-confidence bypass threshold")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eos-penalty", type=float, default=0.0)
    p.add_argument("--pad-penalty", type=float, default=0.0)
    p.add_argument("--chat-template", action="store_true", help="wrap prompts in the chat template")
    p.add_argument("--backend", default=None, help="igkernels backend (reference, cpu, triton, cuda)")
    p.add_argument("--max-forward-batch", type=int, default=None)
    p.add_argument("--fuse-lm-head", action="store_true",
                   help="apply the LM head only to masked rows, fused with the statistics")
    p.add_argument("--history", action="store_true", help="include the per-step history (with --json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="igkernels", description="Info-Gain decoding of masked diffusion LMs")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_generate(sub)
    sub.add_parser("demo", help="decode held-out puzzles with the embedded model under every variant and compare them", add_help=False)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from .models import load
    from .sampler import InfoGainSampler

    model, tokenizer = load(args.model, device=args.device, dtype=args.dtype)
    sampler = InfoGainSampler(model, tokenizer, mask_id=args.mask_id, adapter=args.adapter)
    out = sampler.generate(
        args.prompt, max_new_tokens=args.max_new_tokens, steps=args.steps, block_length=args.block_length,
        variant=args.variant, candidates=args.candidates, position_temperature=args.position_temperature,
        threshold=args.threshold, temperature=args.temperature, seed=args.seed, eos_penalty=args.eos_penalty,
        pad_penalty=args.pad_penalty, chat_template=args.chat_template, backend=args.backend,
        return_history=args.history, progress=not args.no_progress and not args.json,
        max_forward_batch=args.max_forward_batch, fuse_lm_head=args.fuse_lm_head)
    results = [{"prompt": p, "text": out.texts[i] if out.texts is not None else None,
                "tokens": out.sequences[i, out.prompt_lengths[i]:out.lengths[i]].tolist(),
                "cumulative_entropy": float(out.cumulative_entropy[i]),
                "lookahead_steps": int(out.lookahead_steps[i]), "bypass_steps": int(out.bypass_steps[i])}
               for i, p in enumerate(args.prompt)]
    if args.json:
        doc = {"model": args.model, "variant": args.variant, "num_forward": out.num_forward, "results": results}
        if args.history:
            doc["history"] = out.history
        print(json.dumps(doc))
        return 0
    for i, r in enumerate(results):
        print(f"=== [{i}] {r['prompt']}")
        print(r["text"] if r["text"] is not None else r["tokens"])
        print(f"--- cumulative entropy {r['cumulative_entropy']:.4f} nats, lookahead steps "
              f"{r['lookahead_steps']}, bypass steps {r['bypass_steps']}")
    print(f"model forwards: {out.num_forward}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``igkernels`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["demo"]:
        try:
            demo = importlib.import_module("igkernels.demo")
        except ModuleNotFoundError as exc:
            if exc.name != "igkernels.demo":
                raise
            print("igkernels demo: igkernels/demo.py is not installed in this version", file=sys.stderr)
            return 2
        demo_parser = argparse.ArgumentParser(prog="igkernels demo")
        demo.add_arguments(demo_parser)
        return int(demo.run(demo_parser.parse_args(argv[1:])) or 0)
    args = parser.parse_args(argv)
    try:
        return _generate(args)
    except (ValueError, TypeError) as exc:
        print(f"igkernels generate: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
