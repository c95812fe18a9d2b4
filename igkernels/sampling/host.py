"""Host-side bookkeeping of the decoder is numpy; ``upload`` moves it to the device without a sync.

Keeping host arrays out of torch makes every torch call of the decode loop a device call, so
the loop's one host sync per step is the only place device values are read.
"""
from __future__ import annotations

import numpy as np
import torch


def upload(a: np.ndarray | list, device: torch.device, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """``a`` on ``device``: through pinned memory and an asynchronous copy on a GPU (a copy from
    pageable memory may wait for the device)."""
    t = torch.as_tensor(np.asarray(a), dtype=dtype)
    if device.type == "cpu":
        return t
    return t.pin_memory().to(device, non_blocking=True)
