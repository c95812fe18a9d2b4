"""The embedded model's held-out puzzles (``igkernels/demo/tasks.py``) as evaluation tasks.

``mul`` and ``demo-sudoku`` are infilling tasks: the prompt is the whole canvas with masks where
the answer goes (token ids in the embedded model's character vocabulary), nothing is generated
after it, and the completion is the filled canvas. The samples are the demo's held-out set for
the same ``--seed`` (``held_out_set(task, n, seed)``), so with the same seed and decode options
``igkernels eval`` scores the prompts ``igkernels demo`` scores. No data file is read.
"""
from __future__ import annotations

from ...demo import app, tasks
from .base import Sample, Task

#: Samples when ``--limit`` is not given (the demo's default).
DEFAULT_SAMPLES = 200


class DemoTask(Task):
    chat = False
    max_new_tokens = 0
    infill = True

    def __init__(self, name: str, puzzle: str):
        self.name, self.puzzle = name, puzzle
        self.default_steps = app.DEFAULT_STEPS[puzzle]

    def load(self, data: str | None, limit: int | None = None, seed: int = 0) -> list[Sample]:
        if data is not None:
            raise ValueError(f"--data: task {self.name!r} draws its prompts from the embedded held-out set; "
                             "it reads no data file")
        n = DEFAULT_SAMPLES if limit is None else limit
        return [Sample(str(i), ex.prompt, ex.source) for i, ex in enumerate(tasks.held_out_set(self.puzzle, n, seed))]

    def build_prompt(self, sample: Sample) -> list[int]:
        return tasks.encode(sample.prompt)

    def extract(self, sample: Sample, completion: str) -> str | None:
        return completion

    def score(self, sample: Sample, completion: str, answer: str | None) -> bool:
        return tasks.check(self.puzzle, sample.prompt, completion)

    def completion_text(self, ids: list[int], tokenizer=None) -> str:
        """The filled canvas in the prompt's text form."""
        return tasks.decode(ids)
