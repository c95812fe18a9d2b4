"""Adapters and igk.load on tiny offline look-alikes of each family (real remote-code loading path)."""
from __future__ import annotations

import warnings

import pytest
import torch

from igkernels.models import DreamAdapter, LLaDAAdapter, MaskedLMAdapter, SDARAdapter, make_adapter
from igkernels.models import load
from igkernels.sampling import InfoGainSampler
from mdm_fixtures import EOS, MASK, VOCAB, DesignedMDM, cached_remote

EXPECTED = {"bert": MaskedLMAdapter, "llada": LLaDAAdapter, "dream": DreamAdapter, "sdar": SDARAdapter}


@pytest.fixture(scope="module", params=list(EXPECTED))
def loaded(request, tmp_path_factory):
    family = request.param
    path = cached_remote(tmp_path_factory, family)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, tok = load(str(path), native=False)   # the look-alikes: the remote-code route
    return family, model, tok, [str(w.message) for w in caught if "trust_remote_code" in str(w.message)]


def test_load_detects_family_and_trusts_only_known_remote_code(loaded):
    family, model, tok, trust_warnings = loaded
    sampler = InfoGainSampler(model, tok)
    assert type(sampler.adapter) is EXPECTED[family]
    assert sampler.mask_id == MASK
    assert not model.training
    if family == "bert":
        assert trust_warnings == []
    else:
        assert len(trust_warnings) == 1 and family in trust_warnings[0]
        assert sampler.adapter.eos_ids == [EOS]


def test_generate_on_every_family_leaves_no_mask(loaded):
    family, model, tok, _ = loaded
    out = InfoGainSampler(model, tok).generate(["the cat sat on", "a dog"], max_new_tokens=8, steps=4,
                                               block_length=4, candidates=3, position_temperature=0.5)
    for b in range(2):
        assert not (out.sequences[b, :out.lengths[b]] == MASK).any()
    assert len(out.texts) == 2 and out.num_forward >= 4


def test_right_padding_leaves_real_positions_unchanged(loaded):
    family, model, tok, _ = loaded
    adapter = make_adapter(model, tok)
    ids = torch.tensor([[6, 8, 10, MASK, MASK, MASK, MASK]])
    alone = adapter.forward(ids, None)
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.int64)], 1)
    am = torch.tensor([[True] * 7 + [False] * 3])
    both = adapter.forward(padded, am)
    assert torch.allclose(both[0, :7], alone[0], atol=1e-5)


def test_sdar_attention_is_block_causal(tmp_path_factory):
    model, tok = load(str(cached_remote(tmp_path_factory, "sdar")), native=False)
    adapter = make_adapter(model, tok)
    assert adapter.block_size == 4
    ids = torch.tensor([[6, 8, 10, 12, MASK, MASK, MASK, MASK, MASK, MASK, MASK, MASK]])
    base = adapter.forward(ids, None)
    later = ids.clone()
    later[0, 9] = 20                        # a token of the third block
    changed = adapter.forward(later, None)
    assert torch.allclose(changed[0, :8], base[0, :8], atol=1e-6)   # blocks 1-2 do not see block 3
    assert not torch.allclose(changed[0, 8:], base[0, 8:])    # block 3 sees itself
    earlier = ids.clone()
    earlier[0, 1] = 20
    assert not torch.allclose(adapter.forward(earlier, None)[0, 4:], base[0, 4:])   # later blocks see earlier


def test_sdar_decodes_blocks_aligned_to_absolute_positions(tmp_path_factory):
    model, tok = load(str(cached_remote(tmp_path_factory, "sdar")), native=False)
    out = InfoGainSampler(model, tok).generate([[6, 7, 8, 9, 10, 11]], max_new_tokens=6, steps=6, block_length=4,
                                               variant="confidence", return_history=True)
    order = [p for h in out.history for p in h["positions"][0]]
    assert sorted(order[:2]) == [6, 7] and sorted(order[2:]) == [8, 9, 10, 11]


