"""Running model-written Python: the code from a model's reply, and a fresh interpreter with
limits to run it in.

``run_python(program)`` is what the code tasks (HumanEval, MBPP) score with: the runner scores in
its own process, so generated code never runs there.

What it guards against: the accidents of generated code (endless loops, runaway memory, stray
files, forgotten child processes, a stray network call, ``sys.exit()`` before the tests ran). It
is NOT a security boundary: code that means harm can undo every guard here (raise its limits as
root, reach ``_socket``, leave the process group with ``setsid``...). Score the output of
untrusted models inside a container or VM without network (see the README).

Conventions:

* the program runs as ``main.py`` in a new temporary directory (its cwd, ``$HOME`` and
  ``$TMPDIR``), deleted afterwards together with the captured output;
* the interpreter is this one (``sys.executable``, so the same installed packages) with ``-s`` (no
  user site-packages), ``-P`` (3.11 on: no cwd on ``sys.path``) and an environment built from
  scratch (PATH, locale, one BLAS/OpenMP thread, ``PYTHONHASHSEED=0``): the effect of ``-I``,
  which would ignore ``PYTHONHASHSEED``; a fixed seed keeps the order of sets of strings, which
  some MBPP tests compare, the same from run to run;
* limits: wall clock (the whole process group is killed), CPU time, address space, file size, no
  core dumps. A prelude sets them in the child before the program starts, rather than a
  ``preexec_fn``, which can deadlock when the caller has threads (torch does). No process-count
  limit: RLIMIT_NPROC counts all of the user's processes (and root ignores it); the process group
  is killed at the end instead, whatever the program left running;
* the same prelude turns internet sockets off (``socket.socket`` for AF_INET/AF_INET6 and
  ``socket.create_connection`` raise ``OSError("network disabled")``; Unix sockets stay, for
  multiprocessing and asyncio);
* passed: the program ran to its end, i.e. it exited with status 0, did not raise
  ``SystemExit`` on the way (``exit(0)`` or ``unittest.main()`` before the appended tests is a
  failure, not a pass), and the prelude got back from it to write a token (chosen per run) to a
  file outside the program's directory (``os._exit(0)`` skips that: a failure too).
"""
from __future__ import annotations

import math
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Status = Literal["passed", "failed", "timeout", "memory", "error"]

FILE_SIZE_LIMIT = 16 * 2**20  # bytes any one file the program writes may reach (captured output too)
_TAIL_BYTES = 64 * 2**10      # how much of each captured stream is read back
_DETAIL_LINES = 20
_DETAIL_CHARS = 2000

# Runs in the child as `python -c _PRELUDE AS CPU FSIZE CORE DONE_PATH TOKEN`, then runs main.py. run_path (rather than
# text prepended to the program) keeps the program's line numbers and its `from __future__` imports.
_PRELUDE = r'''
import resource, runpy, socket, sys
_done_path, _token = sys.argv[9:11]
for _name, _soft, _hard in zip(("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_CORE"),
                               map(int, sys.argv[1:9:2]), map(int, sys.argv[2:9:2])):
    _r = getattr(resource, _name)
    _cap = resource.getrlimit(_r)[1]
    if _cap != resource.RLIM_INFINITY:
        _soft, _hard = min(_soft, _cap), min(_hard, _cap)
    resource.setrlimit(_r, (_soft, _hard))

class _GuardedSocket(socket.socket):
    # a subclass, not a function: ssl and others subclass socket.socket when imported
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
            raise OSError("network disabled")
        super().__init__(family, type, proto, fileno)

def _no_network(*args, **kwargs):
    raise OSError("network disabled")

def _hook(kind, exc, tb):
    # a traceback of the program's frames, not the prelude's and runpy's
    while tb is not None and tb.tb_frame.f_code.co_filename != "main.py":
        tb = tb.tb_next
    sys.__excepthook__(kind, exc.with_traceback(tb), tb)  # 3.10 on: it prints exc.__traceback__, not tb

socket.socket = _GuardedSocket
socket.create_connection = _no_network
sys.excepthook = _hook
sys.argv = ["main.py"]
try:
    runpy.run_path("main.py", run_name="__main__")
except SystemExit as _exc:
    sys.stderr.write(f"SystemExit({_exc.code!r}) before the end of the program\n")
    sys.exit(1)
with open(_done_path, "w") as _fh:
    _fh.write(_token)
'''


@dataclass(frozen=True)
class RunResult:
    """How a program ran.

    status: "passed" (ran to its end), "failed" (an exception, a non-zero exit or a fatal signal),
            "timeout" (wall clock or CPU time), "memory" (MemoryError), "error" (the sandbox could
            not run it: no interpreter, no temporary directory)
    detail: the last lines of stderr (or why it was stopped), at most ~2000 characters
    stdout: the end of what it printed, for diagnosis
    """
    passed: bool
    status: Status
    detail: str = ""
    stdout: str = ""


