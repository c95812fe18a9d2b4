"""Benchmarks of the one GPU command (``benchmarks/gpu_check.sh``) and issue 4's targets.

Prints a short table last and writes the results as JSON under ``benchmarks/results/`` (and
under ``$OUT`` when that is set), rewritten after each section so that a run cut off by a time
limit keeps what it measured. The op sections are cases of ``bench_<op>.py``, timed by their
``measure`` on the harness's timer (``triton.testing.do_bench``: CUDA events, warm-up, the
median, L2 flushed between repetitions); copy bandwidth, the LM head's tile sweep, the
lookahead memory and the sampler step are this script's own. Inputs are random, never zeros.
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
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Callable

import torch

if TYPE_CHECKING:
    from harness import Case

# igkernels (and the harness and bench_<op> modules, which import it) are imported inside the
# functions below: --dry-run sets TRITON_INTERPRET first, before the Triton backend registers.

ROOT = Path(__file__).resolve().parents[1]
# LLaDA-8B-Instruct's config.json (the fields igkernels' native LLaDA reads); the sampler step
# builds `layers` of its 32 layers and scales the decoder's time to 32.
LLADA_CONFIG = dict(d_model=4096, n_heads=32, n_kv_heads=32, mlp_hidden_size=12288, vocab_size=126464,
                    embedding_size=126464, n_layers=32, rope_theta=500000.0, rms_norm_eps=1e-5, weight_tying=False,
                    mask_token_id=126336, eos_token_id=126081, pad_token_id=126081)
LLADA = dict(layers=2, full_layers=32)
# The sampler step's decodes: (cache, token temperature, fused LM head). The sampler's own work
# grows with token draws at temperature > 0; the last run puts the LM head inside the sampler.
STEP_RUNS = [(cache, t, False) for cache in ("none", "prefix", "dual") for t in (0.0, 0.7)] + [("dual", 0.7, True)]
TARGETS = dict(softmax_entropy_pct_copy=85.0, softmax_entropy_speedup=10.0, linear_over_matmul=1.15,
               sampler_share=0.05)
FUSED = "triton"  # the fused LM head of the targets (the automatic choice on a GPU)
SWEEP = [  # LM head tile configs tried on a GPU; the first two are the defaults (many rows, few rows)
    dict(BLOCK_M=128, BLOCK_N=256, BLOCK_K=64, num_warps=8, num_stages=3),
    dict(BLOCK_M=64, BLOCK_N=256, BLOCK_K=64, num_warps=8, num_stages=4),
    dict(BLOCK_M=128, BLOCK_N=128, BLOCK_K=64, num_warps=8, num_stages=3),   # the first H200 run's default
    dict(BLOCK_M=128, BLOCK_N=128, BLOCK_K=64, num_warps=4, num_stages=4),
    dict(BLOCK_M=128, BLOCK_N=64, BLOCK_K=64, num_warps=4, num_stages=4),
    # No spills without draws on sm_90 (benchmarks/gpu_kernel_resources.md): the default's rivals.
    dict(BLOCK_M=64, BLOCK_N=128, BLOCK_K=64, num_warps=8, num_stages=3),
    dict(BLOCK_M=128, BLOCK_N=64, BLOCK_K=64, num_warps=8, num_stages=3),
    # The neighbours of the defaults.
    dict(BLOCK_M=128, BLOCK_N=256, BLOCK_K=64, num_warps=8, num_stages=4),
    dict(BLOCK_M=256, BLOCK_N=128, BLOCK_K=64, num_warps=8, num_stages=3),
    dict(BLOCK_M=64, BLOCK_N=256, BLOCK_K=64, num_warps=4, num_stages=4),
]
K1_TILES = (1024, 2048, 4096)   # Triton K1 vocabulary tiles tried on a GPU (the default: 1024)
OP_SECTIONS = ("softmax_entropy_bf16", "softmax_entropy_bf16_sampled", "softmax_entropy_bf16_few_rows",
               "state_uncertainty_lookahead", "sample_candidates")


class Bench:
    """One run: its sections, their results, and the JSON file rewritten after each section."""

    def __init__(self, dry_run: bool, outs: list[Path], info: dict):
        self.dry = dry_run
        self.profile = "tiny" if dry_run else "cuda"   # the harness profile: shapes and device
        self.device = "cpu" if dry_run else "cuda"
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.paths = [d / f"gpu_check_{'dryrun_' if dry_run else ''}{stamp}.json" for d in outs]
        self.results: dict = dict(info, sections={}, errors={})

    def section(self, name: str, fn: Callable[[], dict]) -> None:
        """Run one section, keep its result (or its error), and rewrite the JSON."""
        t0 = time.perf_counter()
        try:
            self.results["sections"][name] = fn()
        except Exception as exc:  # a failing section must not hide the others
            self.results["errors"][name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        print(f"[gpu_check] {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        self.write()

    def write(self) -> None:
        """The results so far, with the verdicts they allow (targets not reached yet: NOT MEASURED)."""
        self.results["targets"] = [dict(target=t, measured=m, verdict=v) for t, m, v in verdicts(self.results)]
        for path in self.paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.results, indent=1))

    def sync(self) -> None:
        if not self.dry:
            torch.cuda.synchronize()

    # ---------------------------------------------------------------- sections
    def copy_bandwidth(self) -> dict:
        """The device's copy bandwidth, the yardstick of the memory-bound ops."""
        import harness
        n = (1 << 30) if not self.dry else (1 << 20)          # 2 GiB of bf16 read + 2 GiB written
        x = harness.randn("copy", (n,), self.device)
        y = torch.empty_like(x)
        ms = harness.time_ms(lambda: y.copy_(x), "copy", self.device)
        return dict(bytes=2 * x.numel() * 2, ms=ms, gbps=2 * x.numel() * 2 / ms / 1e6)

    def op(self, bench: ModuleType, case: Case, impls: list[str]) -> dict:
        """``bench`` (a bench_<op> module) on ``case`` for each of ``impls``; GB/s where it says
        the bytes it reads."""
        info = bench.describe(case)
        times = {impl: dict(ms=bench.measure(case, impl)) for impl in impls}
        if "bytes" in info:
            for t in times.values():
                t["gbps"] = info["bytes"] / t["ms"] / 1e6
        return dict(info, times=times)

    def k1_tiles(self, bench: ModuleType, shape: str) -> dict:
        """The Triton K1's vocabulary tile (and so its warps) on ``shape``, without and with a draw."""
        import harness

        from igkernels.backends.triton import softmax_entropy as tk
        out = {}
        for block in K1_TILES if not self.dry else (256,):
            tk.FORCE_BLOCK = block
            try:
                out[str(block)] = {str(S): bench.measure(harness.Case("softmax_entropy", self.profile, shape, S),
                                                         "triton") for S in (0, 1)}
            finally:
                tk.FORCE_BLOCK = None
        return dict(bench.describe(harness.Case("softmax_entropy", self.profile, shape, 0)), ms_by_block=out)

    def lm_head(self, shape: str, configs: list[dict]) -> dict:
        """The LM head of ``harness.HEADS``: the matmul alone, unfused, fused without and with a
        draw, and the fused kernel's partial states under each tile config of ``configs``."""
        import bench_linear_softmax_entropy as bench
        import harness

        from igkernels.backends.tiled_head import combine
        from igkernels.backends.triton import linear_softmax_entropy as lk
        plain, sampled = (harness.Case("linear_softmax_entropy", self.profile, shape, S) for S in (0, 1))
        info = bench.describe(plain)
        R, V = info["R"], info["V"]
        times: dict = {impl: dict(ms=bench.measure(plain, impl)) for impl in ("matmul", "unfused")}
        times["fused"] = dict(ms=bench.measure(plain, FUSED), config=lk.default_config(R, V, torch.device(self.device)))
        times["fused_sampled"] = dict(ms=bench.measure(sampled, FUSED))
        h, w = harness.head(self.profile, shape)
        rows = torch.arange(R, device=self.device)
        keys = torch.zeros(R, dtype=torch.int64, device=self.device)
        sweep = []
        for cfg in configs:
            def run(cfg=cfg):
                combine(*lk.partial_states(h, rows, w, None, keys, rows, 0, 0.0, 0, config=cfg)[:2])
            try:
                sweep.append(dict(config=cfg, ms=harness.time_ms(run, FUSED, self.device)))
            except Exception as exc:  # a config the GPU cannot run (shared memory) is a result too
                sweep.append(dict(config=cfg, error=f"{type(exc).__name__}: {exc}"))
        times["fused_sweep"] = sweep
        for v in [times["matmul"], times["unfused"], times["fused"], times["fused_sampled"]] + sweep:
            if "ms" in v:
                v["tflops"] = info["flops"] / v["ms"] / 1e9
        best = min((s["ms"] for s in sweep if "ms" in s), default=times["fused"]["ms"])
        return dict(info, times=times, fused_over_matmul=times["fused"]["ms"] / times["matmul"]["ms"],
                    best_sweep_over_matmul=best / times["matmul"]["ms"])

    def lookahead_memory(self, canvases: int, T: int, D: int, V: int) -> dict:
        """Peak extra memory of scoring a lookahead step's masked rows, from the final hidden states."""
        import harness

        import igkernels as igk
        h = harness.randn("lookahead_memory/hidden", (canvases, T, D), self.device)
        w = harness.randn("lookahead_memory/weight", (V, D), self.device, scale=4 * D ** -0.5)
        rows = (harness.rand("lookahead_memory/rows", (canvases * T,), self.device) < 0.5).nonzero().squeeze(1)

        def unfused():
            return igk.softmax_entropy(h @ w.T, rows=rows, num_samples=1, temperature=1.0)

        def fused():
            return igk.linear_softmax_entropy(h, w, rows=rows, num_samples=1, temperature=1.0, backend=FUSED)

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

    def sampler_step(self, layers: int, prompt_len: int, gen_len: int, block: int, candidates: int) -> dict:
        """Info-Gain decoding (issue 12, item 5) of a random-weight native LLaDA with LLaDA-8B's
        width, heads, MLP and vocabulary and ``layers`` of its 32 layers, bf16, under each KV
        cache mode (STEP_RUNS) and token temperature: tokens/s and each step split into the
        decoder (the native model's hidden states), the LM head, and the sampler's own work
        (the rest of the wall clock). ``scaled_share`` is the sampler's share with the decoder
        scaled to LLaDA-8B's 32 layers: its share of a real model's step."""
        from igkernels.models.llada import LLaDAModel
        from igkernels.sampling import InfoGainSampler
        cfg = dict(LLADA_CONFIG, n_layers=layers)
        if self.dry:
            cfg.update(d_model=64, n_heads=4, n_kv_heads=4, mlp_hidden_size=128, vocab_size=1000, embedding_size=1000,
                       mask_token_id=999, eos_token_id=998, pad_token_id=998)
        torch.manual_seed(0)
        with torch.device(self.device):
            model = LLaDAModel(cfg).to(torch.bfloat16).eval()
        head = model.get_output_embeddings()
        timed = {"decoder": [], "head": []}

        def timer(kind: str, fn: Callable) -> Callable:
            def call(*a, **k):
                if self.dry:
                    t0 = time.perf_counter()
                    out = fn(*a, **k)
                    timed[kind].append((time.perf_counter() - t0) * 1e3)
                    return out
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                out = fn(*a, **k)
                e.record()
                timed[kind].append((s, e))
                return out
            return call

        # Instance attributes shadow the methods: the sampler calls these three for every forward.
        model.hidden_states = timer("decoder", model.hidden_states)
        model.window_states = timer("decoder", model.window_states)
        head.forward = timer("head", head.forward)
        mask_id = cfg["mask_token_id"]
        sampler = InfoGainSampler(model, mask_id=mask_id)
        prompt = torch.randint(0, mask_id, (prompt_len,), generator=torch.Generator().manual_seed(1)).tolist()
        scale = LLADA["full_layers"] / layers
        out = dict(model=dict(width=cfg["d_model"], heads=cfg["n_heads"], vocab=cfg["vocab_size"], layers=layers,
                              intermediate=cfg["mlp_hidden_size"], dtype="bfloat16"),
                   prompt_len=prompt_len, gen_len=gen_len, block=block, candidates=candidates,
                   scaled_to_layers=LLADA["full_layers"], runs={})
        self.results["sections"]["sampler_step"] = out   # each run is kept as it finishes
        for cache, temperature, fused in STEP_RUNS:
            args = dict(max_new_tokens=gen_len, steps=gen_len, block_length=block, variant="info_gain",
                        candidates=candidates, position_temperature=0.1, temperature=temperature, seed=0,
                        cache=cache, fuse_lm_head=fused)
            # Warm-up with the measured decode itself: a shorter one leaves shapes (and their cuBLAS
            # and attention kernel choices) for the measurement to meet first.
            sampler.generate([prompt], **args)
            for v in timed.values():
                v.clear()
            self.sync()
            t0 = time.perf_counter()
            res = sampler.generate([prompt], return_history=True, **args)
            self.sync()
            total = (time.perf_counter() - t0) * 1e3
            ms = {k: sum(v) if self.dry else sum(s.elapsed_time(e) for s, e in v) for k, v in timed.items()}
            steps = len(res.history)
            rest = total - ms["decoder"] - ms["head"]
            out["runs"][_run_name(cache, temperature, fused)] = dict(
                cache=cache, temperature=temperature, fuse_lm_head=fused, steps=steps,
                lookahead_steps=sum(h["kind"][0] == "lookahead" for h in res.history),
                tokens_per_s=gen_len / total * 1e3, per_step_ms=total / steps,
                decoder_per_step_ms=ms["decoder"] / steps, head_per_step_ms=ms["head"] / steps,
                sampler_per_step_ms=rest / steps, sampler_share=rest / total,
                scaled_share=rest / (rest + ms["head"] + scale * ms["decoder"]))
            self.write()
        out["profile"] = {cache: self.profile_decode(sampler, prompt, dict(
            args, max_new_tokens=block, steps=block, cache=cache, temperature=0.7, fuse_lm_head=False))
            for cache in ("none", "dual")}
        return out

    def profile_decode(self, sampler, prompt: list[int], args: dict) -> dict:
        """``torch.profiler`` over one block's decode: the top ops by device and by host time go
        to a text file beside the JSON; kernel launches, memory copies and stream syncs per step."""
        from torch.profiler import ProfilerActivity, profile
        activities = [ProfilerActivity.CPU] + ([] if self.dry else [ProfilerActivity.CUDA])
        sampler.generate([prompt], **args)
        self.sync()
        with profile(activities=activities) as prof:
            sampler.generate([prompt], **args)
            self.sync()
        events = prof.key_averages()
        text = [f"one block's decode: {args}"]
        for key in ("self_cpu_time_total",) + (() if self.dry else ("self_device_time_total",)):
            text += [f"--- sorted by {key}", events.table(sort_by=key, row_limit=30, max_name_column_width=60)]
        suffix = f".profile_{args['cache']}.txt"
        for path in self.paths:
            path.with_suffix(suffix).write_text("\n".join(text))
        steps = args["steps"]
        count = {e.key: e.count for e in events}
        launches = sum(n for k, n in count.items() if k in ("cudaLaunchKernel", "cuLaunchKernel", "cuLaunchKernelEx"))
        copies = sum(n for k, n in count.items() if k in ("cudaMemcpyAsync", "cudaMemcpy"))
        syncs = sum(n for k, n in count.items() if k in ("cudaStreamSynchronize", "cudaDeviceSynchronize",
                                                          "cudaEventSynchronize"))
        return dict(steps=steps, launches_per_step=launches / steps, memcpy_per_step=copies / steps,
                    syncs_per_step=syncs / steps, file=str(self.paths[0].with_suffix(suffix)))


