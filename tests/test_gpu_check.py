"""benchmarks/gpu_check.sh where no GPU is present: it checks what it can (the benchmark
script's dry run on the CPU: every section on tiny shapes, the Triton interpreter, the table)
and stops with one line saying no GPU is present."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the script runs for real")
def test_gpu_check_without_a_gpu():
    env = {k: v for k, v in os.environ.items() if k not in ("OUT", "TRITON_INTERPRET")}
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                          env=dict(env, PYTHON=sys.executable), timeout=900)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "the benchmark script's dry run on the CPU passed" in proc.stdout, proc.stderr[-3000:]
    assert "the ncu target script's dry run on the CPU passed" in proc.stdout, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("no CUDA GPU found: torch ")