def test_dream_shift_is_applied_exactly_once():
    """Logits row r of this fake Dream say "the token at r + 1 is word(r + 1)"; decoding must
    put word(p) at every position p (shift 0 would give word(p + 1), shift 2 word(p - 1))."""
    V = len(VOCAB)

    def word(p):
        return 10 + p % 20

    def fn(ids, am=None):
        T = ids.shape[1]
        logits = torch.zeros(ids.shape[0], T, V)
        for r in range(T):
            logits[:, r, word(r + 1)] = 8.0
        return logits

    prompt = [6, 7, 8]
    out = InfoGainSampler(DesignedMDM(fn), None, mask_id=MASK, adapter="dream").generate(
        [prompt], max_new_tokens=6, steps=3, block_length=6, candidates=3, position_temperature=0.5)
    assert out.sequences[0, 3:].tolist() == [word(p) for p in range(3, 9)]
    assert DreamAdapter.shift == 1 and LLaDAAdapter.shift == 0


def test_mask_id_resolution_order_and_error():
    fn = DesignedMDM(lambda ids, am=None: torch.zeros(*ids.shape, 8))
    fn.config = type("Cfg", (), {"vocab_size": 8})()
    with pytest.raises(ValueError, match="mask_id: no mask token id found.*pass mask_id="):
        make_adapter(fn, None, adapter="llada")       # 126336 is outside a vocabulary of 8
    assert make_adapter(fn, None, mask_id=3, adapter="llada").mask_id == 3
    fn.config.vocab_size = 126464
    assert make_adapter(fn, None, adapter="llada").mask_id == 126336
    fn.config.mask_token_id = 7
    assert make_adapter(fn, None, adapter="llada").mask_id == 7
    with pytest.raises(ValueError, match="adapter must be one of"):
        make_adapter(fn, None, adapter="gpt")
    with pytest.raises(TypeError, match="mask_id"):
        make_adapter(fn, None, mask_id="4")


def _tiny_bert(cls_name: str, directory, **config):
    import transformers
    cfg_cls = transformers.RobertaConfig if "Roberta" in cls_name else transformers.BertConfig
    cfg = cfg_cls(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                  max_position_embeddings=40, **config)
    getattr(transformers, cls_name)(cfg).save_pretrained(directory)
    return directory


def test_a_checkpoint_without_its_mlm_head_is_refused(tmp_path):
    """transformers fills a missing LM head with random weights and only logs it."""
    from igkernels.models import CheckpointError
    d = _tiny_bert("BertModel", tmp_path / "bare")
    with pytest.raises(CheckpointError, match=r"bare: the checkpoint lacks \d+ weight\(s\) of a masked LM"):
        load(d)


def test_a_damaged_weights_file_on_the_transformers_route_is_named(tmp_path):
    from igkernels.models import CheckpointError
    d = _tiny_bert("RobertaForMaskedLM", tmp_path / "cut")
    weights = d / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut: transformers could not load it as a masked LM \(Safetensor"):
        load(d)


def test_roberta_positions_start_after_the_padding_id(tmp_path):
    """RoBERTa's position ids start at pad_token_id + 1: it takes max_position_embeddings -
    pad_token_id - 1 tokens, and the sampler refuses a longer canvas up front."""
    import transformers
    model = transformers.RobertaForMaskedLM(transformers.RobertaConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=40, pad_token_id=1)).eval()
    s = InfoGainSampler(model, None, mask_id=3)
    assert s.adapter.max_length == 38
    s.generate([[7] * 34], max_new_tokens=4, steps=4, candidates=2, block_length=4)
    with pytest.raises(ValueError, match="exceeds the model's context of 38"):
        s.generate([[7] * 35], max_new_tokens=4, steps=4, candidates=2, block_length=4)
    bert = transformers.BertForMaskedLM(transformers.BertConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=40, pad_token_id=1)).eval()
    assert InfoGainSampler(bert, None, mask_id=3).adapter.max_length == 40
