"""Which (device, backend) pairs run here, and moving results between devices."""
import os
from typing import NamedTuple

import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
INTERPRETED = {"triton"} if os.environ.get("TRITON_INTERPRET") == "1" else set()


class Impl(NamedTuple):
    """One backend on one device."""
    device: str
    backend: str

    @property
    def interpreted(self) -> bool:
        return self.device == "cpu" and self.backend in INTERPRETED

    def put(self, x):
        """``x`` (a tensor, None, or an int seed) on this device."""
        return x.to(self.device) if isinstance(x, torch.Tensor) else x


def cpu(result):
    """A NamedTuple of tensors (TokenStats, Candidates) with every field on the CPU."""
    return type(result)(*(t.cpu() for t in result))
