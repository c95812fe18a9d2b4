"""Native LLaDA, Dream and SDAR/TraDo against the authors' own modelling code on the same weights."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from oracle import FAMILIES, upstream
from safetensors.torch import load_file, save_file

import igkernels as igk
from igkernels.models import CheckpointError, DreamModel, LLaDAModel, SDARModel, loading
from igkernels.models.sdar import block_causal_mask
from igkernels.sampling import VARIANTS

NATIVE = {"llada": LLaDAModel, "dream": DreamModel, "sdar": SDARModel, "trado": SDARModel}


def authors_logits(family, model, ids, real):
    """The authors' forward as their generate functions call it (see ../shared/upstream/README.md)."""
    T = ids.shape[1]
    if family == "llada":
        return model(ids, attention_mask=real.long()).logits
    if family == "dream":
        return model(ids, attention_mask=real[:, None, None, :] & real[:, None, :, None]).logits
    mask = block_causal_mask(T, 4, real, ids.device) & real[:, None, :, None]
    return model(ids, attention_mask=mask, position_ids=torch.arange(T)[None]).logits


def batch(V, gen):
    """Three right-padded prompts of lengths 13, 9 and 4, and their real positions."""
    ids = torch.randint(0, V, (3, 13), generator=gen)
    real = torch.arange(13)[None, :] < torch.tensor([13, 9, 4])[:, None]
    return ids, real


@pytest.mark.parametrize("family", FAMILIES)
def test_native_logits_equal_the_authors_fp32(family, oracle_dirs, authors, gen):
    native, _ = igk.load(oracle_dirs[family])
    assert type(native) is NATIVE[family] and native.dtype == torch.float32
    ids, real = batch(native.config.vocab_size, gen)
    with torch.inference_mode():
        want = authors_logits(family, authors(family), ids, real)
        got = native(ids, attention_mask=real).logits
    assert (got - want).abs()[real].max() <= 1e-4
    alone = native(ids[1:2, :9]).logits[0]
    assert (alone - got[1, :9]).abs().max() <= 1e-4           # padding changes nothing at real positions


@pytest.mark.parametrize("family", FAMILIES)
def test_native_logits_in_bf16_within_the_authors_own_bf16_error(family, oracle_dirs, authors, gen):
    """bf16 rounds every matmul, so neither implementation equals fp32; the native model follows the
    authors' rounding points (norms and RoPE in fp32 where theirs are), so its distance to the
    authors' bf16 logits must be no larger than the authors' own bf16 error against their fp32."""
    native, _ = igk.load(oracle_dirs[family], dtype="bf16")
    assert native.dtype == torch.bfloat16
    ids, real = batch(native.config.vocab_size, gen)
    with torch.inference_mode():
        theirs = authors_logits(family, authors(family, torch.bfloat16), ids, real).float()
        exact = authors_logits(family, authors(family), ids, real)
        ours = native(ids, attention_mask=real).logits.float()
    their_error = (theirs - exact).abs()[real].max()
    assert 0 < their_error < 2.0
    assert (ours - theirs).abs()[real].max() <= their_error


@pytest.mark.parametrize("family", FAMILIES)
def test_every_variant_decodes_as_with_the_authors_model(family, oracle_dirs, authors):
    native, tok = igk.load(oracle_dirs[family])
    mine, theirs = igk.InfoGainSampler(native, tok), igk.InfoGainSampler(authors(family), tok)
    assert type(mine.adapter) is type(theirs.adapter)
    prompts = ["Hello there", "2+2="]
    for variant in VARIANTS:
        kw = dict(max_new_tokens=6, steps=6, block_length=2, variant=variant, candidates=3,
                  position_temperature=0.5, seed=7)
        a, b = mine.generate(prompts, **kw), theirs.generate(prompts, **kw)
        assert torch.equal(a.sequences, b.sequences), variant
        for i, p in enumerate(prompts):
            alone = mine.generate([p], **{**kw, "seed": 7 + i})
            assert a.sequences[i, :a.lengths[i]].tolist() == alone.sequences[0].tolist(), variant


def test_model_facts_come_from_the_checkpoint(oracle_dirs):
    sdar, tok = igk.load(oracle_dirs["sdar"])
    s = igk.InfoGainSampler(sdar, tok)
    assert 151645 in s.adapter.eos_ids and 151643 in s.adapter.eos_ids   # <|im_end|> is only in generation_config
    out = s.generate(["Hi"], max_new_tokens=8, steps=8, seed=0)
    assert out.config.block_length == 4                                 # the attention block size
    with pytest.raises(ValueError, match=r"block_length=8 .* attention block size 4"):
        s.generate(["Hi"], max_new_tokens=8, steps=8, block_length=8)
    s.generate(["Hi"], max_new_tokens=8, steps=8, block_length=2)      # a divisor is fine
    llada, tok = igk.load(oracle_dirs["llada"])
    assert igk.InfoGainSampler(llada, tok).generate(["Hi"], max_new_tokens=4, steps=4).config.block_length == 32


