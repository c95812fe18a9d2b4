"""The math-style eval tasks (gsm8k, math500, countdown, sudoku): answer extraction, verdicts and
data loading, on hand-written completions and the fixtures in tests/data/eval/ (no model)."""
import json
from itertools import permutations, product
from pathlib import Path

import pytest

from igkernels.eval.tasks.answers import last_boxed, latex_equal
from igkernels.eval.tasks.base import Sample, Task
from igkernels.eval.tasks.countdown import Countdown, check_equation
from igkernels.eval.tasks.gsm8k import GSM8K
from igkernels.eval.tasks.math500 import MATH500
from igkernels.eval.tasks.sudoku import Sudoku, solves

DATA = Path(__file__).resolve().parents[1] / "data" / "eval"


def verdict(task: Task, sample: Sample, completion: str) -> tuple[str | None, bool]:
    """What the runner does with one completion."""
    completion = task.truncate(completion)
    answer = task.extract(sample, completion)
    return answer, task.score(sample, completion, answer)


# ------------------------------------------------------------------------------ gsm8k

@pytest.mark.parametrize("completion, target, answer, correct", [
    ("So the total is 1234.\n#### 1,234", "1234", "1234", True),
    ("The answer is $18.", "18", "18", True),
    ("She makes 18 dollars.", "18", "18", True),
    ("Total: 18.00", "18", "18", True),
    ("#### $18.00.", "18", "18", True),
    ("It drops to -5 degrees.\n#### -5", "-5", "-5", True),
    ("The answer is 3/4", "0.75", "3/4", True),
    ("#### 0.75", "3/4", "0.75", True),
    ("That is 18%.", "18", "18", True),
    ("First 3 + 4 = 7, then 7 * 2 = 14, so 14 apples.", "14", "14", True),
    ("The answer is #### 42 apples (check: 6 * 7 = 42).", "42", "42", True),
    ("#### 41", "42", "41", False),
    ("Half of 10 is 5, minus 2 is 3", "3", "3", True),
    ("10-5 = 5", "5", "5", True),
    ("The final answer is \\boxed{1,234}. (I used 3 steps.)", "1234", "1234", True),
    ("So the answer is \\boxed{\\frac{3}{4}}", "0.75", "3/4", True),
    ("I cannot solve this.", "18", None, False),
    ("####", "18", None, False),
    ("3,4 and 5", "5", "5", True),
    ("0.3333333", "1/3", "0.3333333", True),
    ("0.3333", "1/3", "0.3333", False),
    ("18.5", "18", "18.5", False),
])
def test_gsm8k_extract_and_score(completion, target, answer, correct):
    sample = Sample(id="0", prompt="q", target=target)
    assert verdict(GSM8K(), sample, completion) == (answer, correct)


def test_gsm8k_sample_and_prompt():
    task = GSM8K()
    s = task.sample(3, {"question": "How many?", "answer": "2 + 2 = 4\n#### 1,004"})
    assert (s.id, s.target) == ("3", "1004")
    assert task.sample(0, {"id": "x7", "question": "q", "answer": "#### 1"}).id == "x7"
    assert task.build_prompt(s) == ("How many?\n"
                                    "Please reason step by step, and put your final answer after '####'.")
    with pytest.raises(ValueError, match="####"):
        task.sample(0, {"question": "q", "answer": "no marker"})


# ------------------------------------------------------------------------------ math500

