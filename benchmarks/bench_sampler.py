"""InfoGainSampler on the CPU: per-step latency, tokens/s, and the share of step time spent
outside the model's forward, with backend="reference" and each fused backend.

    python -m pytest benchmarks/bench_sampler.py          # pytest-benchmark
    python benchmarks/bench_sampler.py                    # the table

The model is a small random-weight BERT masked LM (vocabulary 32000, 4 layers, width 256)
built in memory, so nothing is downloaded; prompts are token ids. At temperature > 0 the
reference backend draws its Gumbel noise with int64 Philox tensors over every masked row x
candidate x vocabulary entry (minutes per step here), so it is measured at temperature 0 only;
tests/sampling/test_sampler.py checks that the backends decode identically at both temperatures.
"""
from __future__ import annotations

import os
import sys
import time

import pytest
import torch

import igkernels as igk
from igkernels.sampling import InfoGainSampler

BACKENDS = [b for b in igk.available_backends("cpu") if b != "triton"]
CASES = [(b, 0.0) for b in BACKENDS] + [(b, 0.7) for b in BACKENDS if b != "reference"]
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


def main() -> int:
    torch.set_num_threads(os.cpu_count() or 1)
    run(BACKENDS[0], 0.0)      # warm-up (model build, first-call allocations)
    print(f"InfoGainSampler on CPU ({torch.get_num_threads()} threads): BERT-like V={VOCAB}, 4x256, "
          f"B={len(PROMPT_LENGTHS)} prompts {PROMPT_LENGTHS}, {CASE}")
    print(f"{'backend':<10} {'temp':>5} {'ms/step':>9} {'tokens/s':>9} {'outside fwd':>12} {'forwards':>9}")
    seqs = {}
    for backend, temperature in CASES:
        r = run(backend, temperature)
        seqs[(backend, temperature)] = r["sequences"]
        print(f"{backend:<10} {temperature:>5.1f} {r['step_ms']:>9.1f} {r['tokens_per_s']:>9.1f} "
              f"{100 * r['outside_forward']:>11.1f}% {r['num_forward']:>9}")
    same = all(torch.equal(seqs[(b, 0.0)], seqs[(BACKENDS[0], 0.0)]) for b in BACKENDS)
    print(f"identical sequences across backends at temperature 0: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
