"""4x4 Sudoku, as in the d1 and Info-Gain sampler evaluations.

Data: rows with ``Puzzle`` (16 characters read row by row, "0" for an empty cell) and
``Solution`` (16 digits); lowercase ``puzzle``/``solution`` are accepted too, and
``Solution`` may be absent (it is not needed to score). An ``id`` field is used when present,
else the row number.

Prompt convention: a short instruction with the grid as 4 lines of 4 digits, asking for the
completed grid as 16 digits inside <answer></answer>, wrapped in the chat template. (d1 gives
the puzzle as one 16-character string under a longer system prompt; the answer format is the
same.)

Answer: the digits inside the last ``<answer>...</answer>`` (separators ignored); without the
tag, the last 16 digits of the completion. Verdict: a valid grid (every row, column and 2x2
box holds 1-4 once) that keeps every given of the puzzle. Equality with ``Solution`` is not
required, since a puzzle can have several solutions. (d1 reports the fraction of empty cells
matching ``Solution`` instead; this is whole-puzzle accuracy.)
"""
from __future__ import annotations

import re

from igkernels.eval.tasks.answers import last_tag
from igkernels.eval.tasks.base import Sample, Task

_UNITS = ([[4 * r + c for c in range(4)] for r in range(4)]                     # rows
          + [[4 * r + c for r in range(4)] for c in range(4)]                   # columns
          + [[4 * (br + r) + bc + c for r in range(2) for c in range(2)]        # 2x2 boxes
             for br in (0, 2) for bc in (0, 2)])


def _grid(row: dict, name: str) -> str:
    """The grid string in field ``name`` (or its lowercase spelling)."""
    for key in (name, name.lower()):
        if key in row:
            value = row[key]
            # a CSV round trip can turn "0140..." into the int 140...: restore the leading zeros
            return f"{value:016d}" if type(value) is int else str(value)
    raise KeyError(name)


def solves(grid: str, puzzle: str) -> bool:
    """Whether the 16-digit ``grid`` is a valid 4x4 Sudoku keeping every given of ``puzzle``."""
    if len(grid) != 16 or not grid.isdigit():
        return False
    if any(p != "0" and p != g for p, g in zip(puzzle, grid)):
        return False
    return all(sorted(grid[i] for i in unit) == ["1", "2", "3", "4"] for unit in _UNITS)


class Sudoku(Task):
    name = "sudoku"
    chat = True
    max_new_tokens = 128

    def sample(self, index: int, row: dict) -> Sample:
        puzzle = _grid(row, "Puzzle")
        if not re.fullmatch(r"[0-4]{16}", puzzle):
            raise ValueError(f"Puzzle must be 16 digits 0-4, got {puzzle!r}")
        try:
            solution = _grid(row, "Solution")
        except KeyError:
            solution = None
        grid = "\n".join(puzzle[r:r + 4] for r in range(0, 16, 4))
        prompt = ("Solve this 4x4 Sudoku puzzle. Fill every empty cell (0) with a digit 1-4 so that each "
                  "row, each column and each 2x2 box contains 1, 2, 3 and 4 exactly once. The grid, row "
                  f"by row:\n{grid}\nGive the completed grid as 16 digits (row by row) inside "
                  "<answer></answer>.")
        return Sample(id=str(row.get("id", index)), prompt=prompt,
                      target={"puzzle": puzzle, "solution": solution})

    def solution(self, sample: Sample) -> str | None:
        return f"<answer>{sample.target['solution']}</answer>"

    def extract(self, sample: Sample, completion: str) -> str | None:
        tagged = last_tag(completion, "answer")
        if tagged is not None:
            # wrong-length digit strings are kept (and scored wrong) so the record shows them
            return "".join(re.findall(r"\d", tagged)) or None
        digits = re.findall(r"\d", completion)
        return "".join(digits[-16:]) if len(digits) >= 16 else None

    def score(self, sample: Sample, completion: str, answer: str | None) -> bool:
        return answer is not None and solves(answer, sample.target["puzzle"])