@pytest.mark.parametrize("pred, gold", [
    ("\\frac{1}{2}", "0.5"),
    ("\\frac12", "\\frac{1}{2}"),
    ("\\frac12", "1/2"),
    ("\\dfrac{3}{4}", "3/4"),
    ("\\tfrac{3}{4}", "0.75"),
    ("10^\\circ", "10"),
    ("10^{\\circ}", "10"),
    ("\\text{(B)}", "B"),
    ("(B)", "\\text{(B)}"),
    ("2\\sqrt{2}", "\\sqrt{8}"),
    ("\\sqrt2", "\\sqrt{2}"),
    ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}"),
    ("(1,2)", "(1, 2)"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
    ("x = 5", "5"),
    ("$5$", "5"),
    ("5\\text{ cm}", "5"),
    ("50\\%", "50"),
    ("10,\\!000", "10000"),
    ("\\frac{\\pi}{2}", "\\pi/2"),
    ("2\\cdot 3", "6"),
    ("6 \\div 4", "\\frac{3}{2}"),
    ("2x+1", "1+2x"),
    ("[-1, \\infty)", "[-1,\\infty)"),
    ("1, 2", "2,1"),
    ("\\sqrt[3]{8}", "2"),
    ("\\text{Evelyn}", "\\text{Evelyn}"),
    ("-\\frac{1}{3}", "\\frac{-1}{3}"),
])
def test_math_equal(pred, gold):
    assert latex_equal(pred, gold)


@pytest.mark.parametrize("pred, gold", [
    ("\\frac{1}{3}", "0.5"),
    ("5", "6"),
    ("\\sqrt{2}", "1.414"),
    ("(1,2)", "(2,1)"),
    ("(1,2)", "[1,2]"),
    ("(1,2)", "(1,2,3)"),
    ("\\text{(A)}", "B"),
    ("2x+1", "2x-1"),
    ("10^{10^{10}}", "1"),
    ("(10^{999})^{999}", "1"),
    ("((10^{999})^{999})^{999}", "1"),
    ("10^{400}", "10^{401}"),
    ("\\infty", "1"),
    ("\\frac{1}{0}", "1"),
    ("\\text{Evelyn}", "\\text{Bob}"),
])
def test_math_unequal(pred, gold):
    assert not latex_equal(pred, gold)


