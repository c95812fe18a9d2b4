"""What every evaluation task is: samples from a file, a prompt per sample, an answer extracted
from the completion, and a verdict.

A task is a ``Task`` instance registered by name in ``igkernels.eval.tasks.TASKS``. The runner
(``igkernels.eval.runner``) only calls these methods, so a task is one small module.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator


@dataclass(frozen=True)
class Sample:
    """One benchmark item.

    id:     stable across runs (the dataset's own id where it has one, else the row number):
            resuming and merging match finished samples by it
    prompt: the question as the dataset states it (before any template or few-shot context)
    target: what the scorer needs (reference answer, tests, givens...), JSON-serialisable
    """
    id: str
    prompt: str
    target: Any
    meta: dict = field(default_factory=dict)


class Task:
    """Base class: override ``load_rows``/``sample`` (data), ``build_prompt``, ``extract``, ``score``.

    name:       the ``--task`` value
    chat:       wrap the prompt in the tokenizer's chat template by default (a chat model's
                benchmark convention); the CLI can turn it off
    stop:       strings that end a completion (the text from the first is cut before scoring)
    max_new_tokens: the task's usual generation length (the CLI's default for it)
    """
    name: str = ""
    chat: bool = True
    default_steps: int | None = None      # None: as many steps as new tokens
    embedded_model: bool = False          # the embedded demo model is its default --model
    stop: tuple[str, ...] = ()
    max_new_tokens: int = 256

    # ---------------------------------------------------------------- data
    def load(self, data: str | None, limit: int | None = None, seed: int = 0) -> list[Sample]:
        """The task's samples from ``data`` (a local JSONL / JSON / Parquet file, possibly
        .gz), in file order; the first ``limit`` when given (``seed`` is for tasks that draw
        their samples, the embedded ones). Raises ``ValueError`` naming the file when it is
        missing or a row lacks a field."""
        if data is None:
            raise ValueError(f"--data: task {self.name!r} needs a data file (JSONL or Parquet)")
        out = []
        for i, row in enumerate(read_rows(data)):
            if limit is not None and len(out) >= limit:
                break
            try:
                out.append(self.sample(i, row))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{data}: row {i}: {exc}") from None
        return out

    def sample(self, index: int, row: dict) -> Sample:
        """A ``Sample`` from one row of the data file."""
        raise NotImplementedError

    # ---------------------------------------------------------------- prompt and verdict
    def build_prompt(self, sample: Sample) -> str | list[int]:
        """The text given to the model (few-shot context included where the benchmark has
        it), or token ids for tasks with their own tokenisation (the embedded demo tasks)."""
        return sample.prompt

    def extract(self, sample: Sample, completion: str) -> str | None:
        """The answer the completion gives (None when it gives none)."""
        raise NotImplementedError

    def score(self, sample: Sample, completion: str, answer: str | None) -> bool:
        """Whether the completion answers the sample correctly."""
        raise NotImplementedError

    def completion_text(self, ids: list[int], tokenizer) -> str:
        """The text of the generated token ids (special tokens dropped)."""
        return tokenizer.decode(ids, skip_special_tokens=True)

    def truncate(self, completion: str) -> str:
        """The completion up to the first stop string."""
        cut = len(completion)
        for s in self.stop:
            i = completion.find(s)
            if i >= 0:
                cut = min(cut, i)
        return completion[:cut]


def read_rows(path: str | Path) -> Iterator[dict]:
    """Rows of a JSONL (.jsonl, .jsonl.gz), JSON list (.json) or Parquet (.parquet) file."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"--data: no such file: {p}")
    name = p.name.lower()
    if name.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError(f"{p}: reading Parquet needs pyarrow (pip install 'igkernels[eval]')") from None
        yield from pq.read_table(p).to_pylist()
        return
    opener = gzip.open if name.endswith(".gz") else open
    with opener(p, "rt", encoding="utf-8") as fh:
        if name.endswith(".json") or name.endswith(".json.gz"):
            rows = json.load(fh)
            if not isinstance(rows, list):
                raise ValueError(f"{p}: expected a JSON list of objects")
            yield from rows
            return
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{p}: line {n}: not JSON ({exc.msg})") from None
