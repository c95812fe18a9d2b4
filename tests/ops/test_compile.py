"""The ops are torch.library custom ops with fake implementations: ``torch.compile(fullgraph=True)``
traces a decoding-step-like function through all four without a graph break, and the compiled
function returns what eager returns."""
import pytest
import torch

import igkernels as igk


def step(logits, rows, mask, conf, valid, hidden, weight, seeds):
    st = igk.softmax_entropy(logits, rows=rows, num_samples=2, temperature=0.7, seed=seeds, offset=1)
    u = igk.state_uncertainty(logits, mask)
    cand = igk.sample_candidates(conf, valid, k=2, num_candidates=4, position_temperature=0.2, seed=5, offset=3)
    head = igk.linear_softmax_entropy(hidden, weight, rows=rows, num_samples=1, temperature=1.0, seed=9)
    J = -(u[:, None] + st.entropy.reshape(-1)[:4])
    return st.samples, st.max_prob * 2, J, cand.positions, cand.unique, head.entropy, head.samples


def _inputs(gen):
    logits = torch.randn(3, 5, 101, generator=gen)
    rows = torch.tensor([0, 4, 7, 14, 2])
    mask = torch.rand(3, 5, generator=gen) < 0.5
    conf = torch.rand(3, 5, generator=gen)
    valid = torch.ones(3, 5, dtype=torch.bool)
    hidden = torch.randn(3, 5, 16, generator=gen)
    weight = torch.randn(101, 16, generator=gen)
    seeds = torch.arange(5, dtype=torch.int64) + 100
    return logits, rows, mask, conf, valid, hidden, weight, seeds


@pytest.mark.parametrize("compiler", ["aot_eager", "inductor"])
def test_fullgraph_compile_matches_eager(compiler, gen):
    args = _inputs(gen)
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend=compiler)
    for got, want in zip(compiled(*args), step(*args)):
        assert torch.equal(got, want)
    with igk.use_backend("reference"):                  # the backend is chosen when the op runs
        for got, want in zip(compiled(*args), step(*args)):
            torch.testing.assert_close(got, want)


def test_compiled_ops_still_raise_on_bad_data(gen):
    logits, rows, *_ = _inputs(gen)
    logits[0, 4] = float("nan")
    f = torch.compile(lambda x, r: igk.softmax_entropy(x, rows=r).entropy, fullgraph=True, backend="aot_eager")
    with pytest.raises(igk.BadRowError, match="logits row 4 "):
        f(logits, rows)


def _registered(gen):
    logits, rows, mask, conf, valid, hidden, weight, seeds = _inputs(gen)
    ops = torch.ops.igkernels
    return [
        (ops.softmax_entropy.default, (logits, rows, seeds, 0, 2, 0.7, 1, None)),
        (ops.softmax_entropy.default, (logits, None, None, 5, 0, 0.0, 0, None)),
        (ops.state_uncertainty.default, (logits, mask, None)),
        (ops.sample_candidates.default, (conf[:, None, :].expand(3, 4, 5).contiguous(), valid, 2, None, 4, 0.3,
                                         None, 5, 1, None)),
        (ops.linear_softmax_entropy.default, (hidden, weight, None, rows, None, 9, 1, 1.0, 0, None)),
    ]


@pytest.mark.parametrize("case", range(5))
def test_registered_ops_pass_opcheck(case, gen):
    """Schema, fake implementation and AOT dispatch of each registered op (plain eager calls skip
    the dispatcher, so this is where the registration itself is checked)."""
    op, args = _registered(gen)[case]
    torch.library.opcheck(op, args)
