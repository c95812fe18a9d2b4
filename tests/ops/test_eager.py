"""``ops._eager.call``: plain eager calls skip torch's dispatcher, anything that could observe
the dispatch goes through it, and both give the same results."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import igkernels as igk
from igkernels.ops import _eager


class _Seen(TorchDispatchMode):
    """Records the ops dispatched while active."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


class _FunctionMode(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def _calls(gen):
    logits = torch.randn(3, 5, 101, generator=gen)
    rows = torch.tensor([0, 4, 7, 14, 2])
    conf, valid = torch.rand(3, 5, generator=gen), torch.rand(3, 5, generator=gen) < 0.7
    hidden, weight = torch.randn(3, 5, 16, generator=gen), torch.randn(101, 16, generator=gen)
    return {
        "softmax_entropy": lambda: igk.softmax_entropy(logits, rows=rows, num_samples=2, temperature=0.7, seed=3),
        "state_uncertainty": lambda: igk.state_uncertainty(logits, valid),
        "sample_candidates": lambda: igk.sample_candidates(conf, valid, k=2, num_candidates=4,
                                                           position_temperature=0.3, seed=5, offset=1),
        "linear_softmax_entropy": lambda: igk.linear_softmax_entropy(hidden, weight, rows=rows, num_samples=1,
                                                                     temperature=1.0, seed=9),
    }


@pytest.mark.parametrize("op", ["softmax_entropy", "state_uncertainty", "sample_candidates",
                                "linear_softmax_entropy"])
def test_eager_skips_the_dispatcher_and_a_mode_sees_the_op(op, gen, monkeypatch):
    through, call_ = [], _eager.call

    def recording(registered, impl, *args):
        def spy(*a):
            through.append(op)
            return registered(*a)
        return call_(spy, impl, *args)
    monkeypatch.setattr(_eager, "call", recording)
    call = _calls(gen)[op]
    direct = call()
    assert through == []
    with _Seen() as seen:
        dispatched = call()
    assert through == [op] and f"igkernels.{op}" in seen.ops
    for a, b in zip(torch.utils._pytree.tree_leaves(direct), torch.utils._pytree.tree_leaves(dispatched)):
        assert torch.equal(a, b)


def test_what_observes_the_dispatch(gen):
    assert not _eager._observed()
    with _Seen():
        assert _eager._observed()
    with _FunctionMode():
        assert _eager._observed()
    seen = []
    torch.vmap(lambda x: seen.append(_eager._observed()) or x)(torch.ones(2, 3))
    assert seen == [True]
    compiled = torch.compile(lambda x: x + int(_eager._observed()), fullgraph=True, backend="eager")
    assert compiled(torch.zeros(1)).item() == 1


def test_subclass_and_meta_tensors_dispatch(monkeypatch, gen):
    dispatched = []

    def op(*args):
        dispatched.append(args)
        return "op"
    x = torch.randn(2, 3, generator=gen)
    assert _eager.call(op, lambda *a: "impl", x, None, 1) == "impl"
    assert _eager.call(op, lambda *a: "impl", torch.empty(2, device="meta")) == "op"
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode() as mode:
        fake = mode.from_tensor(torch.randn(2, 5, 11))
    assert _eager.call(op, lambda *a: "impl", fake) == "op"
    assert _eager.call(op, lambda *a: "impl", torch.nn.Parameter(torch.ones(2), requires_grad=False)) == "impl"
    assert len(dispatched) == 2


def test_inputs_that_require_grad_give_plain_outputs(gen):
    """The ops have no gradient: outputs of inputs that require grad carry no grad_fn (whose
    backward would fail), and equal those of the detached inputs."""
    x = torch.randn(3, 2, 37, generator=gen, requires_grad=True)
    mask = torch.rand(3, 2, generator=gen) < 0.7
    hidden, weight = torch.randn(4, 8, generator=gen), torch.randn(37, 8, generator=gen, requires_grad=True)
    got = [igk.softmax_entropy(x, num_samples=2, temperature=1.0).entropy, igk.state_uncertainty(x, mask),
           igk.linear_softmax_entropy(hidden, weight, num_samples=1, temperature=1.0).entropy]
    want = [igk.softmax_entropy(x.detach(), num_samples=2, temperature=1.0).entropy,
            igk.state_uncertainty(x.detach(), mask),
            igk.linear_softmax_entropy(hidden, weight.detach(), num_samples=1, temperature=1.0).entropy]
    for a, b in zip(got, want):
        assert not a.requires_grad and a.grad_fn is None and torch.equal(a, b)
    assert x.requires_grad and weight.requires_grad


def test_fake_tensors_get_shapes_through_the_public_ops():
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        st = igk.softmax_entropy(torch.randn(2, 5, 11), rows=torch.tensor([0, 3]), num_samples=3,
                                 temperature=1.0)
    assert st.samples.shape == (2, 3) and st.entropy.shape == (2,)
