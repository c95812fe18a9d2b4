import argparse
import json
import os

import pytest

from igkernels import demo
from igkernels.demo import app, tasks


def test_embedded_model_files_are_shipped():
    names = {p.name for p in demo.MODEL_DIR.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert (demo.MODEL_DIR / "model.safetensors").stat().st_size <= 20 * 2 ** 20


def test_embedded_model_loads_offline_and_decodes_well_formed(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from igkernels.sampling import InfoGainSampler

    model = AutoModelForMaskedLM.from_pretrained(demo.MODEL_DIR).eval()
    tokenizer = AutoTokenizer.from_pretrained(demo.MODEL_DIR)
    assert tokenizer.mask_token_id == tasks.MASK_ID
    assert tokenizer("47*6=282")["input_ids"] == tasks.encode("47*6=282")
    assert tokenizer.convert_tokens_to_ids("[MASK]") == tasks.MASK_ID

    examples = tasks.held_out_set("mul", 2, seed=1) + tasks.held_out_set("sudoku", 2, seed=1)
    for task in tasks.TASKS:
        exs = [e for e in examples if e.task == task]
        out = InfoGainSampler(model, tokenizer).generate(
            [e.prompt_ids() for e in exs], max_new_tokens=0, steps=app.DEFAULT_STEPS[task], variant="info_gain",
            candidates=4, seed=0)
        for b, ex in enumerate(exs):
            text = tasks.decode(out.sequences[b, :out.lengths[b]].tolist())
            assert len(text) == len(ex.prompt) and tasks.MASK_CHAR not in text
            for p, o in zip(ex.prompt, text):
                assert o == p if p != tasks.MASK_CHAR else o.isdigit()


def test_wilson_interval():
    lo, hi = app.wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert app.wilson(0, 10)[0] == 0.0 and app.wilson(10, 10)[1] == 1.0
    for n in range(1, 60):
        for k in (0, n // 2, n):
            lo, hi = app.wilson(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_canvases_and_order_from_history():
    # One sequence with 3 masks: a lookahead step with 4 candidates commits 2, a plain step the last.
    history = [
        {"step": 0, "kind": ["lookahead"], "positions": [[2, 5]], "tokens": [[1, 1]], "canvases": [3],
         "candidates": [{"positions": [[2, 5]] * 4}]},
        {"step": 1, "kind": ["plain"], "positions": [[0]], "tokens": [[1]], "canvases": [0], "candidates": [None]},
    ]
    assert app.canvases_per_sample(history, 1) == 1 + 3 + 0
    assert app.decode_order(history, 0, 6) == [2, 0, 1, 0, 0, 1]


def _args(tmp_path, *extra):
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    return parser.parse_args(["--samples", "2", "--out", str(tmp_path), *extra])


def test_demo_runs_on_a_tiny_subset(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert demo.run(_args(tmp_path, "--json")) == 0
    report = json.loads(capsys.readouterr().out)
    assert {(r["task"], r["variant"]) for r in report["results"]} == {
        (t, v) for t in tasks.TASKS for v in app.VARIANTS}
    for r in report["results"]:
        assert r["n"] == 2 and 0 <= r["ci95"][0] <= r["accuracy"] <= r["ci95"][1] <= 1
        assert r["cumulative_entropy"] >= 0 and r["canvases_per_sample"] >= 1
    assert os.path.getsize(report["figure"]) > 0


def test_demo_table_and_bad_variant(tmp_path, capsys):
    assert demo.run(_args(tmp_path, "--task", "mul", "--variants", "confidence", "--no-figure")) == 0
    out = capsys.readouterr().out
    assert "confidence" in out and "95% CI" in out
    with pytest.raises(ValueError, match="--variants must name some of"):
        demo.run(_args(tmp_path, "--variants", "greedy"))