def run_python(program: str, timeout: float = 10.0, memory_mb: int = 1024) -> RunResult:
    """Run ``program`` (Python source) in a fresh interpreter in a scratch directory.

    timeout: wall-clock seconds (CPU time is capped at ``ceil(timeout) + 1``); memory_mb: address
    space. Never raises for what the program does; raises ``ValueError`` for bad arguments.
    """
    if not isinstance(program, str):
        raise ValueError(f"program: expected str, got {type(program).__name__}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
            or timeout <= 0:
        raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb <= 0:
        raise ValueError(f"memory_mb: expected a positive int, got {memory_mb!r}")
    try:
        root = tempfile.TemporaryDirectory(prefix="igk-sandbox-")
    except OSError as exc:
        return RunResult(False, "error", f"no scratch directory: {exc}")
    try:
        return _run(program, float(timeout), memory_mb, Path(root.name))
    except OSError as exc:  # writing main.py or the output files (disk full...)
        return RunResult(False, "error", f"sandbox: {exc}")
    finally:
        _remove(root)


def _run(program: str, timeout: float, memory_mb: int, root: Path) -> RunResult:
    work = root / "work"  # the program's cwd; the captured output stays beside it, out of its listing
    work.mkdir()
    (work / "main.py").write_text(program, encoding="utf-8", errors="replace")
    cpu = math.ceil(timeout) + 1
    limits = [memory_mb * 2**20, memory_mb * 2**20, cpu, cpu + 1,  # SIGXCPU at soft, SIGKILL at hard
              FILE_SIZE_LIMIT, FILE_SIZE_LIMIT, 0, 0]
    done, token = root / "done", secrets.token_hex(16)
    cmd = [sys.executable, "-s", *(["-P"] if sys.version_info >= (3, 11) else []), "-c", _PRELUDE,
           *map(str, limits), str(done), token]
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(work), "TMPDIR": str(work),
           "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    with open(root / "stdout", "wb") as out, open(root / "stderr", "wb") as err:
        try:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
        except (OSError, ValueError) as exc:  # ValueError: no sys.executable (embedded interpreters)
            return RunResult(False, "error", f"could not start {sys.executable!r}: {exc}")
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc.pid)
            proc.wait()
    stdout, stderr = _tail(root / "stdout"), _tail(root / "stderr")
    code = proc.returncode
    if timed_out:
        return RunResult(False, "timeout", _detail(f"{stderr}\ntimed out after {timeout:g} s"), stdout)
    if code == 0 and _read_token(done) == token:
        return RunResult(True, "passed", _detail(stderr), stdout)
    if code == 0:
        return RunResult(False, "failed", _detail(f"{stderr}\nexited before the end of the program "
                                                  "(os._exit or a signal handler)"), stdout)
    if code == -signal.SIGXCPU:
        return RunResult(False, "timeout", _detail(f"{stderr}\nCPU time limit ({cpu} s) exceeded"), stdout)
    lines = stderr.strip().splitlines()
    if lines and lines[-1].startswith("MemoryError"):
        return RunResult(False, "memory", _detail(stderr), stdout)
    if code < 0:
        return RunResult(False, "failed", _detail(f"{stderr}\nkilled by {signal.Signals(-code).name}"), stdout)
    return RunResult(False, "failed", _detail(stderr), stdout)


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:  # the group is already empty
        pass


def _remove(root: tempfile.TemporaryDirectory) -> None:
    # Processes just killed may still be closing files in it for a moment: try again briefly.
    for _ in range(10):
        try:
            root.cleanup()
            return
        except OSError:
            time.sleep(0.05)


def _tail(path: Path) -> str:
    with open(path, "rb") as fh:
        fh.seek(max(0, os.fstat(fh.fileno()).st_size - _TAIL_BYTES))
        return fh.read().decode("utf-8", errors="replace")


def _detail(text: str) -> str:
    out = "\n".join(text.strip().splitlines()[-_DETAIL_LINES:])
    return out if len(out) <= _DETAIL_CHARS else "..." + out[-_DETAIL_CHARS:]


# ---------------------------------------------------------------- model output -> program

_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"", "python", "python3", "py"}


def last_code_block(text: str) -> str | None:
    """The last fenced code block of ``text`` tagged Python or untagged (an unclosed last fence,
    where generation stopped inside the block, counts), dedented; None when there is none."""
    blocks = [m.group(2) for m in _FENCE.finditer(text) if m.group(1).lower() in _PYTHON_TAGS]
    return textwrap.dedent(blocks[-1]) if blocks else None
