"""Host bookkeeping reaches the device without a sync, and in as few copies as the step allows."""
import numpy as np
import torch

from igkernels.sampling import host


def test_upload_all_is_one_copy_of_every_array(monkeypatch):
    """A step's host arrays reach the device in one upload, each in its shape and values."""
    calls = []
    real = host.upload
    monkeypatch.setattr(host, "upload", lambda a, device, dtype=torch.int64: calls.append(a) or real(a, device, dtype))
    arrays = [np.arange(6).reshape(2, 3), np.array([7]), np.zeros(0, dtype=np.int64), np.array([[True], [False]])]
    got = host.upload_all(arrays, torch.device("cpu"))
    assert len(calls) == 1
    for a, t in zip(arrays, got):
        assert t.dtype == torch.int64 and tuple(t.shape) == a.shape and t.tolist() == a.astype(np.int64).tolist()
