"""MATH-500: the 500-problem subset of Hendrycks' MATH test set chosen by "Let's Verify Step by
Step" (Lightman et al.), scored on the final boxed answer.

Data: the HuggingFaceH4/MATH-500 layout: ``problem``, ``solution``, ``answer``, ``subject``,
``level``, ``unique_id`` (the id; the row number when absent).

Prompt convention: zero-shot for chat models, the problem followed by
"Please reason step by step, and put your final answer within \\boxed{}." (the instruction
recommended for Qwen2.5-Math and DeepSeek-R1), wrapped in the chat template.

Answer: the content of the last ``\\boxed{}`` (or ``\\fbox{}``); no box, no answer.
Verdict: equivalent to ``answer``: either ``math-verify`` (when installed) or our own LaTeX
normaliser (``answers.latex_equal``) says so. Both are asked so that what the normaliser
accepts (choice letters in ``\\text{(B)}``, units in ``\\text``, ...) stays accepted with
math-verify installed, and so that a math-verify failure (its signal-based timeouts do not work
in a worker thread) still gets a verdict.
"""
from __future__ import annotations

from igkernels.eval.tasks.answers import last_boxed, latex_equal
from igkernels.eval.tasks.base import Sample, Task

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

try:
    import math_verify
except ImportError:
    math_verify = None


def _math_verify_equal(pred: str, gold: str) -> bool:
    """math-verify's verdict (gold first: its comparison is not symmetric); False when it is not
    installed or fails."""
    if math_verify is None:
        return False
    try:
        return bool(math_verify.verify(math_verify.parse(f"${gold}$"), math_verify.parse(f"${pred}$")))
    except Exception:  # its parser and timeouts raise all sorts; the fallback still decides
        return False


def equivalent(pred: str, gold: str) -> bool:
    """Whether the final answer ``pred`` is equivalent to the reference ``gold``."""
    return _math_verify_equal(pred, gold) or latex_equal(pred, gold)


class MATH500(Task):
    name = "math500"
    hub = ("HuggingFaceH4/MATH-500", None, "test")
    chat = True
    max_new_tokens = 256

    def sample(self, index: int, row: dict) -> Sample:
        answer = row["answer"]
        if not isinstance(answer, str) or not answer.strip():
            raise ValueError("answer is empty or not a string")
        return Sample(id=str(row.get("unique_id", index)), prompt=row["problem"], target=answer,
                      meta={"subject": row.get("subject"), "level": row.get("level"), "solution": row.get("solution")})

    def solution(self, sample: Sample) -> str | None:
        return sample.meta.get("solution")

    def build_prompt(self, sample: Sample) -> str:
        return f"{sample.prompt}\n{INSTRUCTION}"

    def extract(self, sample: Sample, completion: str) -> str | None:
        return last_boxed(completion)

    def score(self, sample: Sample, completion: str, answer: str | None) -> bool:
        return answer is not None and equivalent(answer, sample.target)
