"""Train the embedded masked diffusion model (igk-tiny-mdm) from scratch on the synthetic tasks.

Objective (masked diffusion / LLaDA-style): for every training sequence draw a masking ratio
t ~ U(0, 1), mask each answer cell with probability t, and minimise the cross-entropy on the
masked cells weighted by 1/t. The format characters (``*``, ``=``, ``|``) are never masked:
prompts always carry them.

    nice -n 10 python training/train_mdm.py --out igkernels/demo/data/igk-tiny-mdm

Seeded and single-process; ``--threads`` caps torch's intra-op threads (the default 2 suits a
shared 2-core machine). Writes config.json, model.safetensors and the tokenizer files that
``AutoModelForMaskedLM`` / ``AutoTokenizer.from_pretrained`` read offline, and logs held-out
masked-cell accuracy as it goes.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def _load_tasks():
    # Load igkernels/demo/tasks.py on its own so training does not need the compiled package.
    path = Path(__file__).resolve().parents[1] / "igkernels" / "demo" / "tasks.py"
    spec = importlib.util.spec_from_file_location("igk_tasks", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["igk_tasks"] = mod
    spec.loader.exec_module(mod)
    return mod


tasks = _load_tasks()


def build_tokenizer():
    """Character-level WordLevel tokenizer over ``tasks.VOCAB``; '[MASK]' etc. are special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab=dict(tasks.TOKEN_ID), unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()    # characters back together, without spaces
    tok.add_special_tokens(tasks.SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", mask_token="[MASK]", eos_token="[EOS]",
        unk_token="[UNK]", model_max_length=32, clean_up_tokenization_spaces=False,
    )


def build_model(args):
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=len(tasks.VOCAB), hidden_size=args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, intermediate_size=4 * args.hidden,
        max_position_embeddings=32, type_vocab_size=1, pad_token_id=tasks.PAD_ID,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    return BertForMaskedLM(config)


def to_tensor(strings):
    return torch.tensor([tasks.encode(s) for s in strings], dtype=torch.long)


def mask_batch(x, gen, eps=1e-3):
    """Mask answer cells (digits) with a per-row ratio t ~ U(eps, 1); at least one cell per row."""
    answer = x < tasks.TOKEN_ID["*"]  # digits sit just after the specials in VOCAB
    answer &= x >= len(tasks.SPECIAL_TOKENS)
    t = eps + (1 - eps) * torch.rand(x.shape[0], 1, generator=gen)
    masked = (torch.rand(x.shape, generator=gen) < t) & answer
    # A row with nothing masked teaches nothing: force one random answer cell.
    empty = ~masked.any(1)
    if empty.any():
        scores = torch.rand(x.shape, generator=gen).masked_fill(~answer, -1.0)
        pick = scores.argmax(1)
        masked[empty, pick[empty]] = True
    return x.masked_fill(masked, tasks.MASK_ID), masked, t


@torch.no_grad()
def held_out_accuracy(model, held, ratios=(0.25, 0.5, 0.75, 1.0), seed=0):
    """Fraction of masked cells predicted exactly (argmax, one shot) on held-out solutions."""
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    out = {}
    for r in ratios:
        x = to_tensor(held)
        answer = (x >= len(tasks.SPECIAL_TOKENS)) & (x < tasks.TOKEN_ID["*"])
        masked = (torch.rand(x.shape, generator=gen) < r) & answer
        logits = model(input_ids=x.masked_fill(masked, tasks.MASK_ID)).logits
        out[r] = (logits.argmax(-1)[masked] == x[masked]).float().mean().item()
    model.train()
    return out


def save(model, tokenizer, out: Path, meta: dict):
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    # transformers 5 writes its own class name, which 4.x cannot load; this one loads under both.
    settings = json.loads((out / "tokenizer_config.json").read_text())
    settings["tokenizer_class"] = "PreTrainedTokenizerFast"
    (out / "tokenizer_config.json").write_text(json.dumps(settings, indent=2) + "\n")
    (out / "training.json").write_text(json.dumps(meta, indent=2) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="igkernels/demo/data/igk-tiny-mdm")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-every", type=int, default=500)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    data = {t: tasks.split(t) for t in tasks.TASKS}
    model = build_model(args)
    tokenizer = build_tokenizer()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params {n_params / 1e6:.2f}M; train sizes "
          + ", ".join(f"{t}={len(data[t][0])} (held out {len(data[t][1])})" for t in tasks.TASKS), flush=True)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))

    start = time.time()
    out = Path(args.out)
    model.train()
    running = 0.0
    for step in range(1, args.steps + 1):
        # One task per batch: both have a fixed length, so no padding is ever needed.
        task = tasks.TASKS[step % len(tasks.TASKS)]
        x = to_tensor(rng.choices(data[task][0], k=args.batch))
        noisy, masked, t = mask_batch(x, gen)
        logits = model(input_ids=noisy).logits
        ce = F.cross_entropy(logits.transpose(1, 2), x, reduction="none")
        loss = (ce * masked / t).sum() / masked.numel()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.4f} elapsed {time.time() - start:.0f}s", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            acc = {t: held_out_accuracy(model, data[t][1]) for t in tasks.TASKS}
            elapsed = time.time() - start
            print(f"step {step} loss {running / args.eval_every:.4f} elapsed {elapsed:.0f}s held-out cell acc "
                  + "; ".join(f"{t}: " + " ".join(f"{r:.2f}->{a:.3f}" for r, a in acc[t].items()) for t in acc),
                  flush=True)
            running = 0.0
            save(model, tokenizer, out, {"args": vars(args), "step": step, "elapsed_s": round(elapsed),
                                         "held_out_cell_accuracy": acc, "params": n_params})
    print(f"done in {time.time() - start:.0f}s -> {out}", flush=True)


if __name__ == "__main__":
    main()
