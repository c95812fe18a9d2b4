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


def upload_all(arrays: list, device: torch.device) -> list[torch.Tensor]:
    """Several int64 host arrays on ``device`` in one copy: each a view, in its array's shape,
    of one uploaded buffer (a step's bookkeeping would otherwise cost a pinned copy per array).
    The views share storage: never write to them in place."""
    arrays = [np.asarray(a, dtype=np.int64) for a in arrays]
    flat = upload(np.concatenate([a.reshape(-1) for a in arrays]), device)
    out, at = [], 0
    for a in arrays:
        out.append(flat[at:at + a.size].view(a.shape))
        at += a.size
    return out
