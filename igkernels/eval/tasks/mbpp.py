"""MBPP (Austin et al. 2021): write a Python function from a one-sentence task and three asserts;
correct when the asserts pass (pass@1, one completion per problem).

Data: rows in the layout of google-research's ``mbpp.jsonl`` (``task_id``, ``text``, ``code``,
``test_list``: assert statements, ``test_setup_code``) or of its sanitized subset (``prompt``
instead of ``text``, ``test_imports``: import statements). ``challenge_test_list`` is not used.
The sample id is ``task_id``.

Conventions:

* the prompt is the paper's: "You are an expert Python programmer, and here is your task: {text}
  Your code should pass these tests:" followed by the asserts, then a request for the code in a
  ```python block. Chat off (base models), the prompt ends by opening that block, and the
  completion is cut at the closing fence.
* the code is the reply's last Python (or untagged) fenced block, else the whole reply.
* verdict: ``test_imports`` + ``test_setup_code`` + code + the asserts, run by
  ``igkernels.eval.sandbox.run_python`` in a subprocess with limits (``timeout`` seconds); the
  imports and setup come first so that the code may use them and its own definitions win.
"""
from __future__ import annotations

from igkernels.eval.sandbox import last_code_block, run_python
from igkernels.eval.tasks.base import Sample, Task

TEMPLATE = ("You are an expert Python programmer, and here is your task: {text} Your code should pass these "
            "tests:\n\n{tests}\n\nWrite the code in a ```python code block.")


class MBPP(Task):
    name = "mbpp"
    hub = ("google-research-datasets/mbpp", "full", "test")
    chat = True
    max_new_tokens = 512
    timeout = 10.0  # seconds per program

    @property
    def stop(self) -> tuple[str, ...]:  # type: ignore[override]
        return () if self.chat else ("```",)

    def sample(self, index: int, row: dict) -> Sample:
        if "text" not in row and "prompt" not in row:
            raise KeyError("text (or prompt)")
        text = row["text"] if "text" in row else row["prompt"]
        if not isinstance(row["test_list"], list):
            raise TypeError("test_list: expected a list of assert statements")
        tests = [str(t) for t in row["test_list"]]
        setup = "\n".join([*(row.get("test_imports") or []), row.get("test_setup_code") or ""])
        return Sample(id=str(row["task_id"]), prompt=str(text), target={"tests": tests, "setup": setup},
                      meta={"code": row.get("code")})

    def solution(self, sample: Sample) -> str | None:
        code = sample.meta.get("code")
        return None if code is None else f"```python\n{code.strip()}\n```"

    def build_prompt(self, sample: Sample) -> str:
        prompt = TEMPLATE.format(text=sample.prompt.strip(), tests="\n".join(sample.target["tests"]))
        return prompt if self.chat else prompt + "\n```python\n"

    def extract(self, sample: Sample, completion: str) -> str | None:
        code = last_code_block(completion)
        if code is None:
            code = completion
        return code if code.strip() else None

    def score(self, sample: Sample, completion: str, answer: str | None) -> bool:
        if answer is None:
            return False
        tests = "\n".join(sample.target["tests"])
        program = f"{sample.target['setup']}\n{answer}\n{tests}\n"
        return run_python(program, timeout=self.timeout).passed
