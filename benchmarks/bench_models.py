"""Native LLaDA, Dream and SDAR/TraDo against the authors' own modelling code, same weights, same
dtype, side by side in one run: the forward of a batch (and of the decoder alone, where the
authors' file exposes it: the LM head is the same matmul in both and most of the time), and
``generate``'s tokens/s through each.

The checkpoints are built by ``../shared/upstream/make_tiny_checkpoints.py`` (random weights, the
real vocabularies and special ids): the tiny default (2 layers, width 64) and one of about 100M
parameters per family (12 layers, width 320; most of it the [V, D] embedding and LM head).

    python benchmarks/bench_models.py [--sizes tiny,100m] [--families llada,dream,sdar,trado]
                                      [--dtype fp32|bf16] [--out DIR]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

import igkernels as igk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from oracle import FAMILIES, UPSTREAM  # noqa: E402

SIZES = {"tiny": dict(layers=2, hidden=64), "100m": dict(layers=12, hidden=320)}
FORWARD = (2, 128)                                 # canvases x tokens of one timed forward
ROUNDS = 15
DECODE = dict(max_new_tokens=16, steps=16, candidates=4, position_temperature=0.2, seed=0)
PROMPTS = ["Solve: 12 * 7 = ?", "Once upon a time"]


def _authors_inputs(family: str, ids: torch.Tensor) -> dict:
    """The authors' forward arguments as their generate functions pass them (no padding)."""
    if family in ("sdar", "trado"):
        from igkernels.models.sdar import block_causal_mask
        T = ids.shape[1]
        return dict(attention_mask=block_causal_mask(T, 4, None, ids.device), position_ids=torch.arange(T)[None])
    return {}


def interleaved_ms(fns: dict[str, Callable[[], object]], rounds: int = ROUNDS) -> dict[str, float]:
    """Median ms of each function, timed in turn within every round: the machine's drift (the
    forward is mostly one large matmul, whose speed wanders by 10-20% here) hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def run_family(family: str, directory: Path, dtype: torch.dtype, ref_loader) -> dict:
    native, tok = igk.load(directory, dtype=dtype)
    authors = ref_loader(directory, dtype=dtype)
    params = sum(p.numel() for p in native.parameters())
    ids = torch.randint(0, 1000, FORWARD, generator=torch.Generator().manual_seed(0))
    row = dict(family=family, params=params)
    kw = _authors_inputs(family, ids)
    fns = {"native": lambda: native(ids).logits, "authors": lambda: authors(ids, **kw).logits}
    if family != "llada":   # the Qwen-based files expose their decoder without the LM head
        fns |= {"native_body": lambda: native.hidden_states(ids),
                "authors_body": lambda: authors.model(ids, **kw).last_hidden_state}
    with torch.inference_mode():
        row |= {f"{name}_ms": ms for name, ms in interleaved_ms(fns).items()}
    for name, model in (("native", native), ("authors", authors)):
        sampler = igk.InfoGainSampler(model, tok)
        t0 = time.perf_counter()
        out = sampler.generate(PROMPTS, **DECODE)
        row[f"{name}_tok_s"] = len(PROMPTS) * DECODE["max_new_tokens"] / (time.perf_counter() - t0)
        row[f"{name}_sequences"] = out.sequences
    row["same_sequences"] = torch.equal(row.pop("native_sequences"), row.pop("authors_sequences"))
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="tiny,100m")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--dtype", default="fp32", help="fp32 | bf16")
    ap.add_argument("--out", default=None, help="where to build the checkpoints (default: a temporary folder)")
    args = ap.parse_args(argv)
    if not (UPSTREAM / "make_tiny_checkpoints.py").is_file():
        print(f"bench_models: the authors' code is not at {UPSTREAM}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(UPSTREAM))
    import make_tiny_checkpoints as upstream
    dtype = igk.models.checkpoint.as_dtype(args.dtype)
    families = [f for f in args.families.split(",") if f]
    out = Path(args.out or tempfile.mkdtemp(prefix="igk-models-"))
    print(f"native vs authors' modelling code, {args.dtype}, {torch.get_num_threads()} threads; forward "
          f"{FORWARD[0]}x{FORWARD[1]} tokens; generate {len(PROMPTS)} prompts, {DECODE}")
    print(f"{'size':<5} {'family':<6} {'params':>8} {'native ms':>10} {'authors ms':>11} {'speed-up':>9} "
          f"{'body: native':>13} {'authors':>8} {'native tok/s':>13} {'authors tok/s':>14} {'same tokens':>12}")
    for size in args.sizes.split(","):
        dirs = upstream.build(out / size, families=families, **SIZES[size])
        for family in families:
            r = run_family(family, dirs[family], dtype, upstream.load_reference)
            body = (f"{r['native_body_ms']:>13.1f} {r['authors_body_ms']:>8.1f}" if "native_body_ms" in r
                    else f"{'-':>13} {'-':>8}")
            print(f"{size:<5} {family:<6} {r['params'] / 1e6:>7.1f}M {r['native_ms']:>10.1f} {r['authors_ms']:>11.1f} "
                  f"{r['authors_ms'] / r['native_ms']:>8.2f}x {body} {r['native_tok_s']:>13.1f} "
                  f"{r['authors_tok_s']:>14.1f} {str(r['same_sequences']):>12}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
