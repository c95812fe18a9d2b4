"""The oracle: tiny random-weight checkpoints of LLaDA, Dream, SDAR and TraDo built by the authors'
own modelling code (``../shared/upstream``, beside the repository). Skips where it is absent."""
import sys
from pathlib import Path

import pytest

UPSTREAM = Path(__file__).resolve().parents[1].parent / "shared" / "upstream"
FAMILIES = ("llada", "dream", "sdar", "trado")


def upstream():
    """The builder module (``build``, ``load_reference``), or a skip."""
    if not (UPSTREAM / "make_tiny_checkpoints.py").is_file():
        pytest.skip(f"the authors' code is not at {UPSTREAM}")
    if str(UPSTREAM) not in sys.path:
        sys.path.insert(0, str(UPSTREAM))
    import make_tiny_checkpoints
    return make_tiny_checkpoints
