"""Benchmarks of the one GPU command (``benchmarks/gpu_check.sh``) and issue 4's targets.

Prints a short table last and writes the full results as JSON under
``benchmarks/results/`` (and under ``$OUT`` when that is set). Timing is
``triton.testing.do_bench``: CUDA events, warm-up, the median of the repetitions, and a
256 MB buffer zeroed between repetitions so L2 is flushed. Inputs are random, never zeros.
Each section is guarded: one that fails records its error and the rest still runs.

    python benchmarks/gpu_check.py            # on a CUDA GPU
    python benchmarks/gpu_check.py --dry-run  # tiny shapes on the CPU (Triton interpreter):
                                              # checks this script where no GPU is present
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
LLADA = dict(width=4096, heads=32, vocab=126464, mask_id=126336, layers=2, intermediate=12288)
TARGETS = dict(softmax_entropy_pct_copy=85.0, softmax_entropy_speedup=10.0, linear_over_matmul=1.15,
               sampler_share=0.05)


class Bench:
    def __init__(self, dry_run: bool):
        self.dry = dry_run
        self.device = torch.device("cpu" if dry_run else "cuda")
        self.gen = torch.Generator(device=self.device).manual_seed(0)
        self.results: dict = {"sections": {}, "errors": {}}

    # ---------------------------------------------------------------- helpers
    def randn(self, *shape, dtype=torch.bfloat16, scale=1.0):
        return (torch.randn(shape, generator=self.gen, device=self.device) * scale).to(dtype)

    def time_ms(self, fn) -> float:
        """Median milliseconds of fn()."""
        if self.dry:
            fn()
            ts = []
            for _ in range(3):
                t0 = time.perf_counter()
                fn()
                ts.append((time.perf_counter() - t0) * 1e3)
            return statistics.median(ts)
        from triton.testing import do_bench
        return float(do_bench(fn, warmup=25, rep=100, return_mode="median"))

    def section(self, name, fn):
        t0 = time.perf_counter()
        try:
            self.results["sections"][name] = fn()
        except Exception as exc:  # a failing section must not hide the others
            self.results["errors"][name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        print(f"[gpu_check] {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    def sync(self):
        if not self.dry:
            torch.cuda.synchronize()

    # ---------------------------------------------------------------- sections
    def copy_bandwidth(self):
        n = (1 << 30) if not self.dry else (1 << 20)          # 2 GiB of bf16 read + 2 GiB written
        x = self.randn(n)
        y = torch.empty_like(x)
        ms = self.time_ms(lambda: y.copy_(x))
        return dict(bytes=2 * x.numel() * 2, ms=ms, gbps=2 * x.numel() * 2 / ms / 1e6)

    def softmax_entropy(self, R, V, S, temperature, backends):
        import igkernels as igk
        x = self.randn(R, V, scale=3.0)
        out = {}
        for b in backends:
            def run(b=b):
                igk.softmax_entropy(x, num_samples=S, temperature=temperature, seed=1, backend=b)
            out[b] = dict(ms=self._timed_op(b, run))
        out["torch"] = dict(ms=self.time_ms(lambda: naive_stats(x, S, temperature)))
        for v in out.values():
            v["gbps"] = R * V * x.element_size() / v["ms"] / 1e6
        return dict(R=R, V=V, S=S, temperature=temperature, dtype=str(x.dtype), bytes=R * V * x.element_size(),
                    times=out)

    def _timed_op(self, backend, run):
        """Times run(); the CUDA backend's bad-row checks are deferred to one read at the end,
        as a decoding loop would run it, so no host sync sits between repetitions."""
        if backend == "cuda":
            from igkernels import cuda as igk_cuda
            with igk_cuda.deferred_checks():
                return self.time_ms(run)
        return self.time_ms(run)

    def state_uncertainty(self, B, T, V, backends):
        import igkernels as igk
        x = self.randn(B, T, V, scale=3.0)
        mask = torch.rand(B, T, generator=self.gen, device=self.device) < 0.5
        read = int(mask.sum()) * V * x.element_size()
        out = {}
        for b in backends:
            out[b] = dict(ms=self._timed_op(b, lambda b=b: igk.state_uncertainty(x, mask, backend=b)))
        out["torch"] = dict(ms=self.time_ms(lambda: naive_uncertainty(x, mask)))
        for v in out.values():
            v["gbps"] = read / v["ms"] / 1e6
        return dict(B=B, T=T, V=V, masked_rows=int(mask.sum()), bytes=read, times=out)

    def sample_candidates(self, B, T, N, k, backends):
        import igkernels as igk
        conf = torch.rand(B, T, generator=self.gen, device=self.device)
        valid = torch.rand(B, T, generator=self.gen, device=self.device) < 0.5
        out = {}
        for b in backends + ["reference"]:
            out[b] = dict(ms=self.time_ms(lambda b=b: igk.sample_candidates(
                conf, valid, k=k, num_candidates=N, position_temperature=0.1, seed=3, backend=b)))
        return dict(B=B, T=T, N=N, k=k, times=out)

    def lm_head(self, R, D, V, configs):
        import igkernels as igk
        from igkernels import linear
        from igkernels.triton import linear_softmax_entropy as lk
        h = self.randn(R, D)
        w = self.randn(V, D, scale=D ** -0.5 * 4)
        out = dict(matmul=dict(ms=self.time_ms(lambda: h @ w.T)))
        be = "cuda" if "cuda" in igk.available_backends(self.device.type) else None
        out["unfused"] = dict(ms=self.time_ms(lambda: igk.softmax_entropy(h @ w.T, backend=be)))
        out["fused"] = dict(ms=self.time_ms(lambda: linear.linear_softmax_entropy(h, w)),
                            config=lk.default_config(R, V, self.device))
        rows = torch.arange(R, device=self.device)
        keys = torch.zeros(R, dtype=torch.int64, device=self.device)
        sweep = []
        for cfg in configs:
            def run(cfg=cfg):
                parts = lk.partial_states(h, rows, w, None, keys, rows, 0, 0.0, 0, config=cfg)
                linear.combine(*parts, 0)
            try:
                sweep.append(dict(config=cfg, ms=self.time_ms(run)))
            except Exception as exc:
                sweep.append(dict(config=cfg, error=f"{type(exc).__name__}: {exc}"))
        out["fused_sweep"] = sweep
        out["fused_sampled"] = dict(ms=self.time_ms(
            lambda: linear.linear_softmax_entropy(h, w, num_samples=1, temperature=1.0)))
        flops = 2 * R * D * V
        for v in [out["matmul"], out["unfused"], out["fused"], out["fused_sampled"]] + sweep:
            if "ms" in v:
                v["tflops"] = flops / v["ms"] / 1e9
        best = min((s["ms"] for s in sweep if "ms" in s), default=out["fused"]["ms"])
        return dict(R=R, D=D, V=V, times=out, fused_over_matmul=out["fused"]["ms"] / out["matmul"]["ms"],
                    best_sweep_over_matmul=best / out["matmul"]["ms"])

    def lookahead_memory(self, canvases, T, D, V):
        """Peak extra memory of scoring a lookahead step's masked rows, from the final hidden states."""
        import igkernels as igk
        from igkernels import linear
        h = self.randn(canvases, T, D)
        w = self.randn(V, D, scale=D ** -0.5 * 4)
        rows = (torch.rand(canvases * T, generator=self.gen, device=self.device) < 0.5).nonzero().squeeze(1)

        def unfused():
            return igk.softmax_entropy(h @ w.T, rows=rows, num_samples=1, temperature=1.0)

        def fused():
            return linear.linear_softmax_entropy(h, w, rows=rows, num_samples=1, temperature=1.0)

        out = {}
        for name, fn in (("unfused", unfused), ("fused", fused)):
            fn()  # compile / warm the allocator outside the measurement
            if self.dry:
                out[name] = dict(peak_extra_bytes=None)
                continue
            self.sync()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            fn()
            self.sync()
            out[name] = dict(peak_extra_bytes=torch.cuda.max_memory_allocated() - base)
        return dict(canvases=canvases, T=T, D=D, V=V, rows=int(rows.numel()), memory=out)

    def sampler_step(self, layers, prompt_len, gen_len, candidates):
        """Per-step time of Info-Gain decoding on a random-weight model of LLaDA-8B's width,
        heads and vocabulary, split into the model's forward and the sampler's own work."""
        from transformers import BertConfig, BertForMaskedLM

        from igkernels.sampler import InfoGainSampler
        width, heads, vocab = LLADA["width"], LLADA["heads"], LLADA["vocab"]
        inter = LLADA["intermediate"]
        if self.dry:
            width, heads, vocab, inter = 64, 4, 1000, 128
        cfg = BertConfig(vocab_size=vocab, hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads,
                         intermediate_size=inter, max_position_embeddings=max(512, prompt_len + gen_len))
        with self.device:
            model = BertForMaskedLM(cfg)
        model = model.to(torch.bfloat16).eval()
        mask_id = min(LLADA["mask_id"], vocab - 1)
        sampler = InfoGainSampler(model, mask_id=mask_id, adapter="masked_lm")
        fwd = []
        orig = sampler.adapter.forward

        def timed_forward(input_ids, attention_mask):
            if self.dry:
                t0 = time.perf_counter()
                out = orig(input_ids, attention_mask)
                fwd.append((time.perf_counter() - t0) * 1e3)
                return out
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            out = orig(input_ids, attention_mask)
            e.record()
            fwd.append((s, e))
            return out

        sampler.adapter.forward = timed_forward
        prompt = torch.randint(0, mask_id, (prompt_len,), generator=torch.Generator().manual_seed(1)).tolist()
        args = dict(max_new_tokens=gen_len, steps=gen_len, block_length=32, variant="info_gain",
                    candidates=candidates, position_temperature=0.1, seed=0)
        sampler.generate([prompt], **dict(args, max_new_tokens=32, steps=32))   # warm-up (compiles kernels)
        fwd.clear()
        self.sync()
        t0 = time.perf_counter()
        res = sampler.generate([prompt], return_history=True, **args)
        self.sync()
        total_ms = (time.perf_counter() - t0) * 1e3
        fwd_ms = sum(fwd) if self.dry else sum(s.elapsed_time(e) for s, e in fwd)
        kinds = [h["kind"][0] for h in res.history] if getattr(res, "history", None) else []
        steps = max(1, len(kinds) or gen_len)
        return dict(model=dict(width=width, heads=heads, vocab=vocab, layers=layers, intermediate=inter),
                    prompt_len=prompt_len, gen_len=gen_len, candidates=candidates, steps=steps,
                    lookahead_steps=sum(k == "lookahead" for k in kinds), forward_calls=len(fwd),
                    total_ms=total_ms, forward_ms=fwd_ms, per_step_ms=total_ms / steps,
                    forward_per_step_ms=fwd_ms / steps, sampler_per_step_ms=(total_ms - fwd_ms) / steps,
                    sampler_share=(total_ms - fwd_ms) / total_ms)


