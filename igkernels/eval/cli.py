"""``igkernels eval``: benchmark accuracy per decoding variant (``runner.evaluate``).

    igkernels eval --task gsm8k --data gsm8k_test.jsonl --model PATH --variant info_gain,confidence \
        --candidates 8 --steps 256 --max-new-tokens 256 --block-length 32 --limit 200 --out runs/gsm8k
    torchrun --nproc-per-node 4 -m igkernels eval ...     # data parallel, one process per GPU

Every decode option of ``generate`` is a flag; ``--steps`` and ``--max-new-tokens`` default to
the task's convention. Rerunning the same command resumes; ``--force`` discards earlier results.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..cli import add_decode_options, check_device_and_backend, check_dtype, decode_config
from ..demo.app import MODEL_DIR
from ..sampling import VARIANTS
from .tasks import TASKS, get

DESCRIPTION = ("Benchmark accuracy per decoding variant: decode a task's samples under each variant, score them, "
               "and write the results to --out (resumed when rerun; data parallel under torchrun).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=TASKS, help="benchmark to run")
    parser.add_argument("--data", default=None,
                        help="local JSONL / JSON / Parquet file of the benchmark, or hf:ID[:CONFIG][@SPLIT] for a "
                             "Hugging Face dataset (default: the task's own, where it has one)")
    parser.add_argument("--model", default=None, help="checkpoint directory or Hub id (default: the embedded model)")
    parser.add_argument("--variant", default="info_gain",
                        help=f"comma-separated decoding variants, each run on every sample ({', '.join(VARIANTS)})")
    parser.add_argument("--limit", type=int, default=None, help="only the first N samples")
    parser.add_argument("--batch-size", type=int, default=8, help="samples decoded together (default 8)")
    parser.add_argument("--out", required=True, help="output directory (resumed when it holds this run)")
    parser.add_argument("--force", action="store_true", help="discard results of another run in --out")
    parser.add_argument("--no-chat", action="store_true", help="no chat template, whatever the task's convention")
    parser.add_argument("--num-fewshot", type=int, default=0,
                        help="solved exemplars before each prompt (default 0): the first N samples of "
                             "--fewshot-data, or of --data (then not evaluated)")
    parser.add_argument("--fewshot-data", default=None, help="file of exemplars in the task's layout (e.g. the train split)")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda:LOCAL_RANK under torchrun "
                                                        "when CUDA is available, else cpu)")
    parser.add_argument("--dtype", default=None, help="bf16 | fp16 | fp32 (default: the checkpoint's)")
    parser.add_argument("--no-figure", action="store_true", help="skip the PNG")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_decode_options(parser, [n for n in _decode_fields() if n not in ("variant", "progress", "return_history",
                                                                         "chat_template", "max_new_tokens", "steps")])
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the task's")
    parser.add_argument("--steps", type=int, default=None, help="default: the task's, else --max-new-tokens")


def _decode_fields() -> list[str]:
    import dataclasses

    from ..sampling.config import DecodeConfig
    return [f.name for f in dataclasses.fields(DecodeConfig)]


def _device(arg: str | None) -> str:
    import torch
    if arg is not None:
        return arg
    if torch.cuda.is_available():
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return "cpu"


def _init_distributed(device: str) -> None:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1): gloo on CPU, nccl on GPUs."""
    import torch
    import torch.distributed as dist
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group(backend="nccl" if cuda else "gloo")


def run(args: argparse.Namespace) -> int:
    from ..models import load
    from ..sampling import InfoGainSampler
    from .runner import check_options, evaluate, format_summary

    task = get(args.task)
    variants = tuple(v.strip() for v in args.variant.split(",") if v.strip())
    unknown = [v for v in variants if v not in VARIANTS]
    if not variants or unknown:
        raise ValueError(f"--variant: unknown {', '.join(unknown) or 'empty list'}; expected among {', '.join(VARIANTS)}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    new = task.max_new_tokens if args.max_new_tokens is None else args.max_new_tokens
    steps = args.steps if args.steps is not None else (task.default_steps or new)
    # Not fixed values: decode_config names the flag of a bad one (--steps, --max-new-tokens).
    config = decode_config(argparse.Namespace(**{**vars(args), "max_new_tokens": new, "steps": steps}),
                           variant=variants[0])
    device = _device(args.device)
    check_device_and_backend(device, config.backend)
    check_dtype(args.dtype)
    check_options(task, variants, config, args.out, args.num_fewshot, args.fewshot_data)
    model_path = args.model or str(MODEL_DIR)
    embedded = args.model is None or os.path.realpath(args.model) == os.path.realpath(MODEL_DIR)
    _init_distributed(device)
    try:
        model, tokenizer = load(model_path, device=device, dtype=args.dtype)
        sampler = InfoGainSampler(model, tokenizer)
        summary = evaluate(sampler, task, args.out, data=args.data, variants=variants, config=config,
                           limit=args.limit, batch_size=args.batch_size, chat=False if args.no_chat else None,
                           num_fewshot=args.num_fewshot, fewshot_data=args.fewshot_data,
                           model_name="embedded" if embedded else args.model, force=args.force, figure=not args.no_figure,
                           progress=not args.no_progress)
    finally:
        import torch.distributed as dist
        if dist.is_initialized():
            dist.destroy_process_group()
    if summary is not None:
        print(f"{task.name}: {summary['samples']} samples, results in {args.out}")
        print(format_summary(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="igkernels eval", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
