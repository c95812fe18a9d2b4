"""The embedded tiny MDM, its synthetic tasks, and ``igkernels demo`` (``app``)."""
from .app import MODEL_DIR, add_arguments, main, run

__all__ = ["MODEL_DIR", "add_arguments", "run", "main"]