def naive_stats(x, S, temperature):
    """The straightforward PyTorch code: softmax -> clamp -> log -> sum for the entropy, softmax
    again + gather for the confidence, and a Gumbel argmax per sample."""
    p = torch.softmax(x.float(), -1)
    entropy = -(p * p.clamp_min(1e-30).log()).sum(-1)
    top = x.argmax(-1, keepdim=True)
    conf = torch.softmax(x.float(), -1).gather(-1, top)
    draws = []
    for _ in range(S):
        g = -torch.log(-torch.log(torch.rand(x.shape, device=x.device).clamp_(1e-20, 1.0 - 1e-7)))
        tok = (x.float() + temperature * g).argmax(-1, keepdim=True)
        draws.append(torch.softmax(x.float(), -1).gather(-1, tok))
    return entropy, conf, draws


def naive_uncertainty(x, mask):
    p = torch.softmax(x.float(), -1)
    entropy = -(p * p.clamp_min(1e-30).log()).sum(-1)
    return (entropy * mask).sum(-1) / mask.sum(-1).clamp(min=1)


def backends_on(device_type):
    import igkernels as igk
    from igkernels import cuda as _  # noqa: F401  (registers "cuda" if the package does not yet)
    return [b for b in ("cuda", "triton") if b in igk.available_backends(device_type)]


