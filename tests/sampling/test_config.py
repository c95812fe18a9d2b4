"""DecodeConfig: defaults written once, validated on construction, JSON round trip, and the
generate / CLI / demo entry points built from it."""
import argparse
import dataclasses
import json

import pytest

import igkernels as igk
from igkernels import cli
from igkernels.sampling import VARIANTS, DecodeConfig


def test_defaults_validation_and_json_round_trip():
    c = DecodeConfig()
    assert c.variant == "info_gain" and c.candidates == 8 and c.threshold is None
    d = DecodeConfig(seed=[3, 4], threshold=1, temperature=0.5, variant="lookum")
    assert d.seed == (3, 4) and d.threshold == 1.0 and isinstance(d.threshold, float)
    assert DecodeConfig.from_json(d.to_json()) == d
    assert json.loads(d.to_json())["seed"] == [3, 4]
    assert DecodeConfig.from_dict(c.to_dict()) == c
    assert d.seeds(2) == [3, 4] and c.replace(seed=7).seeds(3) == [7, 8, 9]
    with pytest.raises(TypeError, match="unknown decode option.*'stepz'"):
        c.replace(stepz=3)
    with pytest.raises(TypeError, match="unknown decode option"):
        DecodeConfig.from_dict({"nonesuch": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.steps = 3


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(variant="greedy"), ValueError, "variant"),
    (dict(candidates=0), ValueError, "candidates"),
    (dict(steps=0), ValueError, "steps"),
    (dict(max_new_tokens=-1), ValueError, "max_new_tokens"),
    (dict(position_temperature="a"), TypeError, "position_temperature"),
    (dict(threshold=-0.5), ValueError, "threshold"),
    (dict(threshold=1.5), ValueError, r"threshold must be in \[0, 1\]"),
    (dict(threshold_mode="parallel"), ValueError, "threshold_mode 'parallel' needs a threshold"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=2 ** 39), ValueError, "seed"),
    (dict(seed=[1, "2"]), TypeError, "seed"),
    (dict(seed=1.5), TypeError, "seed"),
    (dict(max_forward_batch=0), ValueError, "max_forward_batch"),
    (dict(backend=3), TypeError, "backend"),
    (dict(fuse_lm_head="yes"), TypeError, "fuse_lm_head"),
])
def test_bad_options_name_the_option(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        DecodeConfig(**kwargs)


def test_seed_plus_index_must_stay_in_range():
    with pytest.raises(ValueError, match=r"seed 549755813887 \+ 1 for prompts\[1\] leaves"):
        DecodeConfig(seed=2 ** 39 - 1).seeds(2)
    assert DecodeConfig(seed=2 ** 39 - 2).seeds(2) == [2 ** 39 - 2, 2 ** 39 - 1]


def test_cli_flags_are_the_config_fields_with_their_defaults():
    parser = argparse.ArgumentParser()
    cli.add_decode_options(parser)
    args = parser.parse_args([])
    assert cli.decode_config(args) == DecodeConfig()
    flags = {a.dest: a for a in parser._actions}
    for f in dataclasses.fields(DecodeConfig):
        if f.metadata.get("cli", True):
            assert f.name in flags and flags[f.name].help, f.name
    assert flags["variant"].choices == tuple(VARIANTS)
    args = parser.parse_args(["--steps", "5", "--history", "--threshold", "0.9", "--fuse-lm-head"])
    c = cli.decode_config(args, progress=True)
    assert (c.steps, c.return_history, c.threshold, c.fuse_lm_head, c.progress) == (5, True, 0.9, True, True)


def test_generate_takes_a_config_and_overrides():
    from igkernels.demo import MODEL_DIR
    model, tok = igk.load(MODEL_DIR)
    s = igk.InfoGainSampler(model, tok)
    prompts = ["[MASK][MASK]*7=[MASK][MASK]1"]
    config = DecodeConfig(max_new_tokens=0, steps=3, candidates=4, seed=2)
    a = s.generate(prompts, config)
    b = s.generate(prompts, max_new_tokens=0, steps=3, candidates=4, seed=2)
    c = s.generate(prompts, config.replace(steps=5), steps=3)
    assert a.sequences.tolist() == b.sequences.tolist() == c.sequences.tolist()
    assert a.config == config.replace(block_length=32, cache="none") == c.config   # the model defaults, resolved
    with pytest.raises(TypeError, match="config must be a DecodeConfig"):
        s.generate(prompts, {"steps": 3})
    with pytest.raises(TypeError, match="unknown decode option"):
        s.generate(prompts, stepz=3)