@pytest.mark.parametrize("text, boxed", [
    ("so $\\boxed{\\frac{1}{\\sqrt{2}}}$.", "\\frac{1}{\\sqrt{2}}"),
    ("first \\boxed{1}, then \\boxed{2}", "2"),
    ("\\fbox{3}", "3"),
    ("the answer is $\\boxed 7$", "7"),
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\boxed{1", None),
    ("no box: 5", None),
])
def test_last_boxed(text, boxed):
    assert last_boxed(text) == boxed


@pytest.mark.parametrize("completion, gold, correct", [
    ("... so the value is $\\boxed{\\frac{1}{\\sqrt{2}}}$.", "\\frac{\\sqrt{2}}{2}", True),
    ("Thus $\\boxed{0.5}$.", "\\frac{1}{2}", True),
    ("The answer is 0.5.", "\\frac{1}{2}", False),  # no box, no answer
    ("$\\boxed{\\frac{1}{3}}$", "\\frac{1}{2}", False),
])
def test_math500_score(completion, gold, correct):
    sample = Sample(id="0", prompt="p", target=gold)
    assert verdict(MATH500(), sample, completion)[1] is correct


def test_math500_sample_and_prompt():
    task = MATH500()
    s = task.load(str(DATA / "math500.jsonl"))[0]
    assert s.id == "test/precalculus/807.json"
    assert (s.meta["subject"], s.meta["level"]) == ("Precalculus", 2)
    assert task.solution(s).endswith("\\right)}.$")
    assert task.build_prompt(s).endswith(
        "\nPlease reason step by step, and put your final answer within \\boxed{}.")
    assert task.score(s, "", "(3, \\frac{\\pi}{2})")


# ------------------------------------------------------------------------------ countdown

@pytest.mark.parametrize("completion, correct", [
    ("<answer>(12 + 7 - 4) / 5</answer>", True),
    ("<answer> 5 / 5 </answer> ... <answer>(12 + 7 - 4) / 5 = 3</answer>", True),
    ("<answer>(12 + 7 - 4) / 5 = 3</answer>", True),
    ("<answer>(12 \u00d7 7 - 4) / 5</answer>", False),  # right numbers, wrong value
    ("<answer>12 + 7 - 4 - 5</answer>", False),
    ("<answer>(12 + 7 - 4) / 5 * 5 / 5</answer>", False),  # 5 used three times
    ("<answer>(12 + 7) / 5</answer>", False),  # 4 missing
    ("<answer>(12 + 7 - 4) / 5 + 0</answer>", False),  # a number not given
    ("<answer>__import__('os').system('x')</answer>", False),
    ("<answer>4 / (12 - 7 - 5)</answer>", False),  # each number once, division by zero
    ("<answer>(12 ** 7 - 4) / 5</answer>", False),
    ("<answer>1e400</answer>", False),
    ("<answer>" + "(" * 300 + "1" + ")" * 300 + "</answer>", False),
    ("<answer></answer>", False),
    ("So the equation is:\n(12 + 7 - 4) / 5 = 3\nDone.", True),
    ("I give up.", False),
])
def test_countdown(completion, correct):
    task = Countdown()
    sample = task.sample(0, {"target": 3, "nums": [12, 7, 5, 4]})
    assert verdict(task, sample, completion)[1] is correct


def test_countdown_prompt():
    task = Countdown()
    s = task.sample(0, {"target": 24, "nums": [4, 6, 1]})
    assert s.target == {"nums": [4, 6, 1], "target": 24}
    assert task.build_prompt(s).startswith("Using the numbers [4, 6, 1], create an equation that equals 24.")
    assert "<answer> </answer>" in task.build_prompt(s)
    with pytest.raises(ValueError, match="nums"):
        task.sample(0, {"target": 24, "nums": "4 6 1"})


# ------------------------------------------------------------------------------ sudoku

PUZZLE, SOLUTION = "3002020014000004", "3142423114232314"


@pytest.mark.parametrize("completion, correct", [
    (f"<answer>{SOLUTION}</answer>", True),
    ("<answer>\n3142\n4231\n1423\n2314\n</answer>", True),
    ("<answer>3 1 4 2 | 4 2 3 1 | 1 4 2 3 | 2 3 1 4</answer>", True),
    ("Filling in the grid row by row:\n3142\n4231\n1423\n2314", True),
    ("<answer>4132324114232314</answer>", False),  # a valid grid, but the given 3 is changed
    ("<answer>3342423114232314</answer>", False),  # keeps the givens, not a valid grid
    ("<answer>314242311423231</answer>", False),  # 15 digits
    ("<answer>3142423114232314</answer> and later 1111", True),  # the tag decides
    ("no grid here", False),
])
def test_sudoku(completion, correct):
    task = Sudoku()
    sample = task.sample(0, {"Puzzle": PUZZLE, "Solution": SOLUTION})
    assert verdict(task, sample, completion)[1] is correct


def test_sudoku_verdicts_for_the_stated_reasons():
    assert solves("4132324114232314", "0" * 16) and not solves("4132324114232314", PUZZLE)
    assert all(p in ("0", g) for p, g in zip(PUZZLE, "3342423114232314"))


def test_sudoku_other_solution_accepted():
    """A puzzle with two solutions: the one that is not ``Solution`` scores too."""
    task = Sudoku()
    sample = task.load(str(DATA / "sudoku.jsonl"))[-1]
    assert sample.target["solution"] == SOLUTION and sample.target["puzzle"] == "0002020014000004"
    assert task.score(sample, "", "4132324114232314")


def test_sudoku_fields():
    task = Sudoku()
    s = task.sample(0, {"puzzle": PUZZLE, "solution": SOLUTION})
    assert s.target == {"puzzle": PUZZLE, "solution": SOLUTION}
    assert "3002\n0200\n1400\n0004" in task.build_prompt(s)
    assert task.sample(0, {"Puzzle": int(PUZZLE.replace("3", "0", 1))}).target["puzzle"] == "0002020014000004"
    with pytest.raises(ValueError, match="Puzzle"):
        task.sample(0, {"Puzzle": "12345"})


# ------------------------------------------------------------------------------ loading

TASKS = [(GSM8K, "gsm8k"), (MATH500, "math500"), (Countdown, "countdown"), (Sudoku, "sudoku")]


@pytest.mark.parametrize("cls, name", TASKS)
def test_fixture_loads(cls, name):
    task = cls()
    assert task.name == name and task.chat and task.max_new_tokens in (128, 256)
    path = DATA / f"{name}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert 5 <= len(rows) <= 10
    samples = task.load(str(path))
    assert len(samples) == len(rows) and len({s.id for s in samples}) == len(rows)
    assert [s.id for s in task.load(str(path), limit=2)] == [s.id for s in samples[:2]]
    for s in samples:
        assert isinstance(task.build_prompt(s), str)
        json.dumps(s.target)  # the runner stores targets as JSON


@pytest.mark.parametrize("cls, name", TASKS)
def test_fixture_answers_score(cls, name):
    """The reference answer of each fixture row, written the way a model would, scores."""
    task = cls()
    for s in task.load(str(DATA / f"{name}.jsonl")):
        assert verdict(task, s, _reference_completion(name, s.target))[1], (name, s.id)


def _reference_completion(name: str, target) -> str:
    if name == "gsm8k":
        return f"Reasoning.\n#### {target}"
    if name == "math500":
        return f"Reasoning. $\\boxed{{{target}}}$"
    if name == "countdown":
        return f"<answer>{_countdown_solution(target['nums'], target['target'])}</answer>"
    return f"<answer>{target['solution']}</answer>"


def _countdown_solution(nums: list[int], target: int) -> str:
    """A left-to-right expression over a permutation of ``nums`` that hits ``target``."""
    for perm in permutations(nums):
        for ops in product("+-*/", repeat=len(nums) - 1):
            expr = str(perm[0])
            for op, n in zip(ops, perm[1:]):
                expr = f"({expr} {op} {n})"
            if check_equation(expr, nums, target):
                return expr
    raise AssertionError(f"fixture row has no solution: {nums} -> {target}")


@pytest.mark.parametrize("cls, row", [
    (GSM8K, {"question": "q"}),
    (MATH500, {"problem": "p", "solution": "s"}),
    (Countdown, {"nums": [1, 2]}),
    (Sudoku, {"Solution": SOLUTION}),
])
def test_missing_field_names_file(tmp_path, cls, row):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match="broken.jsonl"):
        cls().load(str(path))