def run_all(b: Bench) -> None:
    dry = b.dry
    gpu = backends_on(b.device.type)
    if dry:
        gpu = ["triton"] if "triton" in gpu or os.environ.get("TRITON_INTERPRET") == "1" else []
    b.results["backends"] = gpu
    big = (4096, 126464) if not dry else (8, 1000)
    few = (64, 126464) if not dry else (2, 1000)
    b.section("copy", b.copy_bandwidth)
    b.section("softmax_entropy_bf16", lambda: b.softmax_entropy(*big, 0, 0.0, gpu))
    b.section("softmax_entropy_bf16_sampled", lambda: b.softmax_entropy(*big, 1, 1.0, gpu))
    b.section("softmax_entropy_bf16_few_rows", lambda: b.softmax_entropy(*few, 0, 0.0, gpu))
    b.section("state_uncertainty_lookahead",
              lambda: b.state_uncertainty(*((8, 256, 126464) if not dry else (2, 8, 1000)), gpu))
    b.section("sample_candidates", lambda: b.sample_candidates(*((16, 1024, 8, 4) if not dry else (2, 64, 4, 2)), gpu))
    configs = [] if dry else [
        dict(BLOCK_M=128, BLOCK_N=128, BLOCK_K=64, num_warps=8, num_stages=3),
        dict(BLOCK_M=128, BLOCK_N=256, BLOCK_K=64, num_warps=8, num_stages=3),
        dict(BLOCK_M=128, BLOCK_N=128, BLOCK_K=64, num_warps=4, num_stages=4),
        dict(BLOCK_M=64, BLOCK_N=256, BLOCK_K=64, num_warps=8, num_stages=4),
        dict(BLOCK_M=128, BLOCK_N=64, BLOCK_K=64, num_warps=4, num_stages=4),
    ]
    b.section("lm_head_2048", lambda: b.lm_head(*((2048, 4096, 126464) if not dry else (16, 32, 301)), configs))
    b.section("lm_head_256", lambda: b.lm_head(*((256, 4096, 126464) if not dry else (16, 32, 301)), configs[:1]))
    b.section("lookahead_memory", lambda: b.lookahead_memory(*((8, 512, 4096, 126464) if not dry else (2, 8, 32, 301))))
    b.section("sampler_step", lambda: b.sampler_step(LLADA["layers"], *((64, 64, 8) if not dry else (8, 32, 4))))


