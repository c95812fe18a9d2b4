"""Benchmark evaluation: tasks (``tasks/``), resumable results (``store.py``), the runner
(``runner.evaluate``, data parallel under ``torchrun``) and the ``igkernels eval`` command
(``cli.py``)."""
from .runner import evaluate

__all__ = ["evaluate"]
