"""``python -m igkernels``: the ``igkernels`` command (needed by ``torchrun -m igkernels eval``)."""
import sys

from .cli import main

sys.exit(main())
