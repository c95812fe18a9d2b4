"""What the two compiled backends (``cpu``: ``igkernels._C``, ``cuda``: ``igkernels._C_cuda``) share."""
from __future__ import annotations

import torch


def dtype_code(ext, dtype: torch.dtype) -> int:
    """The kernels' element-type code of a logits dtype: the extension exports the C++ enum
    (``csrc/common``) as ``DTYPE_CODES``, so the codes are written once."""
    return ext.DTYPE_CODES[str(dtype).removeprefix("torch.")]


def data_ptr(t: torch.Tensor | None) -> int:
    """A tensor's data pointer, 0 for None: the kernels' null, "derive it per row"
    (docs/backend_contract.md). The caller keeps the tensor alive across the call."""
    return t.data_ptr() if t is not None else 0
