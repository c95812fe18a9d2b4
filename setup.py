"""Builds igkernels._C (and igkernels._C_cuda when nvcc and the CUDA sources exist) with
CMake + ninja; see CMakeLists.txt. Metadata lives in pyproject.toml.

Environment: MAX_JOBS (parallel compile jobs, default 2); IGK_CUDA: unset builds the CUDA
extension when nvcc and its sources are there and only warns if that fails (the package
works without it), 1 makes such a failure fatal, 0 skips CUDA; IGK_CUDA_ARCHS (default
"80;90"); CUDA_HOME.
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


#: Where CUDA toolkits install themselves when nvcc is not on PATH (PATH and CUDA_HOME first).
DEFAULT_CUDA_HOMES = ("/usr/local/cuda",)


def _nvcc() -> str | None:
    """nvcc on PATH, else under CUDA_HOME / CUDA_PATH, else under a default toolkit folder."""
    found = shutil.which("nvcc")
    if found:
        return found
    homes = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), *DEFAULT_CUDA_HOMES]
    for home in filter(None, homes):
        nvcc = Path(home) / "bin" / "nvcc"
        if nvcc.is_file() and os.access(nvcc, os.X_OK):
            return str(nvcc)
    return None


def _want_cuda() -> str | None:
    """nvcc's path when the CUDA extension should be built."""
    if os.environ.get("IGK_CUDA") == "0":
        return None
    sources = list((ROOT / "csrc" / "cuda").glob("*.cu"))
    if not sources or not (ROOT / "python" / "cuda_bindings.cpp").exists():
        return None
    return _nvcc()


def _warn(msg: str) -> None:
    print(f"WARNING: igkernels: {msg}", file=sys.stderr)


class CMakeExtension(Extension):
    def __init__(self, name: str, target: str):
        super().__init__(name, sources=[])
        self.target = target


class CMakeBuild(build_ext):
    """One CMake build tree for both extensions; an optional CUDA extension that fails to
    configure or build is dropped (with a warning) unless IGK_CUDA=1."""

    def build_extensions(self) -> None:
        # Runs inside build_ext.run, where get_ext_fullpath names the build_lib copy that
        # setuptools installs (or, for editable installs, copies into the source tree).
        self._tree = Path(self.build_temp).resolve() / "cmake"
        if self._stale(self._tree / "CMakeCache.txt"):
            shutil.rmtree(self._tree, ignore_errors=True)
        self._tree.mkdir(parents=True, exist_ok=True)
        cuda_fatal = os.environ.get("IGK_CUDA") == "1"
        cuda = any(e.target == "_C_cuda" for e in self.extensions)
        if cuda:
            try:
                self._configure(_want_cuda())
                self._build("_C_cuda")
            except subprocess.CalledProcessError:
                if cuda_fatal:
                    raise
                _warn("building the CUDA extension igkernels._C_cuda failed; installing without it "
                      "(set IGK_CUDA=1 to make this fatal)")
                shutil.rmtree(self._tree, ignore_errors=True)
                self._tree.mkdir(parents=True)
                cuda = False
        if not cuda:
            self.extensions = [e for e in self.extensions if e.target != "_C_cuda"]
            # An earlier build's copy must not ship in place of the one that failed.
            Path(self.get_ext_fullpath("igkernels._C_cuda")).unlink(missing_ok=True)
            self._configure(None)
        super().build_extensions()

    @staticmethod
    def _stale(cache: Path) -> bool:
        """A build tree left by an earlier build environment (pip's isolated environments
        are temporary) names a cmake or ninja that is gone: start it afresh."""
        if not cache.exists():
            return True
        for line in cache.read_text(errors="replace").splitlines():
            name, _, value = line.partition("=")
            if name.split(":")[0] in ("CMAKE_COMMAND", "CMAKE_MAKE_PROGRAM") and not Path(value).exists():
                return True
        return False

    def _configure(self, nvcc: str | None) -> None:
        import pybind11

        extdir = Path(self.get_ext_fullpath("igkernels._C")).parent.resolve()
        args = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={extdir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            "-DCMAKE_BUILD_TYPE=Release",
        ]
        if shutil.which("ninja") and not (self._tree / "CMakeCache.txt").exists():
            args += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={shutil.which('ninja')}"]
        if nvcc:
            archs = os.environ.get("IGK_CUDA_ARCHS", "80;90")
            args += ["-DIGK_CUDA=ON", f"-DCMAKE_CUDA_COMPILER={nvcc}", f"-DIGK_CUDA_ARCHS={archs}"]
        else:
            args += ["-DIGK_CUDA=OFF"]
        subprocess.run(["cmake", str(ROOT), *args], cwd=self._tree, check=True)

    def _build(self, target: str) -> None:
        jobs = os.environ.get("MAX_JOBS", "2")
        subprocess.run(["cmake", "--build", ".", "--target", target, "--parallel", jobs],
                       cwd=self._tree, check=True)

    def build_extension(self, ext: CMakeExtension) -> None:
        self._build(ext.target)


ext_modules = [CMakeExtension("igkernels._C", "_C")]
if _want_cuda():
    ext_modules.append(CMakeExtension("igkernels._C_cuda", "_C_cuda"))

if __name__ == "__main__":   # as pip and setuptools run it; tests import the helpers above
    setup(ext_modules=ext_modules, cmdclass={"build_ext": CMakeBuild})
