"""Synthetic tasks for the embedded MDM: generators, held-out splits and exact checkers.

Two tasks, both decoded as infilling (the prompt is the full canvas with mask tokens where
the answer goes, so ``max_new_tokens=0`` and the sampler alone picks the order):

* ``mul``: ``ab*c=def`` with ``a`` in 10..99, ``b`` in 2..9 and the product zero-padded to
  three digits. A prompt reveals a few digits of a held-out equation; any completion with
  ``a*b == c`` that keeps the revealed digits is correct. When several digits are committed
  per step, greedy samplers commit digits that are each likely on their own (typically the
  product's) but jointly impossible, so the equation ends up wrong.
* ``sudoku``: a 4x4 grid written ``1234|3412|2143|4321``; a prompt keeps a few cells of a
  held-out grid. Correct = every row, column and 2x2 box holds 1..4 and the givens are kept.

The splits are by equation (``a, b``) and by solved grid, fixed by ``SPLIT_SEED``, so the
held-out prompts come from equations and grids the model never saw in training.
"""
from __future__ import annotations

import functools
import itertools
import random
import re
from dataclasses import dataclass
from typing import Sequence

MASK_CHAR = "_"  # how a masked cell is written in a prompt's text form
SPECIAL_TOKENS = ["[PAD]", "[MASK]", "[EOS]", "[UNK]"]
CHARS = list("0123456789*=|")
VOCAB = SPECIAL_TOKENS + CHARS
TOKEN_ID = {t: i for i, t in enumerate(VOCAB)}
PAD_ID, MASK_ID, EOS_ID, UNK_ID = (TOKEN_ID[t] for t in SPECIAL_TOKENS)

TASKS = ("mul", "sudoku")
SPLIT_SEED = 20260218
_MUL_RE = re.compile(r"^(\d\d)\*(\d)=(\d\d\d)$")


@dataclass(frozen=True)
class Example:
    """One held-out prompt: ``prompt`` uses MASK_CHAR for masks; ``source`` is the solution it came from."""

    task: str
    prompt: str
    source: str

    def prompt_ids(self) -> list[int]:
        return encode(self.prompt)


def encode(text: str) -> list[int]:
    """Character-level ids; MASK_CHAR becomes the mask id."""
    return [MASK_ID if ch == MASK_CHAR else TOKEN_ID[ch] for ch in text]


def decode(ids: Sequence[int]) -> str:
    """Inverse of :func:`encode`; special tokens other than the mask are dropped."""
    out = []
    for i in ids:
        i = int(i)
        if i == MASK_ID:
            out.append(MASK_CHAR)
        elif i >= len(SPECIAL_TOKENS):
            out.append(VOCAB[i])
    return "".join(out)


# --------------------------------------------------------------------------- multiplication
def mul_string(a: int, b: int) -> str:
    return f"{a:02d}*{b}={a * b:03d}"


@functools.lru_cache(maxsize=None)
def all_mul() -> tuple[str, ...]:
    return tuple(mul_string(a, b) for a in range(10, 100) for b in range(2, 10))


def is_valid_mul(text: str) -> bool:
    m = _MUL_RE.match(text)
    if not m:
        return False
    a, b, c = (int(g) for g in m.groups())
    return a >= 10 and b >= 2 and a * b == c


# --------------------------------------------------------------------------- sudoku
@functools.lru_cache(maxsize=None)
def all_sudoku() -> tuple[str, ...]:
    """All 288 solved 4x4 grids, rows joined by '|' (rows stacked with column/box pruning)."""
    perms = ["".join(p) for p in itertools.permutations("1234")]
    grids = []

    def extend(rows: list[str]) -> None:
        if len(rows) == 4:
            grids.append("|".join(rows))
            return
        for r in perms:
            if any(r[c] == prev[c] for prev in rows for c in range(4)):
                continue
            # The second row of a band must complete both of its 2x2 boxes.
            if len(rows) % 2 and any(len({rows[-1][c], rows[-1][c + 1], r[c], r[c + 1]}) < 4 for c in (0, 2)):
                continue
            extend(rows + [r])

    extend([])
    return tuple(grids)


def is_valid_sudoku(text: str) -> bool:
    rows = text.split("|")
    if len(rows) != 4 or any(len(r) != 4 or set(r) - set("1234") for r in rows):
        return False
    groups = [set(r) for r in rows]
    groups += [{rows[r][c] for r in range(4)} for c in range(4)]
    groups += [{rows[r][c] for r in (br, br + 1) for c in (bc, bc + 1)} for br in (0, 2) for bc in (0, 2)]
    return all(len(g) == 4 for g in groups)


# --------------------------------------------------------------------------- splits, prompts, checking
def split(task: str) -> tuple[list[str], list[str]]:
    """(train, held-out) solutions of a task; one in six is held out."""
    items = all_mul() if task == "mul" else all_sudoku() if task == "sudoku" else None
    if items is None:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    order = list(range(len(items)))
    random.Random(SPLIT_SEED).shuffle(order)
    held = set(order[: len(items) // 6])
    return ([s for i, s in enumerate(items) if i not in held],
            [s for i, s in enumerate(items) if i in held])


DEFAULT_REVEAL = {"mul": 1, "sudoku": 4}


def make_prompt(solution: str, reveal: int, rng: random.Random) -> str:
    """Keep ``reveal`` random digit cells of ``solution`` and mask the other digits."""
    cells = [i for i, ch in enumerate(solution) if ch.isdigit()]
    keep = set(rng.sample(cells, reveal))
    return "".join(ch if (i in keep or not ch.isdigit()) else MASK_CHAR for i, ch in enumerate(solution))


def digit_cells(task: str) -> int:
    """Digits of one solution of ``task`` (a prompt reveals fewer)."""
    return sum(ch.isdigit() for ch in split(task)[1][0])


def held_out_set(task: str, n: int, seed: int = 0, reveal: int | None = None) -> list[Example]:
    """``n`` prompts built from held-out solutions (cycled if ``n`` exceeds them), seeded."""
    reveal = DEFAULT_REVEAL[task] if reveal is None else reveal
    _, held = split(task)
    rng = random.Random(seed)
    sources = []
    while len(sources) < n:
        batch = list(held)
        rng.shuffle(batch)
        sources.extend(batch)
    return [Example(task, make_prompt(s, reveal, rng), s) for s in sources[:n]]


def check(task: str, prompt: str, output: str) -> bool:
    """Exact check: the output is a valid solution of ``task`` and keeps every given of ``prompt``."""
    if len(output) != len(prompt):
        return False
    if any(p != MASK_CHAR and p != o for p, o in zip(prompt, output)):
        return False
    if task == "mul":
        return is_valid_mul(output)
    if task == "sudoku":
        return is_valid_sudoku(output)
    raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
