"""igkernels eval on the embedded model: the demo's results, resuming, refusing a changed run,
and data parallel under torchrun (gloo, 2 processes) equal to one process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from igkernels.cli import main as cli_main
from igkernels.demo import app, tasks
from igkernels.eval import store
from igkernels.demo import MODEL_DIR

N = 24


@pytest.fixture(scope="module")
def sampler():
    from igkernels.models import load
    from igkernels.sampling import InfoGainSampler
    model, tok = load(MODEL_DIR, device="cpu")
    return InfoGainSampler(model, tok)


def eval_cli(out: Path, *extra: str, limit: int = N) -> int:
    return cli_main(["eval", "--task", "mul", "--limit", str(limit), "--variant", "info_gain,confidence",
                     "--batch-size", "8", "--out", str(out), "--no-progress", "--no-figure", *extra])


def results(out: Path) -> list[tuple]:
    lines = (out / store.RESULTS_FILE).read_text().splitlines()
    return [(r["variant"], r["id"], r["completion"], r["correct"]) for r in map(json.loads, lines)]


def test_eval_reproduces_the_demo(tmp_path, sampler):
    assert eval_cli(tmp_path) == 0
    got = results(tmp_path)
    examples = tasks.held_out_set("mul", N, seed=0)
    for variant in ("info_gain", "confidence"):
        config = app.decode_config(_demo_args(), max_new_tokens=0, steps=app.DEFAULT_STEPS["mul"], variant=variant,
                                   seed=0, return_history=True)
        demo = app.evaluate(sampler, "mul", examples, config)
        mine = [r for r in got if r[0] == variant]
        assert [r[2] for r in mine] == demo["outputs"]
        assert [r[3] for r in mine] == demo["correct_mask"]
    summary = json.loads((tmp_path / store.SUMMARY_FILE).read_text())
    assert [v["n"] for v in summary["variants"]] == [N, N] and summary["missing_samples"] == 0


def _demo_args():
    import argparse
    p = argparse.ArgumentParser()
    app.add_arguments(p)
    return p.parse_args([])


def test_every_line_carries_the_sample_and_its_config(tmp_path):
    assert eval_cli(tmp_path, limit=8) == 0
    line = json.loads((tmp_path / store.RESULTS_FILE).read_text().splitlines()[3])
    for key in ("id", "variant", "completion", "answer", "correct", "cumulative_entropy", "model_calls", "canvases",
                "wall_s", "seed", "config"):
        assert key in line
    assert line["seed"] == line["index"] and line["config"]["seed"] == line["seed"]
    assert line["config"]["variant"] == line["variant"]


def test_rerun_resumes_and_a_torn_shard_loses_only_its_batch(tmp_path):
    full = tmp_path / "full"
    assert eval_cli(full) == 0
    part = tmp_path / "part"
    assert eval_cli(part, limit=16) == 0
    # A process killed while writing: the shard ends inside a batch, in the middle of a line.
    shard = store.shard_path(part, 0)
    text = shard.read_text()
    shard.write_text(text[: len(text) - len(text.splitlines()[-1]) // 2 - 200])
    before = {json.loads(x)["batch"] for x in shard.read_text().splitlines()[:-1]}
    assert eval_cli(part) == 0
    assert results(part) == results(full)
    lines = [json.loads(x) for x in shard.read_text().splitlines()]
    assert len(lines) == len({(r["variant"], r["id"]) for r in lines}) == 2 * N
    assert before  # some batches were kept, not redone
    assert eval_cli(part) == 0 and results(part) == results(full)


def test_a_changed_run_is_refused_unless_forced(tmp_path, capsys):
    assert eval_cli(tmp_path, limit=8) == 0
    assert eval_cli(tmp_path, "--candidates", "3", limit=8) == 2
    assert "--out" in capsys.readouterr().err
    assert eval_cli(tmp_path, "--candidates", "3", "--force", limit=8) == 0
    assert {json.loads(x)["config"]["candidates"] for x in (tmp_path / store.RESULTS_FILE).read_text().splitlines()} == {3}


def _torchrun(out: Path, limit: int = N) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "igkernels", "eval", "--task", "mul", "--limit", str(limit), "--variant", "info_gain,confidence",
           "--batch-size", "4", "--out", str(out), "--no-progress", "--no-figure", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_processes_equal_one_and_survive_a_killed_rank(tmp_path):
    one = tmp_path / "one"
    assert cli_main(["eval", "--task", "mul", "--limit", str(N), "--variant", "info_gain,confidence",
                     "--batch-size", "4", "--out", str(one), "--no-progress", "--no-figure"]) == 0
    two = tmp_path / "two"
    proc = _torchrun(two)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert results(two) == results(one)
    assert {p.name for p in two.glob("shard-*.jsonl")} == {"shard-0.jsonl", "shard-1.jsonl"}

    # SIGKILL one rank once it has written a batch; the rerun finishes with the same results.
    killed = tmp_path / "killed"
    proc = _torchrun(killed)
    shard = store.shard_path(killed, 1)
    deadline = time.time() + 300
    while time.time() < deadline and not (shard.exists() and shard.stat().st_size > 0):
        time.sleep(0.2)
    ranks = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert ranks, "no rank processes found"
    os.kill(int(ranks[-1]), signal.SIGKILL)
    proc.communicate(timeout=300)
    assert proc.returncode != 0
    proc = _torchrun(killed)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert results(killed) == results(one)


def test_fewshot_exemplars_come_first_and_are_not_evaluated(tmp_path, monkeypatch):
    """--num-fewshot without --fewshot-data takes the first samples of --data as exemplars and
    evaluates the rest; each prompt starts with the exemplars' prompts and solutions."""
    from igkernels.eval import runner
    from igkernels.eval.tasks import get
    seen = []

    def fake_decode(sampler, task, batch, config, chat, shots=()):
        seen.append(([s.id for s in batch.samples], [s.id for s in shots],
                     [task.with_shots(task.build_prompt(s), shots) for s in batch.samples]))
        return [{"id": s.id, "sample_sha": runner.sample_digest(s), "index": batch.first + i, "batch": batch.number, "variant": config.variant,
                 "correct": False, "model_calls": 1, "canvases": 1, "cumulative_entropy": 0.0, "new_tokens": 1,
                 "wall_s": 0.1} for i, s in enumerate(batch.samples)]

    monkeypatch.setattr(runner, "decode_batch", fake_decode)
    data = str(Path(__file__).resolve().parents[1] / "data" / "eval" / "gsm8k.jsonl")

    class NoTokenizer:
        tokenizer = None

    summary = runner.evaluate(NoTokenizer(), get("gsm8k"), tmp_path, data=data, num_fewshot=2, limit=3,
                              batch_size=8, figure=False, progress=False)
    assert summary["samples"] == 3 and summary["variants"][0]["n"] == 3
    (ids, shot_ids, prompts), = seen
    assert shot_ids == ["0", "1"] and ids == ["2", "3", "4"]
    task = get("gsm8k")
    shots = task.load(data, 2)
    for p, s in zip(prompts, task.load(data, 5)[2:]):
        assert p.startswith(f"{task.build_prompt(shots[0])}\n{shots[0].meta['solution']}\n\n")
        assert p.endswith(task.build_prompt(s))
    with pytest.raises(ValueError, match="num-fewshot.*token ids"):
        get("mul").with_shots([1, 2], shots)


