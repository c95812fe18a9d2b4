"""Property tests of the op contracts: every fused backend against the reference on inputs drawn
by Hypothesis (shapes down to empty, odd V, every dtype, strided views, ties, -0.0, subnormals,
logits at the ends of float32, NaN / +inf / all--inf rows, rows out of range, odd arguments).

For every example both return results equal within the tolerances of ``tests/inputs.py``
(draws: the same tokens bar near-ties), or both raise the same exception with the same
message; nothing passed in is modified. Examples are few on the interpreted Triton backend.
"""
import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from impls import Impl, cpu
from inputs import DTYPES, TOL, assert_matches_reference

import igkernels as igk
from igkernels.backends import registry, tiled_head

INF, NAN = math.inf, math.nan
# Values a row is built from: plain, tied, signed zeros, subnormals, the ends of float32.
FINITE = [0.0, -0.0, 1.0, -1.0, 2.0, 1e-40, -1e-40, 1e16, -1e16, 3e38, -3e38]
BAD = [INF, NAN]
TEMPERATURES = [0.0, 0.5, 1.0, 3.0, 1e-30, 1e30]
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


def _settings(impl):
    return settings(max_examples=25 if impl.interpreted else 150, deadline=None, suppress_health_check=HEALTH,
                    database=None)


@st.composite
def logit_rows(draw, rows: int, V: int) -> torch.Tensor:
    """[rows, V] float32 logits; each row plain, tied, extreme, all -inf, or holding NaN / +inf."""
    out = []
    for _ in range(rows):
        style = draw(st.sampled_from(["plain", "plain", "ties", "extreme", "neg_inf", "all_neg_inf", "bad"]))
        if style == "all_neg_inf":
            out.append([-INF] * V)
            continue
        plain = st.floats(-30, 30, width=32)
        element = {"plain": plain, "ties": st.integers(-2, 2).map(float),
                   "extreme": st.one_of(plain, st.sampled_from(FINITE)),
                   "neg_inf": st.one_of(plain, st.just(-INF)),
                   "bad": st.one_of(plain, st.sampled_from(FINITE + BAD + [-INF]))}[style]
        out.append(draw(st.lists(element, min_size=V, max_size=V)))
    return torch.tensor(out, dtype=torch.float32).reshape(rows, V)


@st.composite
def laid_out(draw, x: torch.Tensor) -> torch.Tensor:
    """``x`` as drawn: contiguous, or a view whose rows or columns are every other element of a
    larger tensor holding NaN in between (a kernel that reads past its strides sees a bad row)."""
    layout = draw(st.sampled_from(["contiguous", "strided_rows", "strided_cols"]))
    if layout == "contiguous" or x.dim() < 2:
        return x
    if layout == "strided_rows":
        big = torch.full(x.shape[:-2] + (2 * x.shape[-2], x.shape[-1]), NAN, dtype=x.dtype)
        big[..., ::2, :] = x
        return big[..., ::2, :]
    big = torch.full(x.shape[:-1] + (2 * x.shape[-1],), NAN, dtype=x.dtype)
    big[..., ::2] = x
    return big[..., ::2]


def outcome(call):
    """("ok", result) or ("error", type, message)."""
    try:
        return ("ok", call())
    except (ValueError, TypeError, IndexError) as exc:
        return ("error", type(exc), str(exc))


def unchanged(x: torch.Tensor, before: torch.Tensor) -> bool:
    return torch.equal(x.isnan(), before.isnan()) and torch.equal(x.nan_to_num(), before.nan_to_num())


def assert_same_outcome(got, want, compare):
    assert got[0] == want[0], f"fused: {got[1:] if got[0] == 'error' else 'a result'}; reference: {want[1:]}"
    if want[0] == "error":
        assert got[1:] == want[1:]
    else:
        compare(got[1], want[1])


@st.composite
def k1_cases(draw):
    lead = draw(st.sampled_from([(0,), (1,), (3,), (2, 2)]))
    V = draw(st.integers(1, 40))
    x = draw(laid_out(draw(logit_rows(math.prod(lead), V)).reshape(lead + (V,)).to(draw(st.sampled_from(DTYPES)))))
    n = math.prod(lead)
    rows = draw(st.one_of(st.none(), st.lists(st.integers(-1, n), max_size=5)))
    args = dict(num_samples=draw(st.integers(0, 3)), temperature=draw(st.sampled_from(TEMPERATURES)),
                seed=draw(st.integers(0, 2 ** 64 - 1)), offset=draw(st.sampled_from([0, 7, 2 ** 32 - 1])))
    return x, rows, args


def test_softmax_entropy(fused):
    @_settings(fused)
    @given(k1_cases())
    def check(case):
        x, rows, args = case
        before = x.clone()
        want = outcome(lambda: igk.softmax_entropy(x, rows=rows, backend="reference", **args))
        got = outcome(lambda: cpu(igk.softmax_entropy(fused.put(x), rows=rows, backend=fused.backend, **args)))
        selected = torch.tensor(rows, dtype=torch.int64) if rows is not None else None
        assert_same_outcome(got, want, lambda g, w: assert_matches_reference(
            g, w, x, args["temperature"], args["seed"], args["offset"], x.dtype, selected))
        assert unchanged(x, before)
    check()


@st.composite
def k2_cases(draw):
    B, T, V = draw(st.integers(0, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 30))
    x = draw(laid_out(draw(logit_rows(B * T, V)).reshape(B, T, V).to(draw(st.sampled_from(DTYPES)))))
    mask = torch.tensor(draw(st.lists(st.booleans(), min_size=B * T, max_size=B * T)), dtype=torch.bool)
    return x, mask.reshape(B, T)


