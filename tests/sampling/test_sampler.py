"""InfoGainSampler: the rules of SPEC §1 on designed logits, batching, streams, backends, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import igkernels as igk
from igkernels.models import load
from igkernels.sampling import VARIANTS, InfoGainSampler
from mdm_fixtures import EOS, MASK, PAD, VOCAB, DesignedMDM, cached_remote, make_tokens

V = len(VOCAB)
FUSED = [b for b in igk.available_backends("cpu") if b != "reference"]


def random_fn(seed: int = 0, sharp: float = 2.0):
    """Logits that depend on the whole canvas (a bag-of-tokens + position model)."""
    g = torch.Generator().manual_seed(seed)
    E, P, W = (torch.randn(n, 16, generator=g) for n in (V, 64, V))

    def fn(ids, am=None):
        w = (am if am is not None else torch.ones_like(ids)).float()[..., None]
        h = E[ids] + P[:ids.shape[1]]
        return (h + (h * w).sum(1, keepdim=True) / w.sum(1, keepdim=True)) @ W.T * sharp
    return fn


def fixed_fn(table: torch.Tensor):
    """Logits independent of the canvas: row t is table[t] (the designed rule tests)."""
    return lambda ids, am=None: table[:ids.shape[1]].expand(ids.shape[0], -1, -1).clone()


def sampler(fn, **kw) -> InfoGainSampler:
    return InfoGainSampler(DesignedMDM(fn), None, mask_id=MASK, **kw)


PROMPTS = [make_tokens("the cat sat"), make_tokens("a dog ran on the mat"), make_tokens("we")]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_every_variant_leaves_no_mask(variant, temperature):
    out = sampler(random_fn()).generate(PROMPTS, max_new_tokens=8, steps=4, block_length=4, variant=variant,
                                        candidates=3, position_temperature=0.5, temperature=temperature)
    for b, p in enumerate(PROMPTS):
        row = out.sequences[b, :out.lengths[b]]
        assert not (row == MASK).any()
        assert row[:len(p)].tolist() == p
    assert out.cumulative_entropy.shape == (3,) and bool((out.cumulative_entropy > 0).all())


def test_block_schedule_and_one_forward_per_step():
    s = sampler(random_fn())
    out = s.generate([PROMPTS[0]], max_new_tokens=8, steps=6, block_length=4, variant="confidence",
                     return_history=True)
    # 2 blocks of 4 masks, 3 steps each: k = 2, 1, 1 per block, blocks left to right
    assert [len(h["positions"][0]) for h in out.history] == [2, 1, 1, 2, 1, 1]
    first = {p for h in out.history[:3] for p in h["positions"][0]}
    assert first == {3, 4, 5, 6}
    # one initial forward, then one per step except the last (nothing left to look at)
    assert out.num_forward == len(out.history) == s.model.calls


def test_steps_over_blocks_raise_and_uneven_split():
    s = sampler(random_fn())
    with pytest.raises(ValueError, match="steps"):
        s.generate([PROMPTS[0]], max_new_tokens=8, steps=1, block_length=4)
    out = s.generate([PROMPTS[0]], max_new_tokens=6, steps=3, block_length=4, variant="confidence",
                     return_history=True)
    assert [len(h["positions"][0]) for h in out.history] == [2, 2, 2]   # blocks of 4 (2 steps) and 2 (1 step)


def test_committed_J_is_max_among_unique_and_matches_a_direct_evaluation():
    fn = random_fn(3)
    out = sampler(fn).generate([PROMPTS[1]], max_new_tokens=8, steps=8, block_length=8, candidates=6,
                               position_temperature=2.0, return_history=True)
    looked = [h for h in out.history if h["kind"][0] == "lookahead"]
    assert looked, "no lookahead step happened"
    for h in looked:
        c = h["candidates"][0]
        J = [j for j, u in zip(c["J"], c["unique"]) if u]
        assert all(math.isinf(j) for j, u in zip(c["J"], c["unique"]) if not u)
        best = c["positions"][c["J"].index(max(J))]
        assert h["positions"][0] == best
        assert max(J) == pytest.approx(-c["uncertainty"][c["J"].index(max(J))] - c["cost"][c["J"].index(max(J))])
    # step 0: recompute C and U of every distinct candidate from full logits with the public ops;
    # a duplicate is not evaluated (U 0, J -inf), and the step sent one canvas per distinct candidate
    h = out.history[0]
    assert h["kind"][0] == "lookahead"
    c = h["candidates"][0]
    assert h["canvases"] == [sum(c["unique"])]
    x = torch.tensor([PROMPTS[1] + [MASK] * 8])
    logits = fn(x)
    logits[..., MASK] = float("-inf")
    st = igk.softmax_entropy(logits[0])
    for pos, unique, cost, U in zip(c["positions"], c["unique"], c["cost"], c["uncertainty"]):
        xc = x.clone()
        xc[0, pos] = st.argmax[pos]
        lc = fn(xc)
        lc[..., MASK] = float("-inf")
        assert cost == pytest.approx(float(st.entropy[pos].sum()), rel=1e-5)
        want = float(igk.state_uncertainty(lc, xc == MASK)[0]) if unique else 0.0
        assert U == pytest.approx(want, rel=1e-5)


def test_duplicate_candidates_never_win():
    # identical logits everywhere but one clearly best position: all candidates coincide
    table = torch.zeros(16, V)
    table[:, 10] = torch.linspace(1, 6, 16)
    out = sampler(fixed_fn(table)).generate([PROMPTS[2]], max_new_tokens=6, steps=6, block_length=6,
                                            candidates=4, position_temperature=1e-4, return_history=True)
    for h in out.history:
        c = h["candidates"][0]
        if c is not None:
            assert c["unique"][0] and not any(c["unique"][1:])
            assert h["positions"][0] == c["positions"][0]


def test_bypass_commits_confident_positions_with_argmax():
    table = torch.zeros(12, V)
    table[:, 20] = 1.0                      # flat-ish: below the threshold
    table[7, 30] = 12.0                     # two confident positions, 7 more than 5
    table[5, 31] = 10.0
    out = sampler(fixed_fn(table)).generate([PROMPTS[0]], max_new_tokens=8, steps=4, block_length=8,
                                            candidates=4, threshold=0.9, return_history=True)
    h0 = out.history[0]
    assert h0["kind"] == ["bypass"]
    assert h0["positions"][0] == [5, 7] and h0["tokens"][0] == [31, 30]
    assert out.bypass_steps.tolist() == [1]
    # k = 2 caps the bypass: three confident positions, the two most confident go first
    table[9, 32] = 11.0
    out = sampler(fixed_fn(table)).generate([PROMPTS[0]], max_new_tokens=8, steps=4, block_length=8,
                                            candidates=4, threshold=0.9, return_history=True)
    assert out.history[0]["positions"][0] == [7, 9]


def test_trivial_steps_skip_lookahead():
    fn = random_fn(1)
    kw = dict(max_new_tokens=4, steps=4, block_length=4, return_history=True)
    # N = 1, tau_pos = 0: never a lookahead; equal to the confidence baseline
    base = sampler(fn).generate([PROMPTS[0]], variant="confidence", **kw)
    for extra in (dict(candidates=1), dict(position_temperature=0.0)):
        out = sampler(fn).generate([PROMPTS[0]], **extra, **kw)
        assert {h["kind"][0] for h in out.history} == {"plain"}
        assert torch.equal(out.sequences, base.sequences)
    # block with <= k masks left: the last step of each block is plain
    out = sampler(fn).generate([PROMPTS[0]], max_new_tokens=4, steps=2, block_length=4, candidates=4,
                               position_temperature=1.0, return_history=True)
    assert [h["kind"][0] for h in out.history] == ["lookahead", "plain"]


def test_eos_fills_the_masks_after_it():
    T = 12
    table = torch.zeros(T, V)
    table[:, 20] = 2.0
    table[5, EOS] = 9.0                     # the most confident proposal is EOS at position 5
    s = sampler(fixed_fn(table))
    s.adapter.tokenizer = type("Tok", (), {"eos_token_id": EOS})()
    out = s.generate([PROMPTS[0]], max_new_tokens=8, steps=8, block_length=8, variant="confidence",
                     return_history=True)
    row = out.sequences[0, :11].tolist()
    assert row[5] == EOS and row[6:] == [EOS] * 5
    assert row[3:5] == [20, 20]
    assert len(out.history) == 3            # EOS + fill, then positions 3 and 4


def test_eos_penalty_lowers_eos():
    T = 12
    table = torch.zeros(T, V)
    table[:, 20] = 2.0
    table[:, EOS] = 3.0
    s = sampler(fixed_fn(table))
    s.adapter.tokenizer = type("Tok", (), {"eos_token_id": EOS})()
    out = s.generate([PROMPTS[0]], max_new_tokens=4, steps=4, block_length=4, variant="confidence")
    assert out.sequences[0, 3:].tolist() == [EOS] * 4
    out = s.generate([PROMPTS[0]], max_new_tokens=4, steps=4, block_length=4, variant="confidence",
                     eos_penalty=4.0)
    assert out.sequences[0, 3:].tolist() == [20] * 4


def test_pad_penalty_lowers_pad():
    table = torch.zeros(12, V)
    table[:, 20] = 2.0
    table[:, PAD] = 3.0
    s = sampler(fixed_fn(table))
    s.adapter.tokenizer = type("Tok", (), {"pad_token_id": PAD})()
    kw = dict(max_new_tokens=4, steps=4, block_length=4, variant="confidence")
    assert s.generate([PROMPTS[0]], **kw).sequences[0, 3:].tolist() == [PAD] * 4
    assert s.generate([PROMPTS[0]], pad_penalty=4.0, **kw).sequences[0, 3:].tolist() == [20] * 4


def test_prompt_masks_are_decoded_as_one_block():
    puzzle = make_tokens("one two") + [MASK, MASK] + make_tokens("five") + [MASK]
    out = sampler(random_fn()).generate([puzzle], max_new_tokens=0, steps=3, block_length=4,
                                        candidates=3, position_temperature=1.0, return_history=True)
    row = out.sequences[0].tolist()
    assert MASK not in row and [row[i] for i in (0, 1, 4)] == [puzzle[i] for i in (0, 1, 4)]
    assert sorted(p for h in out.history for p in h["positions"][0]) == [2, 3, 5]
    # with new tokens too: the prompt's masks come first, then the generation blocks
    out = sampler(random_fn()).generate([puzzle], max_new_tokens=4, steps=4, block_length=4,
                                        variant="confidence", return_history=True)
    order = [p for h in out.history for p in h["positions"][0]]
    assert sorted(order[:3]) == [2, 3, 5] and sorted(order[3:]) == [6, 7, 8, 9]


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_batch_equals_each_alone(temperature):
    kw = dict(max_new_tokens=8, steps=8, block_length=4, candidates=4, position_temperature=0.5,
              temperature=temperature, threshold=0.95)
    s = sampler(random_fn(2))
    batch = s.generate(PROMPTS, seed=11, **kw)
    for i, p in enumerate(PROMPTS):
        alone = s.generate([p], seed=11 + i, **kw)
        n = batch.lengths[i]
        assert batch.sequences[i, :n].tolist() == alone.sequences[0].tolist()
        assert batch.cumulative_entropy[i].item() == pytest.approx(alone.cumulative_entropy[0].item(), rel=1e-5)
    assert torch.equal(batch.sequences, s.generate(PROMPTS, seed=[11, 12, 13], **kw).sequences)


def test_batch_equals_alone_through_a_padded_hf_model(tmp_path_factory):
    model, tok = load(str(cached_remote(tmp_path_factory, "llada")), native=False)
    s = InfoGainSampler(model, tok)
    prompts = ["the cat sat on the mat", "a dog"]
    kw = dict(max_new_tokens=6, steps=6, block_length=3, candidates=3, position_temperature=0.5, temperature=0.5)
    batch = s.generate(prompts, seed=4, **kw)
    for i, p in enumerate(prompts):
        alone = s.generate([p], seed=4 + i, **kw)
        assert batch.sequences[i, :batch.lengths[i]].tolist() == alone.sequences[0].tolist()
        assert batch.texts[i] == alone.texts[0]


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_max_forward_batch_chunks_without_changing_the_result(temperature):
    """Chunks draw as they go; one batch draws after the choice on the committed canvas only."""
    kw = dict(max_new_tokens=8, steps=8, block_length=8, candidates=4, position_temperature=1.0,
              temperature=temperature)
    s = sampler(random_fn())
    whole = s.generate(PROMPTS, **kw)
    s.model.batch_sizes.clear()
    chunked = s.generate(PROMPTS, max_forward_batch=5, **kw)
    assert torch.equal(whole.sequences, chunked.sequences)
    assert max(s.model.batch_sizes) <= 5 and chunked.num_forward > whole.num_forward


def test_lookahead_draws_only_on_the_committed_canvas(monkeypatch):
    """At temperature > 0 every candidate canvas gets statistics, but only the committed one
    gets draws (the next step's proposals): fewer draws, the same tokens."""
    from igkernels.sampling import evaluate
    drawn = []

    def counting(logits, rows=None, num_samples=0, **kw):
        drawn.append(num_samples * (rows.numel() if rows is not None else logits[..., 0].numel()))
        return igk.softmax_entropy(logits, rows=rows, num_samples=num_samples, **kw)
    monkeypatch.setattr(evaluate, "softmax_entropy", counting)
    kw = dict(max_new_tokens=8, steps=4, block_length=8, candidates=6, position_temperature=1.0, temperature=0.8)
    s = sampler(random_fn())
    deferred = s.generate(PROMPTS, **kw)
    draws_deferred, drawn[:] = sum(drawn), []
    inline = s.generate(PROMPTS, max_forward_batch=1, **kw)    # chunk by chunk: every canvas draws
    assert torch.equal(deferred.sequences, inline.sequences)
    assert 0 < 3 * draws_deferred < sum(drawn)


@pytest.mark.parametrize("block_length, steps", [(4, 6), (3, 4), (6, 12), (12, 6)])
def test_committed_draws_cover_the_next_steps_block_only(monkeypatch, block_length, steps):
    """A lookahead step draws on the committed canvas's masks left in the block (all of its
    masks where the commit ends the block), and the first forward on the first block's: the
    next step proposes nowhere else. The tokens are those of drawing every canvas's every row
    (chunk by chunk)."""
    from igkernels.sampling import evaluate
    rows_drawn = []

    def counting(logits, rows=None, num_samples=0, **kw):
        if num_samples:
            rows_drawn.append(rows.numel())
        return igk.softmax_entropy(logits, rows=rows, num_samples=num_samples, **kw)
    monkeypatch.setattr(evaluate, "softmax_entropy", counting)
    G = 12
    kw = dict(max_new_tokens=G, steps=steps, block_length=block_length, candidates=3, position_temperature=1.0,
              temperature=0.8)
    s = sampler(random_fn())
    deferred = s.generate(PROMPTS, **kw)
    k = G // steps                                  # the same k every step: each block takes whole steps
    left = G                                        # masks of each sequence before a step
    expected = []
    while left > k:
        in_block = (left - 1) % block_length + 1
        expected.append(len(PROMPTS) * (in_block - k if in_block > k else left - k))
        left -= k
    assert rows_drawn[0] == len(PROMPTS) * min(block_length, G)     # the first forward: the first block
    assert rows_drawn[1:] == expected
    inline = s.generate(PROMPTS, max_forward_batch=1, **kw)
    assert torch.equal(deferred.sequences, inline.sequences)


def test_seeds_change_draws_and_repeat():
    kw = dict(max_new_tokens=8, steps=8, block_length=8, candidates=4, position_temperature=1.0, temperature=1.0)
    s = sampler(random_fn())
    a, b, c = (s.generate(PROMPTS, seed=sd, **kw).sequences for sd in (0, 0, 99))
    assert torch.equal(a, b) and not torch.equal(a, c)
    r1, r2 = (s.generate(PROMPTS, variant="random", seed=sd, max_new_tokens=8, steps=8,
                         return_history=True).history for sd in (0, 1))
    assert [h["positions"] for h in r1] != [h["positions"] for h in r2]


@pytest.mark.skipif(not FUSED, reason="no fused CPU backend is available (igkernels._C not built)")
@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_reference_and_fused_backends_decode_identically(fused, temperature):
    kw = dict(max_new_tokens=8, steps=6, block_length=4, candidates=4, position_temperature=0.5,
              temperature=temperature, threshold=0.9, seed=3, return_history=True)
    s = sampler(random_fn(5))
    ref = s.generate(PROMPTS, backend="reference", **kw)
    out = s.generate(PROMPTS, backend=fused, **kw)
    assert torch.equal(ref.sequences, out.sequences)
    assert torch.allclose(ref.cumulative_entropy, out.cumulative_entropy, rtol=1e-4)
    assert [h["kind"] for h in ref.history] == [h["kind"] for h in out.history]


def test_inputs_as_tensor_with_attention_mask_and_text():
    s = sampler(random_fn())
    ids = torch.tensor([[0, 0, 6, 8, 10], [7, 9, 14, 11, 6]])
    am = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    a = s.generate(ids, attention_mask=am, max_new_tokens=4, steps=4, block_length=4)
    b = s.generate([[6, 8, 10], [7, 9, 14, 11, 6]], max_new_tokens=4, steps=4, block_length=4)
    assert torch.equal(a.sequences, b.sequences) and a.texts is None
    right = torch.tensor([[6, 8, 10, 0, 0], [7, 9, 14, 11, 6]])
    c = s.generate(right, attention_mask=am.flip(1).bool(), max_new_tokens=4, steps=4, block_length=4)
    assert torch.equal(c.sequences, b.sequences)
    d = s.generate([[np.int64(6), 8, 10], [7, 9, 14, 11, 6]], max_new_tokens=4, steps=4, block_length=4)
    assert torch.equal(d.sequences, b.sequences)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(prompts=[]), ValueError, "prompts: empty"),
    (dict(variant="greedy"), ValueError, "variant"),
    (dict(candidates=0), ValueError, "candidates"),
    (dict(steps=1, max_new_tokens=8, block_length=4), ValueError, "steps"),
    (dict(prompts=[[6] * 60], max_new_tokens=8), ValueError, "context"),
    (dict(prompts=["text"]), TypeError, "tokenizer"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=[1]), ValueError, "seed"),
    (dict(temperature=-1.0), ValueError, "temperature"),
    (dict(position_temperature="a"), TypeError, "position_temperature"),
    (dict(max_forward_batch=0), ValueError, "max_forward_batch"),
    (dict(prompts=[[6, 7], "x"]), TypeError, "prompts"),
    (dict(prompts=[[]], max_new_tokens=0), ValueError, "nothing to decode"),
    (dict(prompts=[[6, True]]), TypeError, r"prompts\[0\]\[1\] must be an int token id, got True"),
    (dict(prompts=torch.zeros(0, 3, dtype=torch.int64)), ValueError, "prompts: an empty tensor"),
    (dict(prompts=torch.zeros(2, 0, dtype=torch.int64)), ValueError, "prompts: an empty tensor"),
    (dict(prompts=torch.zeros(1, 3, dtype=torch.int64, device="meta")), ValueError, "prompts: a meta tensor"),
    (dict(prompts=torch.tensor([[6, 7, 8]]), attention_mask=torch.tensor([[1, 0, 1]])), ValueError,
     "attention_mask row 0 is not a padding mask"),
    (dict(prompts=torch.tensor([[6, 7, 8]]), attention_mask=torch.tensor([[2, 1, 1]])), ValueError,
     "attention_mask must hold 0/1"),
    (dict(prompts=torch.tensor([[6, 7, 8]]), attention_mask=torch.tensor([[0.5, 1, 1]])), ValueError,
     "attention_mask must hold 0/1"),
])
def test_bad_input_names_the_argument(kwargs, exc, match):
    s = sampler(random_fn())
    s.adapter.config = type("Cfg", (), {"max_position_embeddings": 64})()
    args = dict(prompts=[PROMPTS[0], PROMPTS[1]], max_new_tokens=4, steps=4, block_length=4)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        s.generate(args.pop("prompts"), **args)


