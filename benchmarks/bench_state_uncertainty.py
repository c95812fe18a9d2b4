"""state_uncertainty: each backend against the reference and the straightforward PyTorch code
(softmax over every row, entropy, masked mean)."""
import pytest
from conftest import BACKENDS, inputs, rounds_for
from naive import naive_state_uncertainty

import igkernels as igk


@pytest.mark.parametrize("impl", ["naive"] + BACKENDS)
def test_state_uncertainty(benchmark, impl):
    logits, mask = inputs("lookahead8x256-V126464-bf16")
    benchmark.group = "state_uncertainty lookahead8x256-V126464-bf16"
    if impl == "naive":
        fn = lambda: naive_state_uncertainty(logits, mask)
    else:
        fn = lambda: igk.state_uncertainty(logits, mask, backend=impl)
    benchmark.pedantic(fn, rounds=rounds_for(impl), iterations=1, warmup_rounds=0 if impl == "reference" else 1)
