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
from typing import Any, Iterator, Sequence


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
    hub:        (dataset id, config, split) of the benchmark on the Hugging Face Hub, read
                through ``datasets`` when no ``--data`` is given
    infill:     the prompt is the whole canvas, masks where the answer goes, and nothing is
                generated after it (``max_new_tokens`` must be 0)
    """
    name: str = ""
    chat: bool = True
    default_steps: int | None = None      # None: as many steps as new tokens
    stop: tuple[str, ...] = ()
    max_new_tokens: int = 256
    hub: tuple[str, str | None, str] | None = None
    infill: bool = False

    # ---------------------------------------------------------------- data
    def load(self, data: str | None, limit: int | None = None, seed: int = 0) -> list[Sample]:
        """The task's samples, in the data's order; the first ``limit`` when given (``seed`` is
        for tasks that draw their samples, the embedded ones). ``data``: a local JSONL / JSON /
        Parquet file (possibly .gz), ``hf:ID[:CONFIG][@SPLIT]`` for a Hub dataset, or None for
        the task's own Hub dataset (``hub``). Raises ``ValueError`` naming the file or dataset
        when it cannot be read, a row lacks a field, or two rows have one id (results are
        matched to samples by id)."""
        if data is None and self.hub is None:
            raise ValueError(f"--data: task {self.name!r} needs a data file (JSONL or Parquet)")
        if data is None or data.startswith("hf:"):
            spec = self.hub if data is None else parse_hub(data)
            where, rows = data or f"hf:{spec[0]}", hub_rows(*spec)
        else:
            where, rows = data, read_rows(data)
        out: list[Sample] = []
        first: dict[str, int] = {}
        for i, row in enumerate(rows):
            if limit is not None and len(out) >= limit:
                break
            try:
                sample = self.sample(i, row)
            except KeyError as exc:
                raise ValueError(f"{where}: row {i}: no field {exc.args[0]!r}") from None
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: row {i}: {exc}") from None
            if sample.id in first:
                raise ValueError(f"{where}: rows {first[sample.id]} and {i} have the same id {sample.id!r}")
            first[sample.id] = i
            out.append(sample)
        return out

    def sample(self, index: int, row: dict) -> Sample:
        """A ``Sample`` from one row of the data file."""
        raise NotImplementedError

    # ---------------------------------------------------------------- prompt and verdict
    def build_prompt(self, sample: Sample) -> str | list[int]:
        """The text given to the model (few-shot context included where the benchmark has
        it), or token ids for tasks with their own tokenisation (the embedded demo tasks)."""
        return sample.prompt

    def solution(self, sample: Sample) -> str | None:
        """The sample's reference solution as a completion, for few-shot exemplars (None: the
        data holds none)."""
        return None

    def with_shots(self, prompt: str | list[int], shots: Sequence[Sample]) -> str:
        """``prompt`` after solved exemplars: each shot's own prompt and solution."""
        if not isinstance(prompt, str):
            raise ValueError(f"--num-fewshot: task {self.name!r} prompts are token ids; exemplars need text prompts")
        blocks = []
        for s in shots:
            answer = self.solution(s)
            if answer is None:
                raise ValueError(f"--num-fewshot: task {self.name!r} sample {s.id} has no reference solution "
                                 "to show as an exemplar")
            blocks.append(f"{self.build_prompt(s)}\n{answer}\n\n")
        return "".join(blocks) + prompt

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
        return cut_at_stops(completion, self.stop)


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """``text`` up to the earliest occurrence of any of ``stops`` (empty ones ignored)."""
    cut = len(text)
    for s in stops:
        i = text.find(s) if s else -1
        if i >= 0:
            cut = min(cut, i)
    return text[:cut]


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


def parse_hub(spec: str) -> tuple[str, str | None, str]:
    """``hf:ID[:CONFIG][@SPLIT]`` -> (ID, CONFIG or None, SPLIT, "test" by default)."""
    body, _, split = spec[3:].partition("@")
    name, _, config = body.partition(":")
    if not name:
        raise ValueError(f"--data {spec!r}: expected hf:ID[:CONFIG][@SPLIT]")
    return name, config or None, split or "test"


def hub_rows(name: str, config: str | None, split: str) -> Iterator[dict]:
    """Rows of a Hugging Face Hub dataset split, through ``datasets``."""
    where = f"hf:{name}" + (f":{config}" if config else "") + f"@{split}"
    try:
        import datasets
    except ImportError:
        raise ValueError(f"--data {where}: reading a Hub dataset needs the datasets package "
                         "(pip install datasets), or pass a local file") from None
    try:
        return iter(datasets.load_dataset(name, config, split=split))
    except Exception as exc:  # network, missing dataset or split: all mean "cannot read it"
        raise ValueError(f"--data {where}: cannot load it ({type(exc).__name__}: {exc}); "
                         "pass a local file instead") from None