def test_missing_mask_id_and_bad_model_output():
    with pytest.raises(ValueError, match="mask_id.*pass mask_id="):
        InfoGainSampler(DesignedMDM(random_fn()), None)
    bad = InfoGainSampler(DesignedMDM(lambda ids, am: ids.float()), None, mask_id=MASK)
    with pytest.raises(TypeError, match="model: its forward must return logits"):
        bad.generate([PROMPTS[0]], max_new_tokens=4, steps=4, block_length=4)
    with pytest.raises(TypeError, match="model must be"):
        InfoGainSampler(42, None, mask_id=MASK)
    with pytest.raises(TypeError, match="tokenizer must be a Hugging Face tokenizer"):
        InfoGainSampler(DesignedMDM(random_fn()), "tok", mask_id=MASK)


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_fused_lm_head_decodes_like_the_model_head(tmp_path, temperature):
    """fuse_lm_head skips the [M, T, V] logits; the decisions stay those of the model's head."""
    from igkernels.demo import MODEL_DIR
    from mdm_fixtures import make_bert
    for path, prompts, kw in (
            (MODEL_DIR, ["[MASK][MASK]*7=[MASK][MASK]1", "1[MASK][MASK][MASK]|[MASK][MASK][MASK]2"],
             dict(max_new_tokens=0, steps=5)),
            (make_bert(tmp_path / "bert"), ["the cat sat on the mat", "a dog"],
             dict(max_new_tokens=6, steps=6, block_length=3))):
        model, tok = load(str(path))
        head = model.get_output_embeddings()
        s = InfoGainSampler(model, tok)
        kw |= dict(candidates=6, position_temperature=0.3, temperature=temperature, seed=3, eos_penalty=1.0)
        plain = s.generate(prompts, **kw)
        fused = s.generate(prompts, fuse_lm_head=True, **kw)
        assert torch.equal(plain.sequences, fused.sequences)
        assert torch.allclose(plain.cumulative_entropy, fused.cumulative_entropy, rtol=1e-4)
        assert model.get_output_embeddings().weight is head.weight   # the model is left as it was