def _run_name(cache: str, temperature: float, fused: bool) -> str:
    return f"cache={cache} T={temperature:g}" + (" fused head" if fused else "")


def run_all(b: Bench) -> None:
    """Every section, in the order of the table."""
    import bench_sample_candidates
    import bench_softmax_entropy as se
    import bench_state_uncertainty
    import harness
    from harness import Case

    import igkernels as igk
    p = b.profile
    # The GPU backends. The dry run's is Triton under its interpreter: that checks this
    # script's paths, not a speed, so the harness's rule against timing it does not apply.
    gpu = [name for name in ("cuda", "triton") if name in igk.available_backends(b.device)]
    b.results["backends"] = gpu
    many, few, lookahead = harness.LOGITS[p]
    big_head, small_head = harness.HEADS[p]
    (candidates,) = harness.CONFIDENCES[p]
    b.section("copy", b.copy_bandwidth)
    b.section("softmax_entropy_bf16", lambda: b.op(se, Case("softmax_entropy", p, many, 0), gpu + ["naive"]))
    b.section("softmax_entropy_bf16_sampled", lambda: b.op(se, Case("softmax_entropy", p, many, 1), gpu + ["naive"]))
    b.section("softmax_entropy_bf16_few_rows", lambda: b.op(se, Case("softmax_entropy", p, few, 0), gpu + ["naive"]))
    if "triton" in gpu:
        b.section("softmax_entropy_triton_tiles", lambda: b.k1_tiles(se, many))
    b.section("state_uncertainty_lookahead", lambda: b.op(bench_state_uncertainty,
                                                          Case("state_uncertainty", p, lookahead), gpu + ["naive"]))
    b.section("sample_candidates", lambda: b.op(bench_sample_candidates, Case("sample_candidates", p, candidates),
                                                gpu + ["reference", "naive"]))
    # The dry run's one config is the interpreter's default: it checks the sweep's path.
    configs = [{}] if b.dry else SWEEP
    b.section("lm_head_2048", lambda: b.lm_head(big_head, configs))
    b.section("lm_head_256", lambda: b.lm_head(small_head, configs))
    lookahead_shape = (8, 512, 4096, 126464) if not b.dry else (2, 8, 32, 301)
    b.section("lookahead_memory", lambda: b.lookahead_memory(*lookahead_shape))
    b.section("sampler_step", lambda: b.sampler_step(LLADA["layers"], *((128, 128, 32, 8) if not b.dry else (8, 16, 8, 4))))


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
            sp = se["naive"]["ms"] / se[b]["ms"]
            out.append((f"softmax_entropy[{b}] >= {TARGETS['softmax_entropy_speedup']:.0f}x straightforward PyTorch",
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
        # O(rows): per-row partial states of each vocabulary slice, never a [rows, V] tensor in any
        # dtype; the bound is a sixteenth of the bf16 logits.
        V = sec["lookahead_memory"]["V"]
        out.append(("fused LM head extra memory O(rows), < rows x V x 2 B / 16",
                    f"{f / 2**20:.1f} MiB = {f / rows / 1024:.1f} KiB/row for {rows} rows "
                    f"(unfused {mem['unfused']['peak_extra_bytes'] / 2**20:.0f} MiB)",
                    "PASS" if f < rows * V * 2 / 16 else "FAIL"))
    sm = sec.get("sampler_step")
    if sm and sm["runs"]:
        for name, t in sm["runs"].items():
            if t["fuse_lm_head"]:   # its head runs inside the sampler's time: not the target's split
                continue
            out.append((f"sampler work <= {TARGETS['sampler_share']:.0%} of a step, {name}, decoder scaled "
                        f"to {sm['scaled_to_layers']} layers", f"{t['scaled_share']:.1%} "
                        f"({t['sampler_share']:.1%} of the {sm['model']['layers']}-layer step)",
                        "PASS" if t["scaled_share"] <= TARGETS["sampler_share"] else "FAIL"))
    else:
        out.append(("sampler work share", "-", "NOT MEASURED"))
    return out


def _op_label(name: str, s: dict) -> str:
    """An op section's name and sizes, for the table."""
    if "R" in s:
        return f"{name} {s['R']}x{s['V']}"
    if "N" in s:
        return f"{name} {s['B']}x{s['T']} N{s['N']} k{s['k']}"
    return f"{name} {s['B']}x{s['T']}x{s['V']}"


def table(res: dict) -> str:
    """The short table printed last: medians, bandwidth, ratios, errors and verdicts."""
    sec = res["sections"]
    copy = sec.get("copy", {}).get("gbps")
    lines = [f"device: {res['device']} | torch {res['torch']} | triton {res['triton']} | "
             f"copy bandwidth {copy:.0f} GB/s" if copy else f"device: {res['device']} | copy bandwidth: not measured"]
    lines.append(f"{'op':<44}{'backend':<10}{'median ms':>10}{'GB/s':>9}{'% copy':>8}{'vs naive':>10}")
    for name in OP_SECTIONS:
        s = sec.get(name)
        if not s:
            continue
        base = s["times"].get("naive", {}).get("ms")
        for b, t in s["times"].items():
            gbps = f"{t['gbps']:.0f}" if "gbps" in t else "-"
            pct = f"{100 * t['gbps'] / copy:.0f}" if copy and "gbps" in t else "-"
            vs = f"{base / t['ms']:.1f}x" if base else "-"
            lines.append(f"{_op_label(name, s):<44}{b:<10}{t['ms']:>10.3f}{gbps:>9}{pct:>8}{vs:>10}")
    s = sec.get("softmax_entropy_triton_tiles")
    if s:
        for block, t in s["ms_by_block"].items():
            lines.append(f"{'triton K1 tile %s, %dx%d' % (block, s['R'], s['V']):<44}{'triton':<10}{t['0']:>10.3f}"
                         f"{s['bytes'] / t['0'] / 1e6:>9.0f}   (one draw: {t['1']:.3f} ms)")
    for name in ("lm_head_2048", "lm_head_256"):
        s = sec.get(name)
        if not s:
            continue
        for k in ("matmul", "unfused", "fused", "fused_sampled"):
            t = s["times"][k]
            lines.append(f"{'LM head %dx%dx%d' % (s['R'], s['D'], s['V']):<44}{k:<14}{t['ms']:>8.3f} ms "
                         f"{t['tflops']:>6.0f} TFLOP/s {t['ms'] / s['times']['matmul']['ms']:>5.2f}x matmul")
        for t in s["times"]["fused_sweep"]:
            c = t["config"]
            tile = f"{c.get('BLOCK_M')}x{c.get('BLOCK_N')}x{c.get('BLOCK_K')} w{c.get('num_warps')} s{c.get('num_stages')}"
            lines.append(f"  sweep {tile:<24}" + (f"{t['ms']:>8.3f} ms {t['ms'] / s['times']['matmul']['ms']:>5.2f}x "
                                                 "matmul" if "ms" in t else t["error"][:80]))
    s = sec.get("lookahead_memory")
    if s:
        for k, v in s["memory"].items():
            if v["peak_extra_bytes"] is not None:
                lines.append(f"lookahead scoring {s['canvases']}x{s['T']} ({s['rows']} rows) {k:<8} peak extra "
                             f"{v['peak_extra_bytes'] / 2**20:>9.1f} MiB")
    s = sec.get("sampler_step")
    if s:
        model = s["model"]
        lines.append(f"decode: native LLaDA, {model['layers']} of 32 layers x {model['width']}, V {model['vocab']}, "
                     f"{model['dtype']}; prompt {s['prompt_len']} + {s['gen_len']} tokens, block {s['block']}, "
                     f"N {s['candidates']}")
        for name, t in s["runs"].items():
            lines.append(f"  {name:<28}{t['tokens_per_s']:>7.1f} tok/s {t['per_step_ms']:>7.2f} ms/step = decoder "
                         f"{t['decoder_per_step_ms']:.2f} + head {t['head_per_step_ms']:.2f} + sampler "
                         f"{t['sampler_per_step_ms']:.2f} ({t['steps']} steps, {t['lookahead_steps']} lookahead)")
        for cache, p in s.get("profile", {}).items():
            lines.append(f"  profiled block, cache={cache} T=0.7: {p['launches_per_step']:.0f} kernel launches, "
                         f"{p['memcpy_per_step']:.1f} memcpy, {p['syncs_per_step']:.1f} stream syncs per step "
                         f"({p['file']})")
    for name, err in res["errors"].items():
        lines.append(f"ERROR in {name}: {err}")
    lines.append("targets (issue 4):")
    for target, measured, verdict in verdicts(res):
        lines.append(f"  {verdict:<13}{target}: {measured}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
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
    outs = [Path(args.out)] + ([Path(os.environ["OUT"])] if os.environ.get("OUT") else [])
    b = Bench(args.dry_run, outs, dict(
        device="cpu (dry run)" if args.dry_run else torch.cuda.get_device_name(),
        sm_count=None if args.dry_run else torch.cuda.get_device_properties(0).multi_processor_count,
        torch=torch.__version__, triton=triton.__version__, python=platform.python_version(),
        time=datetime.now(timezone.utc).isoformat(timespec="seconds"), dry_run=args.dry_run))
    run_all(b)
    print(table(b.results))
    print(f"results: {b.paths[0]}")
    return 1 if b.results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
