"""``igk.evaluate``: decode a task's samples under several variants and score them.

Samples are cut into batches of ``batch_size`` in sample order, the same whatever the number
of processes, and sample ``i`` is decoded with seed ``seed + i``; so a batch decodes the same
way in any run, and results do not depend on how many processes ran them or on resuming.
Under ``torch.distributed`` (``torchrun``) batch ``j`` belongs to rank ``j mod world``; each
rank writes its own shard (``store.py``), and rank 0 merges them, prints and writes the
summary.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from ..cli import strict_json
from ..demo.app import wilson
from ..sampling.config import DecodeConfig
from .store import FIGURE_FILE, SUMMARY_FILE, Store, check_out
from .tasks import Sample, Task, get


@dataclasses.dataclass(frozen=True)
class Batch:
    number: int
    first: int                 # index of its first sample
    samples: tuple[Sample, ...]


def batches(samples: list[Sample], batch_size: int) -> list[Batch]:
    return [Batch(j, i, tuple(samples[i:i + batch_size])) for j, i in enumerate(range(0, len(samples), batch_size))]


def sample_digest(sample: Sample) -> str:
    """What a result line is of: the sample's id, prompt and target (a changed sample is redone)."""
    text = json.dumps([sample.id, sample.prompt, sample.target], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def distributed() -> tuple[int, int]:
    """(rank, world size): torch.distributed's when initialised, else (0, 1)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _barrier() -> None:
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def decode_batch(sampler, task: Task, batch: Batch, config: DecodeConfig, chat: bool,
                 shots: Sequence[Sample] = ()) -> list[dict]:
    """Decode one batch under ``config`` (its variant) and score it: one record per sample.
    Text prompts follow the few-shot exemplars ``shots``."""
    prompts = [task.build_prompt(s) for s in batch.samples]
    if shots:
        prompts = [task.with_shots(p, shots) for p in prompts]
    seeds = tuple(config.seed + batch.first + i for i in range(len(prompts)))
    cfg = config.replace(seed=seeds, chat_template=chat and isinstance(prompts[0], str), return_history=True,
                         progress=False)
    start = time.perf_counter()
    out = sampler.generate(prompts, cfg)
    wall = time.perf_counter() - start
    options = cfg.to_dict()
    records = []
    for i, s in enumerate(batch.samples):
        begin = out.prompt_lengths[i] if cfg.max_new_tokens > 0 else 0
        ids = out.sequences[i, begin:out.lengths[i]].tolist()
        completion = task.truncate(task.completion_text(ids, sampler.tokenizer))
        answer = task.extract(s, completion)
        records.append({
            "id": s.id, "sample_sha": sample_digest(s), "index": batch.first + i, "batch": batch.number,
            "variant": cfg.variant,
            "completion": completion, "answer": answer, "correct": bool(task.score(s, completion, answer)),
            "cumulative_entropy": float(out.cumulative_entropy[i]), "model_calls": out.num_forward,
            "canvases": 1 + sum(h["canvases"][i] for h in out.history),
            "new_tokens": out.lengths[i] - out.prompt_lengths[i] if cfg.max_new_tokens > 0 else len(ids),
            "wall_s": wall / len(prompts), "seed": seeds[i], "config": {**options, "seed": seeds[i]},
        })
    return records


def _model_identity(sampler) -> dict:
    """The model's dtype and device type, which the results depend on (float rounding)."""
    model = getattr(sampler, "model", None)
    param = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    if param is None:
        return {"dtype": None, "device": None}
    return {"dtype": str(param.dtype).removeprefix("torch."), "device": param.device.type}


def summarize(records: list[dict], variants: tuple[str, ...], missing: int) -> dict:
    """Per variant: accuracy with a 95% Wilson interval, mean model calls and canvases per
    sample, mean cumulative entropy, tokens/s."""
    rows = []
    for v in variants:
        rs = [r for r in records if r["variant"] == v]
        n, k = len(rs), sum(r["correct"] for r in rs)
        wall = sum(r["wall_s"] for r in rs)
        rows.append({
            "variant": v, "n": n, "correct": k, "accuracy": k / n if n else float("nan"), "ci95": list(wilson(k, n)),
            "model_calls": sum(r["model_calls"] for r in rs) / max(1, n),
            "canvases": sum(r["canvases"] for r in rs) / max(1, n),
            "cumulative_entropy": sum(r["cumulative_entropy"] for r in rs) / max(1, n),
            "tokens_per_s": sum(r["new_tokens"] for r in rs) / wall if wall > 0 else float("nan"),
        })
    return {"variants": rows, "missing_samples": missing}


def format_summary(summary: dict) -> str:
    head = f"{'variant':12s} {'n':>5s} {'accuracy':>9s} {'95% CI':>15s} {'calls/sample':>13s} {'canvases':>9s} {'tok/s':>8s}"
    lines = [head]
    for r in summary["variants"]:
        lo, hi = r["ci95"]
        lines.append(f"{r['variant']:12s} {r['n']:5d} {r['accuracy']:9.3f} {f'[{lo:.3f}, {hi:.3f}]':>15s} "
                     f"{r['model_calls']:13.1f} {r['canvases']:9.1f} {r['tokens_per_s']:8.1f}")
    if summary["missing_samples"]:
        lines.append(f"incomplete: {summary['missing_samples']} sample results missing (rerun the same command)")
    return "\n".join(lines)


def save_plot(summary: dict, task: str, path: Path) -> Path:
    """Accuracy (95% interval) against canvases evaluated per sample, one point per variant."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for r in summary["variants"]:
        if not r["n"]:
            continue
        lo, hi = r["ci95"]
        ax.errorbar(r["canvases"], r["accuracy"], yerr=[[r["accuracy"] - lo], [hi - r["accuracy"]]], fmt="o",
                    capsize=4, label=r["variant"])
    ax.set_xlabel("canvases evaluated per sample (model work)")
    ax.set_ylabel("accuracy (95% Wilson interval)")
    ax.set_title(task)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def check_options(task: Task, variants: tuple[str, ...], config: DecodeConfig, out: str | os.PathLike,
                  num_fewshot: int, fewshot_data: str | os.PathLike | None) -> None:
    """The checks of ``evaluate``'s options that need no model or data, each a ValueError naming
    the flag (the CLI runs them before loading the model)."""
    if not variants or len(set(variants)) != len(variants):
        raise ValueError(f"--variant: expected distinct variants, got {', '.join(variants) or 'none'}")
    if task.infill and config.max_new_tokens:
        raise ValueError(f"--max-new-tokens: task {task.name!r} fills the masks inside its prompt and generates "
                         f"nothing after it, so it must be 0, got {config.max_new_tokens}")
    if num_fewshot < 0:
        raise ValueError(f"--num-fewshot must be >= 0, got {num_fewshot}")
    if fewshot_data is not None and not num_fewshot:
        raise ValueError("--fewshot-data: given without --num-fewshot (how many exemplars to take from it)")
    if fewshot_data is not None and not Path(fewshot_data).is_file():
        raise ValueError(f"--fewshot-data: no such file: {fewshot_data}")
    check_out(out)


def evaluate(sampler, task: str | Task, out: str | os.PathLike, *, data: str | os.PathLike | None = None,
             variants: tuple[str, ...] = ("info_gain",), config: DecodeConfig | None = None, limit: int | None = None,
             batch_size: int = 8, chat: bool | None = None, num_fewshot: int = 0,
             fewshot_data: str | os.PathLike | None = None,
             model_name: str = "", force: bool = False, figure: bool = True, progress: bool = True) -> dict | None:
    """Decode and score ``task``'s samples under each variant, resuming what ``out`` holds.

    sampler:    an ``InfoGainSampler``
    task:       a name of ``igkernels.eval.tasks.TASKS`` or a ``Task``
    out:        output directory (``store.py``): shards, merged ``results.jsonl``, ``summary.json``,
                ``accuracy.png``
    config:     the decode options (``variant`` is replaced by each of ``variants``; ``seed``
                is the first sample's, sample i gets seed + i)
    chat:       chat prompts in the chat template, or completion prompts (default: the task's
                convention where the tokenizer has a chat template)
    num_fewshot: solved exemplars before each prompt: the first ``num_fewshot`` samples of
                ``fewshot_data`` (a file of the task's layout, e.g. the train split), or, without
                it, of ``data``, which are then not evaluated
    Returns the summary on rank 0 (None on other ranks).
    """
    from tqdm.auto import tqdm

    task = get(task) if isinstance(task, str) else copy.copy(task)    # its chat setting is ours to change
    data = None if data is None else os.fspath(data)
    fewshot_data = None if fewshot_data is None else os.fspath(fewshot_data)
    config = config or DecodeConfig()
    if not isinstance(config.seed, int):
        raise TypeError("config.seed: evaluate takes one int seed (sample i gets seed + i)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    variants = tuple(variants)
    check_options(task, variants, config, out, num_fewshot, fewshot_data)
    # A task's prompt and stop strings follow its chat setting; a tokenizer without a chat
    # template (a base model) gets the completion-style prompts.
    task.chat = task.chat and bool(getattr(sampler.tokenizer, "chat_template", None)) if chat is None else chat
    chat = task.chat
    rank, world = distributed()
    if num_fewshot and fewshot_data is not None:
        shots = task.load(fewshot_data, num_fewshot, config.seed)
        samples = task.load(data, limit, config.seed)
    else:
        samples = task.load(data, None if limit is None else limit + num_fewshot, config.seed)
        shots, samples = samples[:num_fewshot], samples[num_fewshot:]
    if len(shots) < num_fewshot:
        raise ValueError(f"--num-fewshot: {num_fewshot} exemplars asked for, the data holds {len(shots)}")
    if not samples:
        raise ValueError(f"--data {data}: no samples to evaluate" if data else f"task {task.name!r}: no samples")
    work = batches(samples, batch_size)
    expected = {(v, b.number): {s.id: sample_digest(s) for s in b.samples} for v in variants for b in work}
    store = Store(out, rank)
    local = data is not None and not data.startswith("hf:")
    run = {"task": task.name, "data": str(Path(data).resolve()) if local else data or task.hub,
           "data_sha256": file_digest(data) if local else None,
           "model": model_name, **_model_identity(sampler), "batch_size": batch_size, "chat": chat,
           "num_fewshot": num_fewshot,
           "fewshot_sha256": file_digest(fewshot_data) if num_fewshot and fewshot_data else None,
           "config": {k: v for k, v in config.to_dict().items() if k not in ("variant", "progress")}}
    store.check_run(run, force)
    _barrier()
    done = store.done(expected)
    todo = [(v, b) for v in variants for b in work if b.number % world == rank and (v, b.number) not in done]
    # Accuracy so far per variant, the batches done in earlier runs included.
    tally = {v: [0, 0] for v in variants}
    for (v, _), recs in done.items():
        tally[v][0] += sum(r["correct"] for r in recs)
        tally[v][1] += len(recs)
    with tqdm(total=sum(len(b.samples) for _, b in todo), desc=f"igkernels eval {task.name}", unit="sample",
              disable=not progress or rank != 0, file=sys.stderr) as bar:
        for v, b in todo:
            records = decode_batch(sampler, task, b, config.replace(variant=v), chat, shots)
            store.append(records)
            tally[v][0] += sum(r["correct"] for r in records)
            tally[v][1] += len(records)
            bar.update(len(records))
            bar.set_postfix_str(f"{v} acc {tally[v][0] / tally[v][1]:.3f} of {tally[v][1]}")
    _barrier()
    if rank != 0:
        return None
    records, missing = store.merge(expected)
    summary = {"task": task.name, "samples": len(samples), **summarize(records, variants, missing)}
    if figure and records:
        summary["figure"] = str(save_plot(summary, task.name, store.out / FIGURE_FILE))
    (store.out / SUMMARY_FILE).write_text(strict_json(summary, indent=2) + "\n")
    return summary

