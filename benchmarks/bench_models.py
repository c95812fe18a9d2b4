"""Native LLaDA, Dream and SDAR/TraDo against the authors' own modelling code, same weights, same
dtype, side by side in one run: the forward of a batch, and ``generate``'s tokens/s through each.

The checkpoints are built by ``../shared/upstream/make_tiny_checkpoints.py`` (random weights, the
real vocabularies and special ids): the tiny default (2 layers, width 64) and one of about 100M
parameters per family (12 layers, width 320; most of it the [V, D] embedding and LM head).

    python benchmarks/bench_models.py [--sizes tiny,100m] [--families llada,dream,sdar,trado]
                                      [--dtype fp32|bf16] [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import harness
import torch

import igkernels as igk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from oracle import FAMILIES, UPSTREAM  # noqa: E402

SIZES = {"tiny": dict(layers=2, hidden=64), "100m": dict(layers=12, hidden=320)}
FORWARD = (2, 128)                                 # canvases x tokens of one timed forward
DECODE = dict(max_new_tokens=16, steps=16, candidates=4, position_temperature=0.2, seed=0)
PROMPTS = ["Solve: 12 * 7 = ?", "Once upon a time"]


def _authors_forward(family: str, model, ids: torch.Tensor):
    """The authors' forward as their generate functions call it (no padding)."""
    if family in ("sdar", "trado"):
        from igkernels.models.sdar import block_causal_mask
        T = ids.shape[1]
        return model(ids, attention_mask=block_causal_mask(T, 4, None, ids.device),
                     position_ids=torch.arange(T)[None]).logits
    return model(ids).logits


def run_family(family: str, directory: Path, dtype: torch.dtype, ref_loader) -> dict:
    native, tok = igk.load(directory, dtype=dtype)
    authors = ref_loader(directory, dtype=dtype)
    params = sum(p.numel() for p in native.parameters())
    ids = torch.randint(0, 1000, FORWARD, generator=torch.Generator().manual_seed(0))
    row = dict(family=family, params=params)
    with torch.inference_mode():
        row["native_ms"] = harness.time_ms(lambda: native(ids).logits, "native", "cpu")
        row["authors_ms"] = harness.time_ms(lambda: _authors_forward(family, authors, ids), "authors", "cpu")
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
          f"{'native tok/s':>13} {'authors tok/s':>14} {'same tokens':>12}")
    for size in args.sizes.split(","):
        dirs = upstream.build(out / size, families=families, **SIZES[size])
        for family in families:
            r = run_family(family, dirs[family], dtype, upstream.load_reference)
            print(f"{size:<5} {family:<6} {r['params'] / 1e6:>7.1f}M {r['native_ms']:>10.1f} {r['authors_ms']:>11.1f} "
                  f"{r['authors_ms'] / r['native_ms']:>8.2f}x {r['native_tok_s']:>13.1f} {r['authors_tok_s']:>14.1f} "
                  f"{str(r['same_sequences']):>12}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
