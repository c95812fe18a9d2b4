"""softmax_entropy: each backend against the reference and the straightforward PyTorch code."""
import pytest
from conftest import BACKENDS, SHAPES, inputs, rounds_for
from naive import naive_softmax_entropy

import igkernels as igk


@pytest.mark.parametrize("num_samples", [0, 1])
@pytest.mark.parametrize("impl", ["naive"] + BACKENDS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_softmax_entropy(benchmark, shape, impl, num_samples):
    logits, mask = inputs(shape)
    lead = logits.shape[:-1]
    rows = mask.reshape(-1).nonzero().squeeze(-1)
    benchmark.group = f"softmax_entropy {shape} S={num_samples}"
    if impl == "naive":
        selected = logits.reshape(-1, logits.shape[-1])[rows] if len(lead) > 1 else logits
        fn = lambda: naive_softmax_entropy(selected, num_samples)
    else:
        fn = lambda: igk.softmax_entropy(logits, rows=rows if len(lead) > 1 else None, num_samples=num_samples,
                                         temperature=1.0, seed=1, backend=impl)
    benchmark.pedantic(fn, rounds=rounds_for(impl), iterations=1, warmup_rounds=0 if impl == "reference" else 1)
