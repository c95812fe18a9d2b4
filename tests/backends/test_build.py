"""The build: the C++ extension is there (and the CUDA one wherever nvcc is), every SIMD
path of the CPU backend agrees with the reference, and the package imports without them."""
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import igkernels as igk


def _run(code: str, cwd=None, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=cwd, timeout=600)


def test_cpu_extension_is_built():
    assert importlib.util.find_spec("igkernels._C") is not None, \
        "igkernels._C is missing: install with `pip install -e .` (see README)"
    assert "cpu" in igk.available_backends("cpu")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="no nvcc: the CUDA extension is not built here")
def test_cuda_extension_is_built_where_nvcc_is():
    assert importlib.util.find_spec("igkernels._C_cuda") is not None, \
        "nvcc is on PATH but igkernels._C_cuda was not built (pip install -e . prints why)"


def _setup_module():
    spec = importlib.util.spec_from_file_location("igk_setup", Path(__file__).parents[2] / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nvcc_is_found_off_path(tmp_path, monkeypatch):
    """setup.py finds nvcc on PATH, under CUDA_HOME, or in a default toolkit folder."""
    setup = _setup_module()
    toolkit = tmp_path / "cuda"
    (toolkit / "bin").mkdir(parents=True)
    nvcc = toolkit / "bin" / "nvcc"
    nvcc.write_text("#!/bin/sh\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for var in ("CUDA_HOME", "CUDA_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(setup, "DEFAULT_CUDA_HOMES", (str(toolkit),))
    assert setup._nvcc() is None                  # not executable: not a compiler
    nvcc.chmod(0o755)
    assert setup._nvcc() == str(nvcc)
    monkeypatch.setattr(setup, "DEFAULT_CUDA_HOMES", ())
    assert setup._nvcc() is None
    monkeypatch.setenv("CUDA_HOME", str(toolkit))
    assert setup._nvcc() == str(nvcc)


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_every_cpu_simd_path_matches_the_reference(isa):
    """IGK_CPU_ISA caps the instruction set chosen at run time; each path must agree."""
    proc = _run("""
        import torch, igkernels as igk
        from igkernels.backends import registry
        print("isa", registry._registry["cpu"].get().isa())
        g = torch.Generator().manual_seed(int.from_bytes(__import__("os").urandom(4), "little"))
        for V, dt in ((1, torch.float32), (37, torch.float16), (4099, torch.bfloat16), (32003, torch.float32)):
            x = (torch.randn(5, V, generator=g) * 4).to(dt)
            x[1, : V // 2] = float("-inf")
            args = dict(num_samples=2, temperature=0.8, seed=5, offset=1)
            a = igk.softmax_entropy(x, backend="cpu", **args)
            b = igk.softmax_entropy(x, backend="reference", **args)
            for name in ("entropy", "logsumexp", "max_prob", "second_prob", "sample_prob"):
                torch.testing.assert_close(getattr(a, name), getattr(b, name), atol=1e-4, rtol=1e-4)
            assert torch.equal(a.argmax, b.argmax)
            assert (a.samples != b.samples).float().mean() <= 0.1, (a.samples, b.samples)
            m = torch.rand(5, 1, generator=g).expand(5, 1) < 2
            torch.testing.assert_close(igk.state_uncertainty(x[None], m.T, backend="cpu"),
                                       igk.state_uncertainty(x[None], m.T, backend="reference"), atol=1e-4, rtol=1e-4)
        print("ok")
        """, IGK_CPU_ISA=isa)
    assert proc.returncode == 0, proc.stderr[-3000:]
    chosen = proc.stdout.split()[1]
    assert chosen == isa or (isa == "avx512" and chosen in ("avx2", "generic")), proc.stdout
    assert proc.stdout.strip().endswith("ok")


def test_package_imports_without_the_extensions_and_says_so_once(tmp_path):
    """A copy of the package with no compiled extension: it imports, warns once, and runs."""
    pkg = os.path.dirname(igk.__file__)
    shutil.copytree(pkg, tmp_path / "igkernels", ignore=shutil.ignore_patterns("*.so", "*.pyd", "data"))
    proc = _run(f"""
        import sys, warnings
        # an editable install's finder maps igkernels.* to the source tree: drop it
        sys.meta_path = [f for f in sys.meta_path if "__editable__" not in str(getattr(f, "__module__", ""))]
        sys.path.insert(0, {str(tmp_path)!r})
        warnings.simplefilter("default")
        import torch, igkernels as igk
        print(igk.available_backends("cpu"))
        print(float(igk.state_uncertainty(torch.randn(1, 2, 5), torch.ones(1, 2, dtype=torch.bool))) > 0)
        print(igk.__file__)
        """, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    backends, works, where = proc.stdout.split("\n")[:3]
    assert where.startswith(str(tmp_path))
    assert "'reference'" in backends and "'cpu'" not in backends and works == "True"
    assert proc.stderr.count("igkernels._C is not built") == 1, proc.stderr
