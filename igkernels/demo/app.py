"""``igkernels demo``: decode held-out puzzles with the embedded tiny MDM under every variant.

The embedded model (``igkernels/demo/data/igk-tiny-mdm``, a 4-layer BertForMaskedLM trained by
``training/train_mdm.py``) is loaded offline. For each task the same held-out prompts are
decoded with every variant; the table gives accuracy (exact checker) with a Wilson 95%
interval, mean cumulative entropy (nats), canvases evaluated per sample (the model's forward
work, lookahead candidates included), model calls, and wall time. A PNG shows accuracy against
cumulative entropy and the order in which one example was decoded.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from ..cli import add_decode_options, decode_config, strict_json
from ..sampling import VARIANTS
from . import tasks

MODEL_DIR = Path(__file__).resolve().parent / "data" / "igk-tiny-mdm"
# Steps per task: fewer steps than masked cells, so each step commits several cells at once
# and the order (which cells go together) decides whether the answer is consistent.
DEFAULT_STEPS = {"mul": 3, "sudoku": 6}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=(*tasks.TASKS, "all"), default="all",
                        help="held-out task to decode (default: all)")
    parser.add_argument("--samples", type=int, default=200, help="held-out prompts per task (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompt draw and of the sampler")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated variants (default: all six)")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"decoding steps per prompt (default per task: {DEFAULT_STEPS})")
    parser.add_argument("--reveal", type=int, default=None,
                        help=f"digits each prompt keeps from its solution (default per task: {tasks.DEFAULT_REVEAL})")
    add_decode_options(parser, ("candidates", "temperature", "position_temperature", "threshold", "threshold_mode",
                                "cache", "backend"))
    parser.add_argument("--model", default=str(MODEL_DIR), help="model directory (default: the embedded one)")
    parser.add_argument("--out", default=".", help="directory for the figure (default: current directory)")
    parser.add_argument("--no-figure", action="store_true", help="skip the PNG")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for k successes out of n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Rounding can put a bound a hair on the wrong side of p at k = 0 or k = n.
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def canvases_per_sample(history: list[dict], B: int) -> float:
    """Mean canvases each sequence sent through the model: the first full forward, then what the
    history records per step (distinct lookahead candidates, or the committed canvas)."""
    return (B + sum(sum(h["canvases"]) for h in history)) / max(1, B)


def decode_order(history: list[dict], b: int, length: int) -> list[int]:
    """Step (1-based) at which each position of sequence ``b`` was committed; 0 = given."""
    order = [0] * length
    for h in history:
        for p in h["positions"][b]:
            order[p] = h["step"] + 1
    return order


def evaluate(sampler, task: str, examples: list[tasks.Example], config) -> dict:
    """Decode ``examples`` with ``config`` (a DecodeConfig) and score them."""
    prompts = [ex.prompt_ids() for ex in examples]
    start = time.perf_counter()
    out = sampler.generate(prompts, config)
    wall = time.perf_counter() - start
    texts = [tasks.decode(out.sequences[b, :out.lengths[b]].tolist()) for b in range(len(examples))]
    correct = [tasks.check(task, ex.prompt, t) for ex, t in zip(examples, texts)]
    n, k = len(correct), sum(correct)
    lo, hi = wilson(k, n)
    return {
        "task": task, "variant": config.variant, "n": n, "correct": k, "accuracy": k / n, "ci95": [lo, hi],
        "cumulative_entropy": float(out.cumulative_entropy.mean()),
        "canvases_per_sample": canvases_per_sample(out.history, n),
        "model_calls": out.num_forward, "wall_s": wall, "steps": config.steps, "config": config.to_dict(),
        "outputs": texts, "correct_mask": correct,
        "orders": [decode_order(out.history, b, out.lengths[b]) for b in range(n)],
    }


def format_table(results: list[dict]) -> str:
    head = (f"{'task':<7} {'variant':<11} {'accuracy':>8}  {'95% CI':<13} {'cum. H':>7} "
            f"{'canvases/sample':>15} {'calls':>5} {'wall s':>6}")
    lines = [head, "-" * len(head)]
    for r in results:
        lo, hi = r["ci95"]
        lines.append(f"{r['task']:<7} {r['variant']:<11} {r['accuracy']:>8.3f}  [{lo:.3f}, {hi:.3f}] "
                     f"{r['cumulative_entropy']:>7.3f} {r['canvases_per_sample']:>15.1f} {r['model_calls']:>5d} "
                     f"{r['wall_s']:>6.2f}")
    return "\n".join(lines)


def pick_example(by_variant: dict[str, dict]) -> tuple[int, str]:
    """An example to draw, and how it was picked: the first where info_gain and confidence
    differ in correctness (info_gain right preferred), else the first prompt."""
    ig, conf = by_variant.get("info_gain"), by_variant.get("confidence")
    if ig is not None and conf is not None:
        pairs = list(zip(ig["correct_mask"], conf["correct_mask"]))
        for want in ((True, False), (False, True)):
            if want in pairs:
                return pairs.index(want), "first prompt where info_gain and confidence differ"
    return 0, "first prompt"


def save_figure(results: list[dict], examples: dict[str, list[tasks.Example]], path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task_names = list(examples)
    fig, axes = plt.subplots(2, len(task_names), figsize=(6.5 * len(task_names), 8), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]})
    colors = dict(zip(VARIANTS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for col, task in enumerate(task_names):
        rs = [r for r in results if r["task"] == task]
        ax = axes[0][col]
        for r in rs:
            lo, hi = r["ci95"]
            ax.errorbar(r["cumulative_entropy"], r["accuracy"], yerr=[[r["accuracy"] - lo], [hi - r["accuracy"]]],
                        fmt="o", capsize=4, color=colors.get(r["variant"]), label=r["variant"])
        ax.set_xlabel("mean cumulative entropy (nats)")
        ax.set_ylabel("accuracy (95% Wilson CI)")
        ax.set_title(f"{task}: {rs[0]['n']} held-out prompts, {rs[0]['steps']} steps")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)

        by_variant = {r["variant"]: r for r in rs}
        i, why = pick_example(by_variant)
        shown = [v for v in ("info_gain", "confidence") if v in by_variant] or [rs[0]["variant"]]
        ax = axes[1][col]
        prompt = examples[task][i].prompt
        ax.set_xlim(-0.5, len(prompt) - 0.5)
        ax.set_ylim(-0.5, len(shown) - 0.5)
        ax.invert_yaxis()
        cmap = plt.get_cmap("viridis")
        for row, v in enumerate(shown):
            r = by_variant[v]
            order, text = r["orders"][i], r["outputs"][i]
            last = max(order) or 1
            for pos, ch in enumerate(text):
                if order[pos] > 0:
                    ax.add_patch(plt.Rectangle((pos - 0.45, row - 0.4), 0.9, 0.8,
                                               color=cmap(0.15 + 0.7 * (order[pos] - 1) / max(1, last - 1))))
                    ax.text(pos, row - 0.12, ch, ha="center", va="center", fontsize=12, color="white")
                    ax.text(pos, row + 0.25, str(order[pos]), ha="center", va="center", fontsize=7, color="white")
                else:
                    ax.text(pos, row, ch, ha="center", va="center", fontsize=12, color="black")
            mark = "right" if r["correct_mask"][i] else "wrong"
            ax.text(len(prompt) - 0.3, row, f" {v}: {mark}", va="center", fontsize=9)
        ax.set_title(f"decoding order of {prompt!r}, small number = step\n({why})", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def check_args(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(variants, tasks) of the demo's flags; a bad flag raises ValueError naming it, before any work."""
    from ..cli import check_device_and_backend

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"--variants must name some of {', '.join(VARIANTS)}; got {args.variants!r}")
    if args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    task_names = list(tasks.TASKS) if args.task == "all" else [args.task]
    for task in task_names:
        cells = tasks.digit_cells(task)
        if args.reveal is not None and not 0 <= args.reveal < cells:
            raise ValueError(f"--reveal must be in [0, {cells - 1}] for {task} (its solutions have {cells} digits), "
                             f"got {args.reveal}")
    decode_config(args, steps=args.steps or 1)        # checks every decode flag
    check_device_and_backend("cpu", args.backend)
    if not args.no_figure:
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"--out {args.out!r}: cannot create it ({exc.strerror})") from None
        if not os.access(out, os.W_OK):
            raise ValueError(f"--out {args.out!r}: not writable")
    return variants, task_names


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..models import load
    from ..sampling import InfoGainSampler

    variants, task_names = check_args(args)
    started = time.perf_counter()
    model, tokenizer = load(args.model, device="cpu")
    sampler = InfoGainSampler(model, tokenizer)
    vocab = sampler.adapter.vocab_size
    if sampler.mask_id != tasks.MASK_ID or vocab != len(tasks.VOCAB):
        raise ValueError(f"--model {args.model}: the demo's prompts are ids of the embedded model's character "
                         f"vocabulary ({len(tasks.VOCAB)} ids, mask {tasks.MASK_ID}); this model has {vocab} ids, "
                         f"mask {sampler.mask_id}")
    examples = {t: tasks.held_out_set(t, args.samples, seed=args.seed, reveal=args.reveal) for t in task_names}
    results = []
    with tqdm(total=len(task_names) * len(variants), desc="igkernels demo", unit="run", file=sys.stderr) as bar:
        for task in task_names:
            steps = args.steps if args.steps is not None else DEFAULT_STEPS[task]
            for variant in variants:
                bar.set_postfix_str(f"{task}/{variant}")
                config = decode_config(args, max_new_tokens=0, steps=steps, variant=variant, seed=args.seed,
                                       return_history=True)
                results.append(evaluate(sampler, task, examples[task], config))
                bar.update(1)

    figure = None
    if not args.no_figure:
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        figure = save_figure(results, examples, (out_dir / "igkernels-demo.png").resolve())
    total = time.perf_counter() - started

    if args.json:
        keep = ("task", "variant", "n", "correct", "accuracy", "ci95", "cumulative_entropy",
                "canvases_per_sample", "model_calls", "wall_s", "steps", "config")
        print(strict_json({"model": str(args.model), "seed": args.seed, "samples": args.samples,
                           "candidates": args.candidates, "temperature": args.temperature,
                           "position_temperature": args.position_temperature,
                           "threshold": args.threshold, "results": [{k: r[k] for k in keep} for r in results],
                           "figure": str(figure) if figure else None, "total_s": total}, indent=2))
    else:
        print(format_table(results))
        for task in task_names:
            ex = examples[task][0]
            print(f"{task}: prompt {ex.prompt!r} (held out, '{tasks.MASK_CHAR}' = mask); "
                  + "; ".join(f"{r['variant']} -> {r['outputs'][0]}" for r in results if r["task"] == task))
        if figure:
            print(f"figure: {figure}")
        print(f"total {total:.1f}s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="igkernels demo", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