def test_missing_field_is_named(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps({"question": "q"}) + "\n")
    with pytest.raises(ValueError, match=r"broken.jsonl: row 0: no field 'answer'"):
        GSM8K().load(str(path))


def test_two_rows_with_one_id_are_refused(tmp_path):
    path = tmp_path / "dup.jsonl"
    rows = [{"problem": "p", "solution": "s", "answer": "1", "unique_id": "a"},
            {"problem": "q", "solution": "s", "answer": "2", "unique_id": "b"},
            {"problem": "r", "solution": "s", "answer": "3", "unique_id": "a"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match=r"dup.jsonl: rows 0 and 2 have the same id 'a'"):
        MATH500().load(str(path))
    assert [s.id for s in MATH500().load(str(path), limit=2)] == ["a", "b"]


def test_hub_datasets_load_through_datasets(monkeypatch):
    """--data hf:ID[:CONFIG][@SPLIT], or the task's own Hub dataset without --data (offline: a
    stand-in for datasets.load_dataset)."""
    datasets = pytest.importorskip("datasets")
    asked = []

    def fake(name, config, split):
        asked.append((name, config, split))
        return [{"question": "1+1?", "answer": "#### 2"}, {"question": "2+2?", "answer": "#### 4"}]

    monkeypatch.setattr(datasets, "load_dataset", fake)
    from igkernels.eval.tasks import get
    task = get("gsm8k")
    first = task.load(None, limit=1)
    assert [(s.id, s.prompt) for s in first] == [("0", "1+1?")]
    assert [s.prompt for s in task.load("hf:me/data:cfg@train")] == ["1+1?", "2+2?"]
    assert asked[0] == ("openai/gsm8k", "main", "test") and asked[-1] == ("me/data", "cfg", "train")

    def unreachable(*a, **k):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(ValueError, match="hf:openai/gsm8k.*cannot load it.*local file"):
        task.load(None)
