"""Builds igkernels._C (and igkernels._C_cuda when nvcc and the CUDA sources exist) with
CMake + ninja; see CMakeLists.txt. Metadata lives in pyproject.toml.

Environment: MAX_JOBS (parallel compile jobs, default 2), IGK_CUDA=0 (skip CUDA even if
nvcc is found), IGK_CUDA_ARCHS (default "80;90"), CUDA_HOME.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def _nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home and (Path(home) / "bin" / "nvcc").exists():
        return str(Path(home) / "bin" / "nvcc")
    return None


def _want_cuda() -> str | None:
    """nvcc's path when the CUDA extension should be built."""
    if os.environ.get("IGK_CUDA", "1") == "0":
        return None
    sources = list((ROOT / "csrc" / "cuda").glob("*.cu"))
    if not sources or not (ROOT / "python" / "cuda_bindings.cpp").exists():
        return None
    return _nvcc()


class CMakeExtension(Extension):
    def __init__(self, name: str, target: str):
        super().__init__(name, sources=[])
        self.target = target


class CMakeBuild(build_ext):
    def build_extension(self, ext: CMakeExtension) -> None:
        import pybind11

        extdir = Path(self.get_ext_fullpath(ext.name)).parent.resolve()
        build_temp = Path(self.build_temp).resolve() / "cmake"
        build_temp.mkdir(parents=True, exist_ok=True)
        nvcc = _want_cuda()
        args = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={extdir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            "-DCMAKE_BUILD_TYPE=Release",
        ]
        if shutil.which("ninja"):
            args += ["-G", "Ninja"]
        if nvcc:
            archs = os.environ.get("IGK_CUDA_ARCHS", "80;90")
            args += ["-DIGK_CUDA=ON", f"-DCMAKE_CUDA_COMPILER={nvcc}", f"-DIGK_CUDA_ARCHS={archs}"]
        else:
            args += ["-DIGK_CUDA=OFF"]
        subprocess.run(["cmake", str(ROOT), *args], cwd=build_temp, check=True)
        jobs = os.environ.get("MAX_JOBS", "2")
        subprocess.run(["cmake", "--build", ".", "--target", ext.target, "--parallel", jobs],
                       cwd=build_temp, check=True)


ext_modules = [CMakeExtension("igkernels._C", "_C")]
if _want_cuda():
    ext_modules.append(CMakeExtension("igkernels._C_cuda", "_C_cuda"))

setup(ext_modules=ext_modules, cmdclass={"build_ext": CMakeBuild})
