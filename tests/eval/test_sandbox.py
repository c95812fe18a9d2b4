"""igkernels.eval.sandbox.run_python: verdicts, limits, clean-up and the network guard; and
last_code_block."""
import os
import time
from pathlib import Path

import pytest

from igkernels.eval.sandbox import RunResult, last_code_block, run_python


def _gone(pid: int, wait: float = 2.0) -> bool:
    """Whether process ``pid`` has ended (gone, or a zombie waiting for its new parent to reap it)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_passing_program():
    r = run_python("x = sum(range(10))\nassert x == 45\nprint('hello', x)\n")
    assert r == RunResult(True, "passed", "", "hello 45\n")


def test_failing_assert_is_failed_with_the_traceback():
    r = run_python("def f():\n    assert 1 + 1 == 3, 'arithmetic'\nf()\n")
    assert (r.passed, r.status) == (False, "failed")
    assert r.detail.splitlines()[-1] == "AssertionError: arithmetic"
    assert 'File "main.py", line 2' in r.detail and "<frozen runpy>" not in r.detail


def test_syntax_error_and_exit_before_the_end_fail():
    assert run_python("def f(:\n").status == "failed"
    for early in ("import sys\nsys.exit(0)\nassert False\n", "exit()\n", "import os\nos._exit(0)\nassert False\n",
                  "import os, signal\nsignal.signal(signal.SIGTERM, lambda *a: os._exit(0))\n"
                  "os.kill(os.getpid(), signal.SIGTERM)\nassert False\n"):
        r = run_python(early)
        assert (r.passed, r.status) == (False, "failed") and "before the end" in r.detail
    assert run_python("from __future__ import annotations\nx: undefined_name = 1\n").passed


def test_endless_loop_times_out_and_the_group_is_killed():
    start = time.monotonic()
    r = run_python("import os\nprint(os.getpid(), flush=True)\nwhile True:\n    pass\n", timeout=1.0)
    assert time.monotonic() - start < 3.0
    assert (r.passed, r.status) == (False, "timeout") and "timed out" in r.detail
    pid = int(r.stdout.split()[0])
    assert _gone(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


@pytest.mark.parametrize("then", ["while True:\n    pass\n", "pass\n"], ids=["timeout", "normal-exit"])
def test_grandchild_is_killed(then):
    program = ("import subprocess\np = subprocess.Popen(['sleep', '100'])\nprint(p.pid, flush=True)\n" + then)
    r = run_python(program, timeout=1.0)
    assert r.status == ("timeout" if "while" in then else "passed")
    assert _gone(int(r.stdout.split()[0]))


@pytest.mark.parametrize("program", ["x = bytearray(10**12)\n",
                                     "x = []\nwhile True:\n    x.append(bytes(10 * 2**20))\n"])
def test_unbounded_allocation_is_stopped(program):
    start = time.monotonic()
    r = run_python(program, timeout=10.0, memory_mb=512)
    assert time.monotonic() - start < 8.0
    assert (r.passed, r.status) == (False, "memory")  # MemoryError under RLIMIT_AS
    assert bytearray(64 * 2**20)  # and this process may still allocate


def test_files_land_in_a_scratch_directory_that_is_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run_python("import os, tempfile\nopen('out.txt', 'w').write('x')\n"
                   "print(os.path.abspath('out.txt'))\nprint(tempfile.gettempdir())\n")
    assert r.passed
    written, tmp = r.stdout.split()
    scratch = Path(written).parent
    assert scratch != tmp_path and not (tmp_path / "out.txt").exists()
    assert Path(tmp) == scratch  # $TMPDIR is the scratch directory too
    assert not scratch.exists() and not scratch.parent.exists()


def test_network_is_disabled():
    r = run_python("import socket\nsocket.create_connection(('127.0.0.1', 9))\n")
    assert r.status == "failed" and r.detail.endswith("OSError: network disabled")
    r = run_python("import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(('127.0.0.1', 9))\n")
    assert r.status == "failed" and r.detail.endswith("OSError: network disabled")
    # modules that subclass socket.socket still import; local socket pairs still work
    assert run_python("import ssl, asyncio, urllib.request, socket\na, b = socket.socketpair()\n").passed


def test_environment_is_minimal_and_hash_seed_fixed(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    program = "import os\nprint(sorted(os.environ))\nprint(hash('igkernels'))\n"
    r1, r2 = run_python(program), run_python(program)
    assert r1.passed and r1.stdout == r2.stdout
    names = eval(r1.stdout.splitlines()[0])
    assert "HTTPS_PROXY" not in names and "PYTHONHASHSEED" in names and "PATH" in names


def test_output_is_capped():
    r = run_python("import sys\nsys.stderr.write('e' * 10**6)\nprint('o' * 10**6)\n")
    assert r.passed and len(r.stdout) <= 64 * 2**10 and len(r.detail) <= 2003


@pytest.mark.parametrize("kwargs", [dict(program=b"print(1)"), dict(program="", timeout=0),
                                    dict(program="", timeout=-1.0), dict(program="", timeout=float("inf")),
                                    dict(program="", timeout=True), dict(program="", memory_mb=0),
                                    dict(program="", memory_mb=1.5)])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        run_python(**kwargs)


def test_last_code_block():
    assert last_code_block("no code") is None
    reply = "First:\n```python\na = 1\n```\nthen\n```bash\npip install x\n```\nand\n```py\nb = 2\n```\nDone."
    assert last_code_block(reply) == "b = 2\n"
    assert last_code_block("```\nc = 3\n```") == "c = 3\n"
    assert last_code_block("1. Code:\n   ```python\n   def f():\n       return 1\n   ```") == "def f():\n    return 1\n"
    assert last_code_block("```python\ndef f():\n    return 1") == "def f():\n    return 1"  # unclosed
