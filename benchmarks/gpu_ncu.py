"""The kernels Nsight Compute reads in the GPU command (``gpu_check.sh``, when ``ncu`` is there):
K1 on each GPU backend (bf16 4096 x 126464, without and with one draw) and the Triton fused LM
head (2048 rows), each called twice; ``ncu`` picks them out by kernel name (``KERNELS``).

    ncu --clock-control none -k regex:"$(python benchmarks/gpu_ncu.py --kernels)" python benchmarks/gpu_ncu.py
    python benchmarks/gpu_ncu.py --dry-run     # the same calls on tiny shapes on the CPU
"""
from __future__ import annotations

import os
import sys

import torch

#: the kernel-name pattern of the launches worth reading: CUDA and Triton K1, the fused head
KERNELS = "row_stats_kernel|softmax_entropy_kernel|_linear_stats_kernel"


def main(argv: list[str]) -> int:
    if "--kernels" in argv:
        print(KERNELS)
        return 0
    dry = "--dry-run" in argv    # the same calls on the tiny shapes, Triton interpreted, on the CPU
    if dry:
        os.environ.setdefault("TRITON_INTERPRET", "1")
    elif not torch.cuda.is_available():
        print("gpu_ncu: no CUDA GPU (--dry-run checks this script on the CPU)", file=sys.stderr)
        return 2
    import bench_linear_softmax_entropy as head
    import bench_softmax_entropy as k1
    import harness

    import igkernels as igk
    profile = "tiny" if dry else "cuda"
    device = harness.DEVICES[profile]
    many = next(iter(harness.LOGITS[profile]))
    many_rows = next(iter(harness.HEADS[profile]))
    calls = [k1.call(harness.Case("softmax_entropy", profile, many, S), b)
             for b in ("cuda", "triton") if b in igk.available_backends(device) for S in (0, 1)]
    calls.append(head.call(harness.Case("linear_softmax_entropy", profile, many_rows, 0), "triton"))
    with igk.deferred_checks():
        for fn in calls:
            fn()
            fn()
    if not dry:
        torch.cuda.synchronize()
    print(f"gpu_ncu: {len(calls)} calls, twice each")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