def verdicts(res: dict) -> list[tuple[str, str, str]]:
    """(target, measured, PASS/FAIL/NOT MEASURED) for issue 4's targets."""
    sec = res["sections"]
    out = []
    copy = sec.get("copy", {}).get("gbps")
    se = sec.get("softmax_entropy_bf16", {}).get("times", {})
    for b in ("cuda", "triton"):
        if b in se and copy:
            pct = 100 * se[b]["gbps"] / copy
            out.append((f"softmax_entropy[{b}] bf16 4096x126464 >= {TARGETS['softmax_entropy_pct_copy']:.0f}% of copy",
                        f"{pct:.1f}%", "PASS" if pct >= TARGETS["softmax_entropy_pct_copy"] else "FAIL"))
            sp = se["torch"]["ms"] / se[b]["ms"]
            out.append((f"softmax_entropy[{b}] >= {TARGETS['softmax_entropy_speedup']:.0f}x straightforward torch",
                        f"{sp:.1f}x", "PASS" if sp >= TARGETS["softmax_entropy_speedup"] else "FAIL"))
    if not se:
        out.append(("softmax_entropy bf16 4096x126464 targets", "-", "NOT MEASURED"))
    lm = sec.get("lm_head_2048")
    if lm:
        r = lm["fused_over_matmul"]
        out.append((f"linear_softmax_entropy <= {TARGETS['linear_over_matmul']}x LM-head matmul (2048 rows)",
                    f"{r:.2f}x (best swept config {lm['best_sweep_over_matmul']:.2f}x)",
                    "PASS" if r <= TARGETS["linear_over_matmul"] else "FAIL"))
    else:
        out.append(("linear_softmax_entropy vs matmul", "-", "NOT MEASURED"))
    mem = sec.get("lookahead_memory", {}).get("memory", {})
    if mem.get("fused", {}).get("peak_extra_bytes") is not None:
        rows = sec["lookahead_memory"]["rows"]
        f = mem["fused"]["peak_extra_bytes"]
        out.append(("fused LM head extra memory O(rows)", f"{f / 2**20:.1f} MiB for {rows} rows "
                    f"(unfused {mem['unfused']['peak_extra_bytes'] / 2**20:.0f} MiB)",
                    "PASS" if f < 4096 * rows else "FAIL"))
    sm = sec.get("sampler_step")
    if sm:
        out.append((f"sampler work <= {TARGETS['sampler_share']:.0%} of a lookahead step", f"{sm['sampler_share']:.1%}",
                    "PASS" if sm["sampler_share"] <= TARGETS["sampler_share"] else "FAIL"))
    else:
        out.append(("sampler work share", "-", "NOT MEASURED"))
    return out


