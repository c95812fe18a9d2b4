"""InfoGainSampler on the CPU: per-step latency, tokens/s, and the share of step time spent
outside the model's forward, with backend="reference" and each fused backend; and the KV cache
(``--cache``): native LLaDA- and SDAR-architecture random checkpoints decoded with cache none /
prefix / dual, and threshold-parallel decoding.

    python -m pytest benchmarks/bench_sampler.py          # pytest-benchmark (backends)
    python benchmarks/bench_sampler.py                    # the backends table
    python benchmarks/bench_sampler.py --backend cpu --repeat 3   # one backend, best of 3 decodes
    python benchmarks/bench_sampler.py --cache            # the cache table (minutes)
    MALLOC_MMAP_THRESHOLD_=536870912 MALLOC_TRIM_THRESHOLD_=1073741824 python benchmarks/bench_sampler.py
    THP_MEM_ALLOC_ENABLE=1 python benchmarks/bench_sampler.py   # huge pages for the forward's outputs

PyTorch's CPU tensors come from glibc malloc, which maps every allocation above its mmap
threshold (at most 32 MB when glibc adjusts it; here the forward's [8, T, 32000] logits, 74 MB)
afresh: 4 KB pages faulted in and unmapped again on every step. Setting the threshold (and the
trim threshold) above the largest tensor keeps that memory in the heap for the next step;
THP_MEM_ALLOC_ENABLE=1 (read at torch's first allocation) asks for huge pages for allocations
of 2 MB and more instead. The table's header says which is set.

The model is a small random-weight BERT masked LM (vocabulary 32000, 4 layers, width 256)
built in memory, so nothing is downloaded; prompts are token ids.
tests/sampling/test_sampler.py checks that the backends decode identically at both temperatures.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import pytest
import torch

import igkernels as igk
from igkernels.sampling import InfoGainSampler

BACKENDS = [b for b in igk.available_backends("cpu") if b != "triton"]
CASES = [(b, T) for T in (0.0, 0.7) for b in BACKENDS]
VOCAB, MASK_ID = 32000, 4
CASE = dict(max_new_tokens=32, steps=32, block_length=16, candidates=4, position_temperature=0.2)
PROMPT_LENGTHS = (24, 40)
_model = None


def model():
    global _model
    if _model is None:
        from transformers import BertConfig, BertForMaskedLM
        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=VOCAB, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                         intermediate_size=1024, max_position_embeddings=256)
        _model = BertForMaskedLM(cfg).eval()
    return _model


def prompts():
    g = torch.Generator().manual_seed(1)
    return [torch.randint(5, VOCAB, (n,), generator=g).tolist() for n in PROMPT_LENGTHS]


def run(backend: str, temperature: float) -> dict:
    """Decode once; returns seconds per step, tokens/s and the share of time outside the forward."""
    sampler = InfoGainSampler(model(), None, mask_id=MASK_ID, adapter="masked_lm")
    forward = sampler.adapter.forward
    spent = [0.0]

    def timed(*a, **k):
        t = time.perf_counter()
        out = forward(*a, **k)
        spent[0] += time.perf_counter() - t
        return out

    sampler.adapter.forward = timed
    t0 = time.perf_counter()
    out = sampler.generate(prompts(), temperature=temperature, backend=backend, **CASE)
    total = time.perf_counter() - t0
    steps = CASE["steps"]
    return {"backend": backend, "temperature": temperature, "step_ms": 1e3 * total / steps,
            "tokens_per_s": len(PROMPT_LENGTHS) * CASE["max_new_tokens"] / total,
            "outside_forward": 1.0 - spent[0] / total, "num_forward": out.num_forward,
            "sequences": out.sequences}


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(os.cpu_count() or 1)


@pytest.mark.parametrize("backend, temperature", CASES)
def test_sampler(benchmark, backend, temperature):
    benchmark.group = f"InfoGainSampler B={len(PROMPT_LENGTHS)} N={CASE['candidates']} T={temperature}"
    res = benchmark.pedantic(run, args=(backend, temperature), rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update({k: v for k, v in res.items() if k != "sequences"})


# ---------------------------------------------------------------- the KV cache
CACHE_CASE = dict(max_new_tokens=64, steps=64, block_length=16, candidates=8, position_temperature=0.2,
                  variant="info_gain", seed=0)
CACHE_PROMPT = 192
CACHE_MODEL = dict(layers=8, hidden=256)            # ~74M parameters, most in the [V, D] embedding and head


def cache_checkpoints(out: str) -> dict:
    """Random native LLaDA and SDAR checkpoints (the authors' configs, real vocabularies) from
    ../shared/upstream; SDAR's attention block set to the decoding block, 16."""
    import json
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from oracle import upstream
    dirs = upstream().build(out, families=("llada", "sdar"), **CACHE_MODEL)
    config = json.loads((dirs["sdar"] / "config.json").read_text())
    config["block_size"] = CACHE_CASE["block_length"]
    (dirs["sdar"] / "config.json").write_text(json.dumps(config))
    return dirs


def run_cache(model, tok, prompt: list[int], **kw) -> dict:
    """Decode once, counting the tokens each forward runs through the model and the cache's bytes."""
    from igkernels.models.layers import KVCache
    tokens, cache_bytes = [0], [0]
    full, window, store = type(model).hidden_states, type(model).window_states, KVCache.store

    def count_full(self, ids, *a, **k):
        tokens[0] += ids.numel()
        return full(self, ids, *a, **k)

    def count_window(self, ids, *a, **k):
        tokens[0] += ids.numel()
        return window(self, ids, *a, **k)

    def count_store(self, *a, **k):
        store(self, *a, **k)
        cache_bytes[0] = max(cache_bytes[0], self.nbytes())

    type(model).hidden_states, type(model).window_states, KVCache.store = count_full, count_window, count_store
    try:
        t0 = time.perf_counter()
        out = igk.InfoGainSampler(model, tok).generate([prompt], return_history=True, **{**CACHE_CASE, **kw})
        seconds = time.perf_counter() - t0
    finally:
        type(model).hidden_states, type(model).window_states, KVCache.store = full, window, store
    steps = len(out.history)
    return dict(steps=steps, tokens_per_step=tokens[0] / steps, tok_s=CACHE_CASE["max_new_tokens"] / seconds,
                seconds=seconds, cache_mib=cache_bytes[0] / 2 ** 20, sequence=out.sequences[0],
                canvases=sum(sum(h["canvases"]) for h in out.history))


def cache_main(out: str) -> int:
    dirs = cache_checkpoints(out)
    g = torch.Generator().manual_seed(2)
    print(f"KV cache, {torch.get_num_threads()} threads: prompt {CACHE_PROMPT} + {CACHE_CASE}")
    print(f"{'model':<7} {'params':>7} {'cache':<7} {'mode':<9} {'steps':>5} {'tokens/step':>12} {'tok/s':>7} "
          f"{'vs none':>8} {'cache MiB':>10} {'canvases':>9} {'same as none':>13}")
    for family in ("llada", "sdar"):
        model, tok = igk.load(dirs[family])
        prompt = torch.randint(0, 1000, (CACHE_PROMPT,), generator=g).tolist()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        base = None
        for cache, mode in (("none", {}), ("prefix", {}), ("dual", {}),
                            ("dual", dict(threshold=0.9, threshold_mode="parallel"))):
            r = run_cache(model, tok, prompt, cache=cache, **mode)
            base = base or r
            label = "parallel" if mode else "-"
            print(f"{family:<7} {params:>6.1f}M {cache:<7} {label:<9} {r['steps']:>5} {r['tokens_per_step']:>12.0f} "
                  f"{r['tok_s']:>7.2f} {r['tok_s'] / base['tok_s']:>7.2f}x {r['cache_mib']:>10.1f} "
                  f"{r['canvases']:>9} {str(torch.equal(r['sequence'], base['sequence'])):>13}", flush=True)
    return 0


def main() -> int:
    torch.set_num_threads(os.cpu_count() or 1)
    ap = argparse.ArgumentParser(description="InfoGainSampler per-step cost on the CPU")
    ap.add_argument("--cache", action="store_true", help="the KV cache table instead (minutes)")
    ap.add_argument("--backend", action="append", choices=BACKENDS, help="only these backends (repeatable)")
    ap.add_argument("--repeat", type=int, default=1, help="decodes per case; the fastest is reported")
    args = ap.parse_args()
    if args.cache:
        import tempfile
        return cache_main(tempfile.mkdtemp(prefix="igk-cache-"))
    backends = args.backend or BACKENDS
    run(backends[0], 0.0)      # warm-up (model build, first-call allocations)
    alloc = {k: os.environ.get(k, "unset") for k in ("THP_MEM_ALLOC_ENABLE", "MALLOC_MMAP_THRESHOLD_",
                                                      "MALLOC_TRIM_THRESHOLD_")}
    print(f"InfoGainSampler on CPU ({torch.get_num_threads()} threads, "
          + ", ".join(f"{k}={v}" for k, v in alloc.items()) + f"): BERT-like V={VOCAB}, 4x256, "
          f"B={len(PROMPT_LENGTHS)} prompts {PROMPT_LENGTHS}, {CASE}, best of {args.repeat}")
    print(f"{'backend':<10} {'temp':>5} {'ms/step':>9} {'tokens/s':>9} {'outside fwd':>12} {'forwards':>9}")
    seqs = {}
    for backend, temperature in [(b, T) for b, T in CASES if b in backends]:
        r = min((run(backend, temperature) for _ in range(max(1, args.repeat))), key=lambda r: r["step_ms"])
        seqs[(backend, temperature)] = r["sequences"]
        print(f"{backend:<10} {temperature:>5.1f} {r['step_ms']:>9.1f} {r['tokens_per_s']:>9.1f} "
              f"{100 * r['outside_forward']:>11.1f}% {r['num_forward']:>9}")
    same = all(torch.equal(seqs[(b, 0.0)], seqs[(backends[0], 0.0)]) for b in backends)
    print(f"identical sequences across backends at temperature 0: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