@pytest.mark.parametrize("args, message", [
    (["--variant", "info_gain,bogus"], "--variant: unknown bogus"),
    (["--limit", "0"], "--limit must be >= 1"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--num-fewshot", "-1"], "--num-fewshot must be >= 0"),
    (["--num-fewshot", "9999"], "--num-fewshot: 9999 exemplars asked for"),
    (["--variant", "info_gain,confidence,info_gain"], "--variant: expected distinct variants"),
    (["--max-new-tokens", "4"], "--max-new-tokens: task 'mul' fills the masks"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--fewshot-data", "x.jsonl"], "--fewshot-data: given without --num-fewshot"),
    (["--fewshot-data", "x.jsonl", "--num-fewshot", "1"], "--fewshot-data: no such file: x.jsonl"),
])
def test_bad_eval_arguments_name_the_flag(tmp_path, capsys, args, message):
    assert cli_main(["eval", "--task", "mul", "--out", str(tmp_path), "--no-progress", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_data_file_is_named(tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    assert cli_main(["eval", "--task", "gsm8k", "--data", str(missing), "--out", str(tmp_path / "o"),
                     "--no-progress"]) == 2
    assert f"no such file: {missing}" in capsys.readouterr().err


@pytest.mark.parametrize("make, out, message", [
    (lambda p: (p / "file").write_text("x"), "file", "exists and is not a directory"),
    (lambda p: (p / "file").write_text("x"), "file/sub", "cannot create it"),
    (lambda p: None, "", "--out: an empty path"),
])
def test_a_bad_out_is_named_before_any_work(tmp_path, capsys, make, out, message):
    make(tmp_path)
    assert cli_main(["eval", "--task", "mul", "--out", str(tmp_path / out) if out else "", "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def _decodes(monkeypatch) -> list:
    """The (variant, batch) of every batch decoded from now on."""
    from igkernels.eval import runner
    seen, real = [], runner.decode_batch
    monkeypatch.setattr(runner, "decode_batch",
                        lambda sampler, task, batch, config, *a: seen.append((config.variant, batch.number))
                        or real(sampler, task, batch, config, *a))
    return seen


def test_a_changed_limit_redoes_exactly_the_changed_batches(tmp_path, monkeypatch):
    """demo-sudoku has 48 held-out puzzles: 50 samples reshuffle them once more, so every sample
    of a 50-sample run differs from a 16-sample run's. A rerun with another --limit reuses only
    the batches whose samples are the same, keeps the others' lines, and ends as a fresh run."""
    def run(out, limit):
        return cli_main(["eval", "--task", "demo-sudoku", "--limit", str(limit), "--variant", "confidence",
                         "--batch-size", "8", "--out", str(out), "--no-progress", "--no-figure"])
    seen = _decodes(monkeypatch)
    fresh = {n: tmp_path / f"fresh{n}" for n in (16, 50)}
    for n, out in fresh.items():
        assert run(out, n) == 0
    seen.clear()
    out = tmp_path / "changed"
    assert run(out, 16) == 0 and run(out, 50) == 0
    assert results(out) == results(fresh[50])
    assert seen == [("confidence", b) for b in (0, 1)] + [("confidence", b) for b in range(7)]
    seen.clear()
    assert run(out, 16) == 0 and results(out) == results(fresh[16])
    assert run(out, 50) == 0 and results(out) == results(fresh[50])
    assert seen == []   # each run kept the other's lines


def test_results_without_their_run_description_are_refused(tmp_path, capsys):
    assert eval_cli(tmp_path, limit=8) == 0
    (tmp_path / store.RUN_FILE).unlink()
    assert eval_cli(tmp_path, "--seed", "1", limit=8) == 2
    assert "holds results but no run.json" in capsys.readouterr().err
    assert eval_cli(tmp_path, "--seed", "1", "--force", limit=8) == 0


def test_another_dtype_is_another_run(tmp_path, capsys):
    assert eval_cli(tmp_path, limit=8) == 0
    assert eval_cli(tmp_path, "--dtype", "bf16", limit=8) == 2
    assert "differs in dtype" in capsys.readouterr().err
    assert eval_cli(tmp_path, "--model", str(MODEL_DIR), limit=8) == 0   # the embedded model by its path


def test_a_changed_option_is_named(tmp_path, capsys):
    assert eval_cli(tmp_path, limit=8) == 0
    assert eval_cli(tmp_path, "--temperature", "0.5", "--seed", "3", limit=8) == 2
    assert "differs in config.seed, config.temperature" in capsys.readouterr().err


@pytest.mark.parametrize("damage, message", [
    (lambda out: store.shard_path(out, 0).write_text('{"variant": "info_gain"}\n'), "shard-0.jsonl: line 1 is not"),
    (lambda out: store.shard_path(out, 0).write_text("[1, 2]\n"), "shard-0.jsonl: line 1 is not"),
    (lambda out: (out / store.RUN_FILE).write_text("[]"), "run.json: not a run description"),
    (lambda out: (out / store.RUN_FILE).write_text("xx"), "run.json: not a run description"),
])
def test_damaged_store_files_are_named(tmp_path, capsys, damage, message):
    assert eval_cli(tmp_path, limit=8) == 0
    damage(tmp_path)
    assert eval_cli(tmp_path, limit=8) == 2
    assert message in capsys.readouterr().err
    assert eval_cli(tmp_path, "--force", limit=8) == 0


def test_an_empty_data_file_is_refused(tmp_path, capsys):
    data = tmp_path / "empty.jsonl"
    data.write_text("")
    assert cli_main(["eval", "--task", "gsm8k", "--data", str(data), "--out", str(tmp_path / "o"),
                     "--no-progress"]) == 2
    assert f"--data {data}: no samples" in capsys.readouterr().err