def test_fused_lm_head_needs_an_output_projection():
    with pytest.raises(TypeError, match="fuse_lm_head"):
        sampler(random_fn()).generate(PROMPTS, max_new_tokens=4, steps=4, fuse_lm_head=True)


def test_fused_lm_head_refuses_logits_changed_after_the_head(tmp_path):
    """A forward that scales its logits after the head (Cohere's logit_scale, soft-capping)
    would decode other logits through the fused head: the first fused decode checks it."""
    from mdm_fixtures import make_bert
    model, tok = load(str(make_bert(tmp_path / "bert")), native=False)

    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner, self.config = model, model.config

        def get_output_embeddings(self):
            return model.get_output_embeddings()

        def forward(self, **kw):
            out = model(**kw)
            out.logits = out.logits * 4.0
            return out

    kw = dict(max_new_tokens=4, steps=4, block_length=4, candidates=2)
    with pytest.raises(TypeError, match="logits are not its output projection's output"):
        InfoGainSampler(Scaled(), tok, adapter="masked_lm").generate(["the cat"], fuse_lm_head=True, **kw)
    s = InfoGainSampler(model, tok)
    assert torch.equal(s.generate(["the cat"], fuse_lm_head=True, **kw).sequences,
                       s.generate(["the cat"], **kw).sequences)