def test_a_model_that_ignores_padding_is_decoded_by_length(oracle_dirs, authors):
    """The pre-2025 LLaDA file ignores attention_mask: padded rows would decode differently."""
    class NoPadding(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.config = inner, inner.config

        def forward(self, input_ids, attention_mask=None):
            return self.inner(input_ids)

    _, tok = igk.load(oracle_dirs["llada"])
    s = igk.InfoGainSampler(NoPadding(authors("llada")), tok)
    prompts = ["A longer prompt here", "Hi", "Mid size"]
    kw = dict(max_new_tokens=4, steps=4, block_length=2, candidates=3, position_temperature=0.5,
              return_history=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = s.generate(prompts, seed=3, **kw)
        s.generate(prompts, seed=3, **kw)
    assert sum("ignores attention_mask" in str(w.message) for w in caught) == 1     # checked once
    for i, p in enumerate(prompts):
        alone = s.generate([p], seed=3 + i, **kw)
        assert out.sequences[i, :out.lengths[i]].tolist() == alone.sequences[0].tolist()
        assert out.cumulative_entropy[i] == pytest.approx(float(alone.cumulative_entropy[0]), rel=1e-5)
    assert len(out.history) == 4 and all(len(h["kind"]) == 3 for h in out.history)


def test_sharded_checkpoint_loads_like_the_single_file(oracle_dirs, tmp_path, gen):
    src = oracle_dirs["dream"]
    dst = tmp_path / "dream-sharded"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("model.safetensors"))
    tensors = load_file(str(src / "model.safetensors"))
    names = sorted(tensors)
    weight_map = {}
    for part, chunk in enumerate((names[::2], names[1::2])):
        file = f"model-{part + 1:05d}-of-00002.safetensors"
        save_file({n: tensors[n] for n in chunk}, str(dst / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(chunk, file))
    (dst / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    single, _ = igk.load(src)
    sharded, _ = igk.load(dst)
    ids, real = batch(single.config.vocab_size, gen)
    assert torch.equal(single(ids, real).logits, sharded(ids, real).logits)


def test_loading_peak_memory_is_about_the_weights(tmp_path):
    """A ~200 MB checkpoint: the process's peak RSS during igk.load grows by at most 1.3x its bytes."""
    built = upstream().build(tmp_path, families=("llada",), hidden=192, layers=2)
    weights = (built["llada"] / "model.safetensors").stat().st_size
    assert weights > 150e6
    code = textwrap.dedent(f"""
        import resource, igkernels as igk
        def rss(field):
            return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1]) * 1024
        igk.load({str(built["llada"])!r})                    # warm every import and allocator path
        import gc; gc.collect()
        before = rss("VmRSS:")
        open("/proc/self/clear_refs", "w").write("5")        # reset the peak to now
        model, _ = igk.load({str(built["llada"])!r})
        print(rss("VmHWM:") - before)
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak = int(proc.stdout.split()[-1])
    assert peak <= 1.3 * weights, f"peak {peak / 2**20:.0f} MiB for {weights / 2**20:.0f} MiB of weights"


def _break(directory, tensor, new=None):
    tensors = load_file(str(directory / "model.safetensors"))
    if new is None:
        del tensors[tensor]
    else:
        tensors[tensor] = new
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})


def test_bad_checkpoints_raise_one_clear_error(oracle_dirs, tmp_path):
    src = oracle_dirs["sdar"]
    with pytest.raises(CheckpointError, match=r"config\.json: no such file"):
        igk.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "nonesuch"}))
    with pytest.raises(CheckpointError, match="model_type 'nonesuch'"):
        igk.load(tmp_path)
    missing = tmp_path / "missing"
    shutil.copytree(src, missing)
    _break(missing, "model.norm.weight")
    with pytest.raises(CheckpointError, match=r"missing weight tensor\(s\) \['model\.norm\.weight'\]"):
        igk.load(missing)
    misshaped = tmp_path / "misshaped"
    shutil.copytree(src, misshaped)
    _break(misshaped, "model.layers.1.mlp.up_proj.weight", torch.zeros(3, 64))
    with pytest.raises(CheckpointError, match=r"'model\.layers\.1\.mlp\.up_proj\.weight' has shape \[3, 64\]"):
        igk.load(misshaped)
    cut = tmp_path / "cut"
    shutil.copytree(src, cut)
    with open(cut / "model.safetensors", "r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        igk.load(cut)
    with pytest.raises(ValueError, match="dtype must be one of"):
        igk.load(src, dtype="fp12")
    with pytest.raises(CheckpointError, match="no such checkpoint directory"):
        igk.load(str(tmp_path / "nowhere" / "at" / "all"))


def _copy(src, dst, config=None, tensors=None):
    """A copy of checkpoint ``src``, its config updated by ``config`` and its weights by ``tensors``."""
    shutil.copytree(src, dst)
    if config:
        cfg = json.loads((dst / "config.json").read_text())
        (dst / "config.json").write_text(json.dumps({**cfg, **config}))
    for name, value in (tensors or {}).items():
        _break(dst, name, value)
    return dst


def _header_of(path):
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _with_header(path, header, data):
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)


@pytest.mark.parametrize("edit, message", [
    (lambda h, name: h[name].update(shape=[10 ** 6, 10 ** 6]), r"needs 4000000000000 bytes"),
    (lambda h, name: h[name].update(shape=[-1, 64]), r"shape \[-1, 64\]"),
    (lambda h, name: h[name].pop("data_offsets"), r"byte range None"),
    (lambda h, name: h[name].update(data_offsets=[0, 10 ** 12]), r"byte range .* outside"),
    (lambda h, name: h.__setitem__(name, "x"), r"header entry is a str"),
])
def test_a_damaged_safetensors_header_is_named_before_any_allocation(oracle_dirs, tmp_path, edit, message):
    d = _copy(oracle_dirs["sdar"], tmp_path / "d")
    header, data = _header_of(d / "model.safetensors")
    edit(header, "model.norm.weight")
    _with_header(d / "model.safetensors", header, data)
    with pytest.raises(CheckpointError, match=f"model.safetensors: tensor 'model.norm.weight': .*{message}"):
        igk.load(d)


def test_a_header_longer_than_its_file_and_an_index_leaving_the_directory(oracle_dirs, tmp_path):
    d = _copy(oracle_dirs["sdar"], tmp_path / "short")
    raw = (d / "model.safetensors").read_bytes()
    (d / "model.safetensors").write_bytes(raw[:200])
    with pytest.raises(CheckpointError, match=r"model.safetensors: cut short \(its header says"):
        igk.load(d)
    d = _copy(oracle_dirs["sdar"], tmp_path / "index")
    header, _ = _header_of(d / "model.safetensors")
    (d / "model.safetensors").rename(tmp_path / "elsewhere.safetensors")
    (d / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {name: "../elsewhere.safetensors" for name in header if name != "__metadata__"}}))
    with pytest.raises(CheckpointError, match=r"is not a file name in"):
        igk.load(d)


def test_weights_that_would_decode_silently_wrong_are_refused(oracle_dirs, tmp_path):
    """NaN or integer weights, layers the config does not build, a zero attention block: each
    is named at load (NaN queries, for one, give finite logits through CPU attention)."""
    src = oracle_dirs["dream"]
    name = "model.layers.0.self_attn.q_proj.weight"
    w = load_file(str(src / "model.safetensors"))[name]
    with pytest.raises(CheckpointError, match=f"'{name}' holds NaN or infinite values"):
        igk.load(_copy(src, tmp_path / "nan", tensors={name: torch.full_like(w, float("nan"))}))
    with pytest.raises(CheckpointError, match=f"'{name}' holds NaN or infinite values"):
        igk.load(_copy(src, tmp_path / "inf", tensors={name: w.index_fill(0, torch.tensor([3]), float("-inf"))}))
    with pytest.raises(CheckpointError, match=f"'{name}' is stored as int32"):
        igk.load(_copy(src, tmp_path / "int", tensors={name: w.to(torch.int32)}))
    layers = json.loads((oracle_dirs["sdar"] / "config.json").read_text())["num_hidden_layers"]
    with pytest.raises(CheckpointError, match="tensor.s. of layers this config.json does not build"):
        igk.load(_copy(oracle_dirs["sdar"], tmp_path / "fewer", config={"num_hidden_layers": layers - 1}))
    with pytest.raises(CheckpointError, match=r"fewer0?/config.json: 'block_size' must be >= 1, got 0"):
        igk.load(_copy(oracle_dirs["sdar"], tmp_path / "fewer0", config={"block_size": 0}))
    with pytest.raises(CheckpointError, match=r"eps0/config.json: 'rms_norm_eps' must be finite and > 0, got 0.0"):
        igk.load(_copy(oracle_dirs["sdar"], tmp_path / "eps0", config={"rms_norm_eps": 0.0}))
    with pytest.warns(UserWarning, match=r"1 tensor\(s\) this dream model does not use.*'bogus.weight'"):
        igk.load(_copy(src, tmp_path / "extra", tensors={"bogus.weight": torch.zeros(3)}))


def test_load_checks_its_arguments_before_reading(oracle_dirs):
    with pytest.raises(TypeError, match="native must be a bool"):
        igk.load(oracle_dirs["sdar"], native="no")
    with pytest.raises(ValueError, match="device 'nonsense'"):
        igk.load(oracle_dirs["sdar"], device="nonsense")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            igk.load(oracle_dirs["sdar"], device="cuda")


def test_a_broken_tokenizer_is_named(oracle_dirs, tmp_path):
    d = _copy(oracle_dirs["sdar"], tmp_path / "tok")
    (d / "tokenizer.json").write_text("{oops")
    with pytest.raises(CheckpointError, match=r"tok: cannot load its tokenizer"):
        igk.load(d)


def test_remote_code_route_and_its_silent_rope_failure(oracle_dirs, gen):
    """native=False runs the authors' file; a RoPE buffer left uninitialised is caught, not used."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, tok = igk.load(oracle_dirs["dream"], native=False)
    assert any("trust_remote_code=True" in str(w.message) for w in caught)
    native, _ = igk.load(oracle_dirs["dream"])
    ids, real = batch(native.config.vocab_size, gen)
    with torch.inference_mode():
        assert torch.equal(igk.InfoGainSampler(model, tok).adapter.forward(ids, real)[real],
                           native(ids, real).logits[real])
    rotary = next(m for n, m in model.named_modules() if hasattr(m, "inv_freq"))
    rotary.inv_freq.copy_(torch.empty_like(rotary.inv_freq).uniform_(-1e3, 1e3))
    with pytest.raises(RuntimeError, match="RoPE buffer .* uninitialised .* native=True"):
        loading._check_rotary_buffers(model, "dream-checkpoint")


@pytest.mark.parametrize("version, key", [("4.52.4", "torch_dtype"), ("5.24.0", "dtype")])
def test_dtype_keyword_follows_the_transformers_version(monkeypatch, version, key):
    import transformers
    monkeypatch.setattr(transformers, "__version__", version)
    assert loading._dtype_kwarg(torch.bfloat16) == {key: torch.bfloat16}


def test_mmada_loads_as_llada_when_its_config_is_llada(oracle_dirs, tmp_path, gen):
    mmada = tmp_path / "mmada"
    shutil.copytree(oracle_dirs["llada"], mmada)
    config = json.loads((mmada / "config.json").read_text())
    config.update(model_type="mmada", architectures=["MMadaModelLM"])
    (mmada / "config.json").write_text(json.dumps(config))
    model, _ = igk.load(mmada)
    llada, _ = igk.load(oracle_dirs["llada"])
    ids, real = batch(llada.config.vocab_size, gen)
    assert type(model) is LLaDAModel and torch.equal(model(ids, real).logits, llada(ids, real).logits)
    del config["d_model"]
    (mmada / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="MMaDA checkpoint is not a LLaDA under another name.*native=False"):
        igk.load(mmada)


@pytest.mark.parametrize("alg, variant", [("maskgit_plus", "confidence"), ("topk_margin", "margin"),
                                          ("entropy", "entropy")])
def test_timesteps_schedule_reproduces_dreams_diffusion_generate(oracle_dirs, authors, alg, variant):
    """Dream's own decoder at its defaults (eps 1e-3, temperature 0): the same tokens."""
    model = authors("dream")
    config_cls = sys.modules[type(model).__module__.rsplit(".", 1)[0] + ".generation_utils"].DreamGenerationConfig
    native, tok = igk.load(oracle_dirs["dream"])
    s = igk.InfoGainSampler(native, tok)
    for text, G, steps in (("Hello there, how", 12, 12), ("2+2=", 16, 8)):
        prompt = tok(text)["input_ids"]
        cfg = config_cls(max_new_tokens=G, steps=steps, temperature=0.0, alg=alg, return_dict_in_generate=True,
                         mask_token_id=151666, pad_token_id=151643, eos_token_id=151643)
        theirs = model.diffusion_generate(torch.tensor([prompt]), generation_config=cfg).sequences[0]
        mine = s.generate([prompt], max_new_tokens=G, steps=steps, block_length=G, variant=variant,
                          schedule="timesteps").sequences[0]
        assert mine.tolist() == theirs.tolist()
