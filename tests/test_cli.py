"""``igkernels generate`` on a tiny offline BERT masked LM."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from igkernels import cli
from mdm_fixtures import cached_remote

BASE = ["--max-new-tokens", "4", "--steps", "4", "--block-length", "4", "--candidates", "3",
        "--position-temperature", "0.5"]


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return str(cached_remote(tmp_path_factory, "bert"))


def test_generate_json(bert, capsys):
    rc = cli.main(["generate", "--model", bert, "--prompt", "the cat sat", "--prompt", "a dog", "--json",
                   "--history", "--seed", "3", *BASE])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["prompt"] for r in doc["results"]] == ["the cat sat", "a dog"]
    for r in doc["results"]:
        assert len(r["tokens"]) == 4 and isinstance(r["text"], str) and r["cumulative_entropy"] > 0
    assert doc["num_forward"] == len(doc["history"])


def test_generate_text_with_progress_bar(bert, capsys):
    rc = cli.main(["generate", "--model", bert, "--prompt", "the cat", "--variant", "margin", *BASE])
    out = capsys.readouterr()
    assert rc == 0
    assert "=== [0] the cat" in out.out and "cumulative entropy" in out.out
    assert "step" in out.err                 # tqdm writes to stderr


def test_generate_bad_argument_is_a_clean_error(bert, capsys):
    rc = cli.main(["generate", "--model", bert, "--prompt", "the cat", "--max-new-tokens", "8", "--steps", "1",
                   "--block-length", "4", "--no-progress"])
    assert rc == 2
    assert "steps" in capsys.readouterr().err


def test_module_entry_point_lists_subcommands():
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-m", "igkernels.cli", "--help"], capture_output=True, text=True,
                         timeout=300, cwd=root)
    assert res.returncode == 0 and "generate" in res.stdout and "demo" in res.stdout


EMBEDDED = str(Path(__file__).resolve().parents[1] / "igkernels" / "demo" / "data" / "igk-tiny-mdm")


@pytest.mark.parametrize("args, names", [
    (["generate", "--model", "/no/such/dir", "--prompt", "x"], "/no/such/dir: no such checkpoint"),
    (["generate", "--model", "/", "--prompt", "x"], "config.json: no such file"),
    (["generate", "--model", EMBEDDED, "--prompt", "1", "--device", "bogus"], "--device 'bogus'"),
    (["generate", "--model", EMBEDDED, "--prompt", "1", "--device", "cuda"], "--device 'cuda'"),
    (["generate", "--model", EMBEDDED, "--prompt", "1", "--backend", "cuda"], "--backend 'cuda'"),
    (["generate", "--model", EMBEDDED, "--prompt", "1", "--backend", "bogus"], "--backend 'bogus'"),
    (["generate", "--model", EMBEDDED, "--prompt", "1", "--candidates", "0"], "--candidates must be in [1, 1024]"),
    (["generate", "--model", EMBEDDED, "--prompt", "1", "--temperature", "1e40"], "--temperature must be 0 or in"),
    (["generate", "--model", EMBEDDED, "--prompt", "12", "--mask-id", "999", "--max-new-tokens", "0"],
     "mask_id 999 is outside the model's vocabulary of 17"),
    (["generate", "--model", EMBEDDED, "--prompt", "12", "--max-new-tokens", "0"], "holds no mask token"),
    (["generate", "--model", "/no/such/dir", "--prompt", "1", "--mask-id", "-5"], "--mask-id must be >= 0"),
    (["generate", "--model", "/no/such/dir", "--prompt", "1", "--dtype", "int8"], "--dtype must be one of"),
    (["generate", "--model", "/no/such/dir", "--prompt", "1", "--threshold", "2"],
     "--threshold must be in [0, 1]"),
    (["generate", "--model", "/no/such/dir", "--prompt", "1", "--threshold-mode", "parallel"],
     "--threshold-mode 'parallel' needs a threshold"),
    (["demo", "--candidates", "0"], "--candidates must be in [1, 1024]"),
    (["demo", "--steps", "0"], "--steps must be >= 1"),
    (["demo", "--steps", "-1"], "--steps must be >= 1"),
    (["demo", "--backend", "bogus"], "--backend 'bogus'"),
    (["demo", "--reveal", "99"], "--reveal must be in"),
    (["demo", "--out", "/proc/1/nope"], "--out '/proc/1/nope'"),
])
def test_user_errors_are_one_line_naming_the_flag_or_path(args, names, capsys):
    if "--device" in args and "cuda" in args:
        import torch
        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and names in err[0] and "Traceback" not in err[0], err


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupt(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "_generate", interrupt)
    assert cli.main(["generate", "--model", EMBEDDED, "--prompt", "1"]) == 130
    assert capsys.readouterr().err.strip() == "igkernels generate: interrupted"
    monkeypatch.setattr("igkernels.eval.cli.main", interrupt)
    assert cli.main(["eval", "--task", "mul", "--out", "x"]) == 130
    assert capsys.readouterr().err.strip() == ("igkernels eval: interrupted; rerun the same command to resume "
                                               "(finished batches are kept)")


def test_json_is_strict_and_infilling_reports_its_tokens(capsys):
    """History J of a duplicate candidate is -inf: null in strict JSON. Infilling (no new tokens)
    reports the decoded canvas, and the embedded tokenizer joins characters without spaces."""
    rc = cli.main(["generate", "--model", EMBEDDED, "--prompt", "[MASK][MASK]*7=[MASK][MASK]1", "--max-new-tokens",
                   "0", "--steps", "2", "--candidates", "8", "--position-temperature", "0.05", "--json", "--history"])
    assert rc == 0
    text = capsys.readouterr().out
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    r = doc["results"][0]
    assert len(r["tokens"]) == 8 and " " not in r["text"] and len(r["text"]) == 8
    Js = [j for h in doc["history"] for c in h["candidates"] if c for j in c["J"]]
    assert None in Js                         # a duplicate's -inf, written as null


def test_demo_on_another_model_says_why_it_cannot(oracle_dirs, capsys):
    assert cli.main(["demo", "--model", str(oracle_dirs["sdar"]), "--samples", "1", "--no-figure"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "the demo's prompts are ids of the embedded model's character vocabulary" in err[-1]
