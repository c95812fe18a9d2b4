"""Countdown: combine the given numbers with + - * / into an expression equal to the target.

Data: the Countdown-Tasks-3to4 layout (Jiayi-Pan/Countdown-Tasks-3to4, as used by d1 and the
Info-Gain sampler paper): ``nums`` (3 or 4 ints) and ``target`` (int); an ``id`` field is used
when present, else the row number.

Prompt convention: the TinyZero-style instruction "Using the numbers [..], create an equation
that equals T. You can use basic arithmetic operations (+, -, *, /) and each number exactly
once. Put the final equation in <answer> </answer> tags.", wrapped in the chat template.

Answer: the text of the last ``<answer>...</answer>``; else the last run of equation characters
(digits, operators, parentheses, "=") on a line. Verdict: the expression (its left side when it
reads "... = T") parses as numbers, + - * /, parentheses and unary signs only (Python ``ast``,
never ``eval``), uses the given numbers exactly once each, and equals the target within 1e-6
(exact rational arithmetic, so 1/3*3 == 1).
"""
from __future__ import annotations

import ast
import re
from collections import Counter
from fractions import Fraction

from igkernels.eval.tasks.answers import last_tag
from igkernels.eval.tasks.base import Sample, Task

_EQUATION = re.compile(r"[\d\s+\-*/().=]+")
_MAX_LEN = 200  # far above any 4-number expression; bounds the parser's work on junk


class _Invalid(Exception):
    pass


def _evaluate(node: ast.AST, used: list[Fraction]) -> Fraction:
    """The exact value of an arithmetic ``ast`` node; the literals it reads are appended to
    ``used``. Anything but numbers, + - * / and unary signs raises ``_Invalid``."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, used)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):  # bool is not a number here
        value = Fraction(node.value)
        used.append(value)
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand, used)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        left, right = _evaluate(node.left, used), _evaluate(node.right, used)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if right == 0:
            raise _Invalid("division by zero")
        return left / right
    raise _Invalid(type(node).__name__)


def check_equation(expr: str, nums: list[int], target: int) -> bool:
    """Whether ``expr`` uses each of ``nums`` exactly once and evaluates to ``target``."""
    expr = expr.replace("\u00d7", "*").replace("\u00f7", "/").replace("\u2212", "-").strip()
    expr = expr.split("=")[0]  # "... = T": the left side is the equation
    if not expr.strip() or len(expr) > _MAX_LEN:
        return False
    used: list[Fraction] = []
    try:
        value = _evaluate(ast.parse(expr.strip(), mode="eval"), used)
    except (_Invalid, SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        return False
    if Counter(used) != Counter(Fraction(n) for n in nums):
        return False
    return abs(value - target) <= 1e-6


class Countdown(Task):
    name = "countdown"
    hub = ("Jiayi-Pan/Countdown-Tasks-3to4", None, "train")
    chat = True
    max_new_tokens = 256

    def sample(self, index: int, row: dict) -> Sample:
        nums, target = row["nums"], row["target"]
        if not isinstance(nums, list) or not nums or not all(type(n) is int for n in nums):
            raise ValueError(f"nums must be a non-empty list of ints, got {nums!r}")
        if type(target) is not int:
            raise ValueError(f"target must be an int, got {target!r}")
        prompt = (f"Using the numbers {nums}, create an equation that equals {target}. You can use basic "
                  "arithmetic operations (+, -, *, /) and each number exactly once. Put the final equation "
                  "in <answer> </answer> tags.")
        return Sample(id=str(row.get("id", index)), prompt=prompt, target={"nums": nums, "target": target})

    def extract(self, sample: Sample, completion: str) -> str | None:
        tagged = last_tag(completion, "answer")
        if tagged is not None:
            return tagged
        for line in reversed(completion.splitlines()):
            runs = [r.strip() for r in _EQUATION.findall(line)
                    if re.search(r"\d\s*[-+*/]\s*[\d(]|\)\s*[-+*/]", r)]
            if runs:
                return runs[-1]
        return None

    def score(self, sample: Sample, completion: str, answer: str | None) -> bool:
        return answer is not None and check_equation(answer, sample.target["nums"], sample.target["target"])
