"""One host sync per decoding step, on every backend.

On the CPU nothing syncs, so the test counts the calls that would (reading a tensor's values on
the host: ``.cpu()``, ``.item()``, ``bool()``, ``.tolist()``, ``nonzero``, boolean indexing, ...;
copying host data to a device: ``torch.tensor(x, device=...)``)
with every device treated as a GPU (``deferred.HOST_DEVICES`` emptied, so the ops defer their
data checks as on a GPU). The ops' own implementations run inline so their calls are counted
too. Where a GPU is present the same decode runs under ``torch.cuda.set_sync_debug_mode``.
"""
import importlib
import warnings

import pytest
import torch
from mdm_fixtures import MASK, VOCAB, make_tokens
from torch.overrides import TorchFunctionMode

import igkernels as igk
from igkernels.ops import deferred
from igkernels.sampling import sampler as sampler_module

_SYNCING = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "cpu", "nonzero",
            "argwhere", "masked_select", "unique", "unique_consecutive", "equal", "allclose"}
_OPS = ("softmax_entropy", "state_uncertainty", "sample_candidates", "linear_softmax_entropy")
_INLINE = {op._qualname: op._init_fn for op in (importlib.import_module(f"igkernels.ops.{n}")._op for n in _OPS)}


class SyncCounter(TorchFunctionMode):
    """Counts host reads of tensor values; runs igkernels' registered ops inline to see inside them."""

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "_qualified_op_name", None)
        if name in _INLINE:
            with self:
                return _INLINE[name](*args, **kwargs)
        fname = getattr(func, "__name__", "")
        bool_index = fname in ("__getitem__", "__setitem__") and any(
            isinstance(a, torch.Tensor) and a.dtype == torch.bool
            for a in (args[1] if isinstance(args[1], tuple) else (args[1],)))
        lazy_repeat = fname == "repeat_interleave" and "output_size" not in kwargs and isinstance(
            args[1] if len(args) > 1 else kwargs.get("repeats"), torch.Tensor)
        # Host data copied to a device tensor: a blocking copy, which syncs on a GPU (seen on an H200).
        upload = fname in ("tensor", "as_tensor") and kwargs.get("device") is not None and not isinstance(
            args[0] if args else kwargs.get("data"), torch.Tensor)
        if fname in _SYNCING or bool_index or lazy_repeat or upload:
            self.calls.append(fname)
        return func(*args, **kwargs)


class TinyLM(torch.nn.Module):
    """Pure tensor ops (no host reads of its own) with an output projection for the fused head."""

    def __init__(self, V=len(VOCAB), D=16):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.emb = torch.nn.Parameter(torch.randn(V, D, generator=g))
        self.mix = torch.nn.Parameter(torch.randn(D, D, generator=g) / 4)
        self.head = torch.nn.Linear(D, V)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(V, D, generator=g))
            self.head.bias.copy_(torch.randn(V, generator=g))

    def get_output_embeddings(self):
        return self.head

    def forward(self, input_ids, attention_mask=None):
        w = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).float()[..., None]
        h = self.emb[input_ids]
        h = torch.tanh(h + ((h * w).sum(1, keepdim=True) / w.sum(1, keepdim=True)) @ self.mix)
        return type("Out", (), {"logits": self.head(h)})()


PROMPTS = [make_tokens("the cat sat"), make_tokens("a dog ran on the mat"), make_tokens("we")]
CASES = [dict(variant="info_gain", temperature=0.0), dict(variant="lookum", temperature=0.8),
         dict(variant="info_gain", temperature=0.8, threshold=0.3, max_forward_batch=4),
         dict(variant="info_gain", temperature=0.8, fuse_lm_head=True),
         dict(variant="random"), dict(variant="margin", temperature=0.5)]


def _decode(backend, case, counter=None):
    """Decode the padded batch; returns (output, number of steps, counted calls inside decode)."""
    s = igk.InfoGainSampler(TinyLM(), None, mask_id=MASK)
    inner = sampler_module.decode

    def counted(*a, **k):
        with counter:
            return inner(*a, **k)

    sampler_module.decode = counted if counter is not None else inner
    try:
        out = s.generate(PROMPTS, max_new_tokens=7, steps=5, block_length=4, candidates=4, position_temperature=0.5,
                         backend=backend, return_history=True, **case)
    finally:
        sampler_module.decode = inner
    return out, len(out.history)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_one_host_read_per_step_on_cpu(monkeypatch, backend, case):
    if backend not in igk.available_backends("cpu"):
        pytest.skip(f"{backend} is not built here")
    monkeypatch.setattr(deferred, "HOST_DEVICES", frozenset())
    counter = SyncCounter()
    out, steps = _decode(backend, case, counter)
    # one read per step, and one more for the plan that finds every sequence done
    assert counter.calls == ["cpu"] * (steps + 1), counter.calls
    monkeypatch.setattr(deferred, "HOST_DEVICES", frozenset({"cpu"}))
    assert torch.equal(_decode(backend, case)[0].sequences, out.sequences)   # deferring changes nothing


def test_deferred_bad_row_is_raised_at_the_next_step(monkeypatch):
    """A bad logits row found on a 'device' surfaces at the step's sync with the usual error."""
    monkeypatch.setattr(deferred, "HOST_DEVICES", frozenset())

    class NaNLM(TinyLM):
        def forward(self, input_ids, attention_mask=None):
            out = super().forward(input_ids, attention_mask)
            out.logits = out.logits.clone()
            out.logits[:, 3] = float("nan")
            return out

    s = igk.InfoGainSampler(NaNLM(), None, mask_id=MASK)
    with pytest.raises(igk.BadRowError, match=r"logits row \d+ \(sequence 0, position 3\)"):
        s.generate([PROMPTS[0]], max_new_tokens=4, steps=2, block_length=4, backend="reference")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("backend", ["cuda", "triton", "reference"])
def test_one_sync_per_step_on_cuda(backend, case):
    s = igk.InfoGainSampler(TinyLM().cuda(), None, mask_id=MASK)
    kw = dict(max_new_tokens=7, steps=5, block_length=4, candidates=4, position_temperature=0.5, backend=backend,
              return_history=True, **case)
    s.generate(PROMPTS, **kw)                      # compile and warm up outside the count
    inner = sampler_module.decode
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def watched(*a, **k):
            torch.cuda.set_sync_debug_mode("warn")
            try:
                return inner(*a, **k)
            finally:
                torch.cuda.set_sync_debug_mode(0)

        sampler_module.decode = watched
        try:
            out = s.generate(PROMPTS, **kw)
        finally:
            sampler_module.decode = inner
    # (not the debug mode's own warning that it is a prototype, which says "synchronizing" too)
    syncs = [w for w in caught if "called a synchronizing CUDA operation" in str(w.message)]
    assert len(syncs) == len(out.history) + 1, [str(w.message) for w in syncs]


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_tiled_head_reads_nothing_on_the_host(temperature):
    """The CUDA backend's fused LM head (tiled_head, PyTorch tiles) with draws: no host read or
    host-to-device copy (its per-tile tempered weights once copied 1 / temperature: 28 syncs in
    a 5-step decode on an H200)."""
    from igkernels.backends import tiled_head
    g = torch.Generator().manual_seed(0)
    h, w = torch.randn(6, 16, generator=g), torch.randn(301, 16, generator=g)
    rows, keys = torch.tensor([0, 2, 5]), torch.tensor([7, 8, 9])
    counter = SyncCounter()
    with counter:
        tiled_head.linear_softmax_entropy(h, rows, w, None, keys, rows, 3, temperature, 11)
    assert counter.calls == []