def table(res: dict) -> str:
    sec = res["sections"]
    copy = sec.get("copy", {}).get("gbps")
    lines = [f"device: {res['device']} | torch {res['torch']} | triton {res['triton']} | "
             f"copy bandwidth {copy:.0f} GB/s" if copy else f"device: {res['device']} | copy bandwidth: not measured"]
    lines.append(f"{'op':<44}{'backend':<10}{'median ms':>10}{'GB/s':>9}{'% copy':>8}{'vs torch':>10}")
    for name in ("softmax_entropy_bf16", "softmax_entropy_bf16_sampled", "softmax_entropy_bf16_few_rows",
                 "state_uncertainty_lookahead"):
        s = sec.get(name)
        if not s:
            continue
        label = name + (f" {s['R']}x{s['V']}" if "R" in s else f" {s['B']}x{s['T']}x{s['V']}")
        base = s["times"]["torch"]["ms"]
        for b, t in s["times"].items():
            pct = f"{100 * t['gbps'] / copy:.0f}" if copy else "-"
            lines.append(f"{label:<44}{b:<10}{t['ms']:>10.3f}{t['gbps']:>9.0f}{pct:>8}{base / t['ms']:>9.1f}x")
    s = sec.get("sample_candidates")
    if s:
        for b, t in s["times"].items():
            lines.append(f"{'sample_candidates %dx%d N%d k%d' % (s['B'], s['T'], s['N'], s['k']):<44}{b:<10}"
                         f"{t['ms']:>10.3f}")
    for name in ("lm_head_2048", "lm_head_256"):
        s = sec.get(name)
        if not s:
            continue
        for k in ("matmul", "unfused", "fused", "fused_sampled"):
            t = s["times"][k]
            lines.append(f"{'LM head %dx%dx%d' % (s['R'], s['D'], s['V']):<44}{k:<14}{t['ms']:>8.3f} ms "
                         f"{t['tflops']:>6.0f} TFLOP/s {t['ms'] / s['times']['matmul']['ms']:>5.2f}x matmul")
    s = sec.get("lookahead_memory")
    if s:
        for k, v in s["memory"].items():
            if v["peak_extra_bytes"] is not None:
                lines.append(f"lookahead scoring {s['canvases']}x{s['T']} ({s['rows']} rows) {k:<8} peak extra "
                             f"{v['peak_extra_bytes'] / 2**20:>9.1f} MiB")
    s = sec.get("sampler_step")
    if s:
        lines.append(f"sampler step ({s['model']['layers']} layers, width {s['model']['width']}, V {s['model']['vocab']}, "
                     f"N {s['candidates']}): {s['per_step_ms']:.2f} ms/step = forward {s['forward_per_step_ms']:.2f} "
                     f"+ sampler {s['sampler_per_step_ms']:.2f} ({s['steps']} steps, {s['lookahead_steps']} lookahead)")
    for name, err in res["errors"].items():
        lines.append(f"ERROR in {name}: {err}")
    lines.append("targets (issue 4):")
    for target, measured, verdict in verdicts(res):
        lines.append(f"  {verdict:<13}{target}: {measured}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU, to check the script")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for the JSON")
    args = ap.parse_args(argv)
    if args.dry_run:
        os.environ.setdefault("TRITON_INTERPRET", "1")
    elif not torch.cuda.is_available():
        print(f"no CUDA GPU found: torch {torch.__version__} (CUDA {torch.version.cuda}) sees no device; "
              "run this on a machine with an NVIDIA GPU, or pass --dry-run to check the script", file=sys.stderr)
        return 2
    import triton
    b = Bench(args.dry_run)
    b.results.update(
        device="cpu (dry run)" if args.dry_run else torch.cuda.get_device_name(),
        sm_count=None if args.dry_run else torch.cuda.get_device_properties(0).multi_processor_count,
        torch=torch.__version__, triton=triton.__version__, python=platform.python_version(),
        time=datetime.now(timezone.utc).isoformat(timespec="seconds"), dry_run=args.dry_run)
    run_all(b)
    b.results["targets"] = [dict(target=t, measured=m, verdict=v) for t, m, v in verdicts(b.results)]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = f"gpu_check_{'dryrun_' if args.dry_run else ''}{stamp}.json"
    outs = [Path(args.out)] + ([Path(os.environ["OUT"])] if os.environ.get("OUT") else [])
    for d in outs:
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(json.dumps(b.results, indent=1))
    print(table(b.results))
    print(f"results: {outs[0] / name}")
    return 1 if b.results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