def test_a_bad_row_names_its_sequence_and_position():
    """NaN logits at a masked position of the second sequence, from the second forward on."""
    base = random_fn(5)
    calls = []

    def fn(ids, am=None):
        out = base(ids, am)
        calls.append(ids.shape[0])
        if len(calls) >= 2:
            out[-1, 5] = float("nan")
        return out
    s = sampler(fn)
    with pytest.raises(igk.BadRowError, match=r"\(sequence 1, position 5\)") as err:
        s.generate([make_tokens("the cat sat"), make_tokens("a dog ran")], max_new_tokens=6, steps=6, block_length=6,
                   candidates=3, position_temperature=0.5, variant="confidence")
    assert err.value.where == "sequence 1, position 5"


def test_fused_head_is_safe_with_another_thread_using_the_model():
    """Two threads share one Hugging Face model, one fused, one not: every run decodes as it does
    alone (the head is never swapped out under the other thread)."""
    import threading

    from transformers import AutoModelForMaskedLM

    from igkernels.demo import MODEL_DIR
    model = AutoModelForMaskedLM.from_pretrained(MODEL_DIR).eval()
    _, tok = load(MODEL_DIR)
    prompts = ["[MASK][MASK]*7=[MASK][MASK]1", "1[MASK][MASK][MASK]|[MASK][MASK][MASK]2"]
    kw = dict(max_new_tokens=0, steps=4, candidates=4, position_temperature=0.3, temperature=0.5, seed=1)
    alone = {fused: InfoGainSampler(model, tok).generate(prompts, fuse_lm_head=fused, **kw).sequences
             for fused in (False, True)}
    results, errors = {False: [], True: []}, []

    def work(fused):
        s = InfoGainSampler(model, tok)
        try:
            for _ in range(25):
                results[fused].append(s.generate(prompts, fuse_lm_head=fused, **kw).sequences)
        except Exception as exc:   # recorded, then asserted on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(fused,)) for fused in (False, True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert torch.equal(alone[False], alone[True])
    for fused in (False, True):
        assert len(results[fused]) == 25 and all(torch.equal(r, alone[fused]) for r in results[fused])
