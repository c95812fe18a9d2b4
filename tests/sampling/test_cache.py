"""The KV cache: exact for block-causal models, shared by a sequence's candidates, its window
and its U as SPEC §2 says, and refused where it cannot run."""
import pytest
import torch
from mdm_fixtures import cached_remote

import igkernels as igk
from igkernels.models import load
from igkernels.sampling import VARIANTS

PROMPTS = ["Hello there, how are", "2+2=", "A much longer prompt to pad"]


@pytest.mark.parametrize("family", ["sdar", "trado"])
def test_block_causal_models_decode_identically_with_and_without_the_cache(family, oracle_dirs):
    model, tok = igk.load(oracle_dirs[family])
    s = igk.InfoGainSampler(model, tok)
    for variant in VARIANTS:
        for temperature in (0.0, 0.8):
            kw = dict(max_new_tokens=12, steps=12, candidates=4, position_temperature=0.5, seed=3, variant=variant,
                      temperature=temperature, return_history=True)
            cached = s.generate(PROMPTS, **kw)
            assert cached.config.cache == "prefix"                  # on by default for block-causal models
            plain = s.generate(PROMPTS, cache="none", **kw)
            assert torch.equal(cached.sequences, plain.sequences), (variant, temperature)
            assert [h["canvases"] for h in cached.history] == [h["canvases"] for h in plain.history]


def test_windows_recompute_only_their_positions(oracle_dirs, monkeypatch):
    """dual: a step's forward covers the block (plus Dream's one shifted row); prefix: the block
    and everything after it; a block's first canvas is run whole. Checked on the packed inputs."""
    from igkernels.models.dream import DreamModel
    widths = []
    real = DreamModel.window_states

    def spy(self, ids, positions, mask, cache, rows):
        widths.append((ids.shape, int(positions.min()), int(positions.max())))
        return real(self, ids, positions, mask, cache, rows)

    monkeypatch.setattr(DreamModel, "window_states", spy)
    model, tok = igk.load(oracle_dirs["dream"])
    s = igk.InfoGainSampler(model, tok)
    prompt = tok("Hello")["input_ids"]                     # 5 tokens: blocks [5, 9), [9, 13)
    s.generate([prompt], max_new_tokens=8, steps=8, block_length=4, candidates=3, position_temperature=1.0,
               cache="dual", seed=1)
    assert widths and all(hi - lo <= 4 for _, lo, hi in widths)               # block + the shifted row
    assert {lo for _, lo, _ in widths} <= {4, 8}
    widths.clear()
    s.generate([prompt], max_new_tokens=8, steps=8, block_length=4, candidates=3, position_temperature=1.0,
               cache="prefix", seed=1)
    assert all(hi == 12 for _, _, hi in widths)                              # to the end of the canvas


def test_candidates_share_one_cache_row_per_sequence(oracle_dirs):
    """The cache holds B x T keys per layer, however many candidates each step evaluates."""
    from igkernels.models.layers import KVCache
    stored = []
    real = KVCache.store

    def spy(self, layer, rows, k, v):
        stored.append(tuple(k.shape))
        return real(self, layer, rows, k, v)

    KVCache.store = spy
    try:
        model, tok = igk.load(oracle_dirs["llada"])
        s = igk.InfoGainSampler(model, tok)
        s.generate(PROMPTS, max_new_tokens=8, steps=8, block_length=4, candidates=8, position_temperature=1.0,
                   cache="dual", seed=0)
    finally:
        KVCache.store = real
    T = max(len(tok(p)["input_ids"]) for p in PROMPTS) + 8
    heads, d = model.config.n_heads, model.config.d_model // model.config.n_heads
    assert stored and all(shape[1:] == (heads, T, d) and shape[0] <= len(PROMPTS) for shape in stored)


def test_dual_uncertainty_is_over_the_current_block(oracle_dirs):
    """SPEC §2: under dual, U(x'_c) is the mean entropy of the current block's masks, from a forward
    of the block against the block-start keys and values of every other position."""
    from igkernels.models.layers import KVCache
    model, tok = igk.load(oracle_dirs["llada"])
    s = igk.InfoGainSampler(model, tok)
    prompt = tok("Hi")["input_ids"]
    out = s.generate([prompt], max_new_tokens=8, steps=4, block_length=4, candidates=4, position_temperature=1.0,
                     cache="dual", seed=2, return_history=True)
    h = out.history[0]                                    # block [2, 6): 4 masks, k = 2; 4 masks after it
    assert h["kind"] == ["lookahead"]
    mask_id, T = 126336, len(prompt) + 8
    x = torch.tensor([prompt + [mask_id] * 8])
    with torch.inference_mode():
        cache = KVCache(1, model.num_layers)
        logits = model.get_output_embeddings()(model.hidden_states(x, cache=cache, rows=torch.tensor([0])))
        logits[..., mask_id] = float("-inf")
        argmax = logits[0].argmax(-1)
        t = torch.arange(T)
        outside = ((t < 2) | (t >= 6))[None, None, None, :].expand(1, 1, 4, T)
        mask = torch.cat([outside, torch.ones(1, 1, 4, 4, dtype=torch.bool)], -1)
        c = h["candidates"][0]
        checked = 0
        for pos, unique, U in zip(c["positions"], c["unique"], c["uncertainty"]):
            if not unique:
                continue
            xc = x.clone()
            xc[0, pos] = argmax[pos]
            hw = model.window_states(xc[:, 2:6], torch.arange(2, 6)[None], mask, cache, torch.tensor([0]))
            lw = model.get_output_embeddings()(hw)
            lw[..., mask_id] = float("-inf")
            left = [p - 2 for p in range(2, 6) if p not in pos]
            want = float(igk.softmax_entropy(lw[0, left]).entropy.mean())
            assert U == pytest.approx(want, rel=1e-4)
            checked += 1
    assert checked >= 2


def test_cache_needs_a_native_model_and_names_the_families(tmp_path_factory):
    model, tok = load(str(cached_remote(tmp_path_factory, "bert")), native=False)
    s = igk.InfoGainSampler(model, tok)
    with pytest.raises(ValueError, match="cache='dual' needs a native model .*LLaDA.*SDAR.*BERT"):
        s.generate(["the cat"], max_new_tokens=2, steps=2, cache="dual")
    assert s.generate(["the cat"], max_new_tokens=2, steps=2).config.cache == "none"
    with pytest.raises(ValueError, match="cache must be one of"):
        s.generate(["the cat"], max_new_tokens=2, steps=2, cache="full")
    with pytest.raises(ValueError, match="threshold_mode must be one of"):
        s.generate(["the cat"], max_new_tokens=2, steps=2, threshold=0.5, threshold_mode="eager")


@pytest.mark.parametrize("cache", ["prefix", "dual"])
def test_fused_head_with_the_cache_decodes_like_the_model_head(cache, oracle_dirs):
    model, tok = igk.load(oracle_dirs["dream"])
    s = igk.InfoGainSampler(model, tok)
    kw = dict(max_new_tokens=8, steps=8, block_length=4, candidates=4, position_temperature=0.5, seed=5,
              temperature=0.7, cache=cache)
    plain, fused = s.generate(PROMPTS, **kw), s.generate(PROMPTS, fuse_lm_head=True, **kw)
    assert torch.equal(plain.sequences, fused.sequences)
    assert torch.allclose(plain.cumulative_entropy, fused.cumulative_entropy, rtol=1e-4)
