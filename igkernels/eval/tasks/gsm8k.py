"""GSM8K: grade-school math word problems, scored on the final number.

Data: the openai/gsm8k layout, one row per problem with ``question`` and ``answer`` (worked
solution ending in ``#### <number>``); an ``id`` field is used when present, else the row number.

Prompt convention: zero-shot for chat models, the question followed by
"Please reason step by step, and put your final answer after '####'." and wrapped in the chat
template. Note: the LLaDA and Dream papers report GSM8K through lm-evaluation-harness, 4-shot
(base models, no chat template) or 0-shot (instruct models); this task reproduces the 0-shot
chat variant only, so numbers are comparable with each other, not necessarily with the papers.

Answer: the number after the last "####"; else the content of the last ``\\boxed{}``; else the
last number in the completion. Numbers are compared as values (commas, currency, units and
percent signs ignored, "18.00" == "18", "3/4" == "0.75").
"""
from __future__ import annotations

from igkernels.eval.tasks.answers import all_numbers, canonical_number, last_boxed, last_number, numbers_equal
from igkernels.eval.tasks.base import Sample, Task

INSTRUCTION = "Please reason step by step, and put your final answer after '####'."


class GSM8K(Task):
    name = "gsm8k"
    hub = ("openai/gsm8k", "main", "test")
    chat = True
    max_new_tokens = 256

    def sample(self, index: int, row: dict) -> Sample:
        question, solution = row["question"], row["answer"]
        if "####" not in solution:
            raise ValueError("answer has no '#### <number>' final line")
        final = solution.rsplit("####", 1)[1].strip()
        target = canonical_number(final)
        if target is None:
            raise ValueError(f"answer's final line is not a number: {final!r}")
        return Sample(id=str(row.get("id", index)), prompt=question, target=target, meta={"solution": solution})

    def solution(self, sample: Sample) -> str | None:
        return sample.meta.get("solution")

    def build_prompt(self, sample: Sample) -> str:
        return f"{sample.prompt}\n{INSTRUCTION}"

    def extract(self, sample: Sample, completion: str) -> str | None:
        if "####" in completion:
            # the first number after the marker: "#### 42 apples. (Check: 6*7=42)" -> 42
            after = all_numbers(completion.rsplit("####", 1)[1])
            if after:
                return after[0]
        boxed = last_boxed(completion)
        if boxed is not None:
            found = last_number(boxed)
            if found is not None:
                return found
        return last_number(completion)

    def score(self, sample: Sample, completion: str, answer: str | None) -> bool:
        return answer is not None and numbers_equal(answer, sample.target)
