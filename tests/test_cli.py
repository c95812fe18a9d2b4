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