def test_state_uncertainty(fused):
    @_settings(fused)
    @given(k2_cases())
    def check(case):
        x, mask = case
        before = (x.clone(), mask.clone())
        want = outcome(lambda: igk.state_uncertainty(x, mask, backend="reference"))
        got = outcome(lambda: igk.state_uncertainty(fused.put(x), fused.put(mask), backend=fused.backend).cpu())
        assert_same_outcome(got, want, lambda g, w: torch.testing.assert_close(g, w, **TOL[x.dtype]["entropy"]))
        assert torch.equal(mask, before[1]) and unchanged(x, before[0])
    check()


@st.composite
def k3_cases(draw):
    B, T, N = draw(st.integers(0, 3)), draw(st.integers(1, 24)), draw(st.integers(1, 9))
    k = draw(st.integers(1, T + 2))
    per_candidate = draw(st.booleans())
    values = st.one_of(st.floats(0, 1, width=32), st.sampled_from([0.0, -0.0, 0.5, 1.0, -INF, INF, 1e38, NAN]))
    shape = (B, N, T) if per_candidate else (B, T)
    conf = torch.tensor(draw(st.lists(values, min_size=math.prod(shape), max_size=math.prod(shape))),
                        dtype=torch.float32).reshape(shape)
    valid = torch.tensor(draw(st.lists(st.booleans(), min_size=B * T, max_size=B * T)), dtype=torch.bool)
    args = dict(k=k, num_candidates=N, position_temperature=draw(st.sampled_from([0.0, 0.1, 1.0, 1e-30, 1e30])),
                seed=draw(st.integers(0, 2 ** 64 - 1)), offset=draw(st.sampled_from([0, 3])))
    return conf, valid.reshape(B, T), args


def test_sample_candidates(fused):
    @_settings(fused)
    @given(k3_cases())
    def check(case):
        conf, valid, args = case
        before = (conf.clone(), valid.clone())

        def compare(g, w):
            assert torch.equal(g.positions, w.positions) and torch.equal(g.unique, w.unique)
        want = outcome(lambda: igk.sample_candidates(conf, valid, backend="reference", **args))
        got = outcome(lambda: cpu(igk.sample_candidates(fused.put(conf), fused.put(valid), backend=fused.backend,
                                                        **args)))
        assert_same_outcome(got, want, compare)
        assert torch.equal(valid, before[1]) and unchanged(conf, before[0])
    check()


@st.composite
def head_cases(draw):
    """hidden [R, D] and weight [V, D] on a grid of 1/64 (the fp32 dot is exact in any order,
    see test_linear_softmax_entropy.py), with NaN / +inf entries in some hidden rows."""
    R, D, V = draw(st.integers(0, 4)), draw(st.integers(1, 8)), draw(st.integers(1, 40))
    dtype = draw(st.sampled_from(DTYPES))
    grid = st.integers(-64, 63).map(lambda i: i / 64)
    hidden = torch.tensor(draw(st.lists(st.one_of(grid, st.sampled_from([0.0, -0.0, 4.0, -4.0])),
                                        min_size=R * D, max_size=R * D))).reshape(R, D)
    for r in draw(st.lists(st.integers(0, max(R - 1, 0)), max_size=2)) if R else []:
        hidden[r, draw(st.integers(0, D - 1))] = draw(st.sampled_from(BAD + [-INF]))
    weight = torch.tensor(draw(st.lists(grid, min_size=V * D, max_size=V * D))).reshape(V, D)
    bias = torch.tensor(draw(st.lists(grid, min_size=V, max_size=V))) if draw(st.booleans()) else None
    rows = draw(st.one_of(st.none(), st.lists(st.integers(-1, R), max_size=4)))
    args = dict(num_samples=draw(st.integers(0, 2)), temperature=draw(st.sampled_from(TEMPERATURES)),
                seed=draw(st.integers(0, 2 ** 64 - 1)), offset=draw(st.sampled_from([0, 5])))
    to = (lambda t: t.to(dtype) if t is not None else None)
    return draw(laid_out(to(hidden))), to(weight), to(bias), rows, args


def _check_head(impl):
    @_settings(impl)
    @given(head_cases())
    def check(case):
        hidden, weight, bias, rows, args = case
        before = hidden.clone()
        want = outcome(lambda: igk.linear_softmax_entropy(hidden, weight, rows=rows, bias=bias, backend="reference",
                                                          **args))
        got = outcome(lambda: cpu(igk.linear_softmax_entropy(
            impl.put(hidden), impl.put(weight), rows=rows, bias=impl.put(bias), backend=impl.backend, **args)))
        logits = (hidden.float() @ weight.float().T).to(hidden.dtype)
        logits = logits + bias if bias is not None else logits
        selected = torch.tensor(rows, dtype=torch.int64) if rows is not None else None
        assert_same_outcome(got, want, lambda g, w: assert_matches_reference(
            g, w, logits, args["temperature"], args["seed"], args["offset"], hidden.dtype, selected))
        assert unchanged(hidden, before)
    check()


def test_linear_softmax_entropy(fused):
    _check_head(fused)


def test_linear_softmax_entropy_tiled_head():
    """The cuda backend's PyTorch-tiled head, run on the CPU as a backend of its own."""
    registry.register_backend("tiled-for-test", priority={"cpu": -10}, load=lambda: tiled_head)
    try:
        _check_head(Impl("cpu", "tiled-for-test"))
    finally:
        registry.unregister_backend("tiled-for-test")
