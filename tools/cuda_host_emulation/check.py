"""Runs the CUDA backend's kernels on the CPU, against the reference, where no GPU is present.

The sources of csrc/cuda/ are compiled by g++ with include/ standing in for the CUDA headers
(each CUDA thread a std::thread, see include/cuda_runtime.h); launches `k<<<g, b, s, st>>>(a)`
are rewritten to emulator calls. The resulting module replaces igkernels._C_cuda behind
igkernels/backends/cuda.py, registered as backend "emu" for CPU tensors, and the public API is
compared with the reference: K1 (one block per row and the split-vocabulary path, aligned
and misaligned rows, all dtypes; inverse-transform draws, S up to 40 at temperatures 0.5, 1
and 2, rows with -inf logits: draws equal the reference's bar targets within rounding of a
cumulative boundary, tests/inputs.py::assert_matches_reference, and no banned token is ever
drawn), bad-row flags (immediate and deferred, with and without draws), K2, K3 (also with a
per-sequence seq_k). K1 selections the kernels derive (rows, offsets, keys or ctr None: the [R, V]
fast path, strided rows included) are checked by calling the backend functions directly, beside
the reference's. The host does not flush subnormals: the statistics' ex2.approx.ftz (row_stats.cuh,
stat_exp) is not what runs here, exp2f is. The emulated
device has 132 multiprocessors unless IGK_EMU_SM_COUNT says otherwise (cases set it to steer
the launchers between their two paths). Slow (one OS thread per CUDA thread): ~5 minutes with
--quick, ~15 otherwise on 2 cores.

    python tools/cuda_host_emulation/check.py [--quick | --regressions]

--regressions runs only the cases of bugs found so far and the corners of the draw step (a
minute or two; CI runs it).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import types
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CUDA_SRC = ROOT / "csrc" / "cuda"
SOURCES = ("softmax_entropy", "state_uncertainty", "sample_candidates")


def build(out: Path) -> Path:
    """Compile csrc/cuda/*.cu + python/cuda_bindings.cpp for the host into out/_C_cuda*.so."""
    import pybind11
    flags = ["-std=c++20", "-O1", "-fPIC", "-ffp-contract=off", "-pthread", "-w", f"-I{HERE / 'include'}",
             f"-I{CUDA_SRC}", f"-I{ROOT / 'csrc' / 'common'}"]
    objs = []
    for name in SOURCES:
        src = (CUDA_SRC / f"{name}.cu").read_text()
        src = re.sub(r"([\w:]+(?:<[^<>;]*>)?)<<<(.+?)>>>\((.*?)\);",
                     lambda m: f"emu::Launch({m.group(2)}).run({m.group(1)}, {m.group(3)});", src, flags=re.S)
        src = re.sub(r"extern __shared__ (\w+) (\w+)\[\];", r"\1* \2 = emu::dyn_smem<\1>();", src)
        cpp = out / f"{name}.cpp"
        cpp.write_text(src)
        objs.append(out / f"{name}.o")
        subprocess.run(["g++", *flags, "-c", str(cpp), "-o", str(objs[-1])], check=True)
    objs.append(out / "bindings.o")
    subprocess.run(["g++", *flags, f"-I{pybind11.get_include()}", f"-I{sysconfig.get_paths()['include']}",
                    "-c", str(ROOT / "python" / "cuda_bindings.cpp"), "-o", str(objs[-1])], check=True)
    so = out / f"_C_cuda{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(["g++", "-shared", "-pthread", *map(str, objs), "-o", str(so)], check=True)
    return so


@contextlib.contextmanager
def emulated_sm_count(n: int | None):
    """The emulated device's multiprocessors (include/cuda_runtime.h) within the block."""
    old = os.environ.pop("IGK_EMU_SM_COUNT", None)
    if n is not None:
        os.environ["IGK_EMU_SM_COUNT"] = str(n)
    try:
        yield
    finally:
        os.environ.pop("IGK_EMU_SM_COUNT", None)
        if old is not None:
            os.environ["IGK_EMU_SM_COUNT"] = old


class Checker:
    def __init__(self, quick: bool):
        import torch
        self.torch = torch
        self.quick = quick
        self.gen = torch.Generator().manual_seed(0)
        self.fails = 0

    def report(self, ok: bool, what: str, detail: str = "") -> None:
        self.fails += not ok
        print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail else ""), flush=True)

    def stats(self, what, got, want, x, T, seed, offset, dtype, rows=None):
        """K1 against the reference: tests/inputs.py's comparison (statistics within TOL, argmax
        exactly, draws exactly bar targets within rounding of a cumulative boundary), and no draw
        of a banned (-inf) token or outside the row."""
        torch = self.torch
        from inputs import assert_matches_reference
        try:
            assert_matches_reference(got, want, x, T, seed, offset, dtype, rows)
            flat = x.reshape(-1, x.shape[-1])
            if rows is not None:
                flat = flat[rows]
            g = got.samples.reshape(flat.shape[0], -1)
            assert bool(((g >= 0) & (g < flat.shape[-1])).all()), "a draw outside the row"
            banned = torch.gather(flat.float(), 1, g) == float("-inf")
            assert not bool(banned.any()), f"drew a banned token at {banned.nonzero().tolist()[:4]}"
            self.report(True, what)
        except AssertionError as exc:
            self.report(False, what, str(exc)[:300])

    def k1(self, what, x, T, S, seed=12345, offset=3, sm_count=None, rows=None) -> None:
        """One K1 call on "emu" (its device with sm_count multiprocessors) and on the reference."""
        import igkernels as igk
        args = dict(num_samples=S, temperature=T, seed=seed, offset=offset)
        with emulated_sm_count(sm_count):
            got = igk.softmax_entropy(x, rows=rows, backend="emu", **args)
        self.stats(what, got, igk.softmax_entropy(x, rows=rows, backend="reference", **args), x, T, seed, offset,
                   x.dtype, rows)

    def run(self) -> int:
        """Every case (fewer with quick)."""
        self.k1_sweep()
        self.k1_draws()
        self.k1_edges()
        self.k1_draw_corners()
        self.bad_rows()
        self.k2()
        cases = [(3, 37, 4, 8, 0.1), (2, 9, 9, 3, 0.5), (3, 64, 2, 6, 0.0), (2, 1, 1, 3, 0.3)]
        if not self.quick:
            cases += [(2, 1024, 16, 8, 0.2), (2, 5000, 3, 5, 1.0)]
        self.k3(cases)
        self.k1_derived()
        self.k3_seq_k()
        return self.summary()

    def regressions(self) -> int:
        """The cases of bugs the emulation found and the corners of the draw step (a minute or
        two): CI runs these."""
        self.k1_edges()
        self.k1_draw_corners()
        self.k1_derived()
        self.k3([(2, 37, 4, 8, 0.1), (2, 9, 9, 3, 0.0)])
        self.k3_seq_k()
        return self.summary()

    def summary(self) -> int:
        print(f"{self.fails} failure(s)")
        return 1 if self.fails else 0

    @property
    def dtypes(self):
        torch = self.torch
        return (torch.bfloat16,) if self.quick else (torch.bfloat16, torch.float16, torch.float32)

    def k1_sweep(self) -> None:
        """K1 over shapes, kinds, temperatures and draw counts; rows of strided logits."""
        torch = self.torch
        from inputs import make_logits
        gen = self.gen
        shapes = ((2, 7), (3, 1003), (2, 40000)) if self.quick else \
            ((1, 1), (2, 7), (3, 1003), (2, 40000), (1, 40003), (280, 37))
        kinds = ("normal", "neg_inf") if self.quick else ("normal", "neg_inf", "ties", "peaked")
        for dtype in self.dtypes:
            for shape in shapes:
                for kind in kinds:
                    x = make_logits(shape, dtype, kind, gen)
                    for T, S in ((0.0, 2), (1.0, 1), (0.5, 3), (2.0, 8)):
                        if shape[0] > 100 and (S > 3 or kind in ("ties", "peaked")):
                            continue  # many blocks: slow to emulate
                        self.k1(f"K1 {dtype} {shape} {kind} T={T} S={S}", x, T, S)
        x = make_logits((4, 6, 1003), torch.bfloat16, "normal", gen)[:, ::2]
        self.k1("K1 rows of strided logits", x, 0.9, 3, seed=5, offset=2, rows=torch.tensor([11, 0, 5, 5, 7]))

    def k1_draws(self) -> None:
        """Draws of every dtype on both paths: one block per row over several tiles (a device of
        1 multiprocessor, which 2 rows fill), the split path with one tile a slice (132) and with
        several (2); odd V, so that every row but the first starts misaligned (a scalar prologue
        and tail); rows with ~80% -inf logits; S = 1, 3, 8, 40 at temperatures 0.5, 1 and 2."""
        torch = self.torch
        from inputs import make_logits
        gen = self.gen
        paths = (("one block a row", 1, (3, 20011)), ("split, 1 tile a slice", None, (2, 40001)),
                 ("split, tiles a slice", 2, (1, 100003)))
        draws = ((1.0, 40), (0.5, 8), (2.0, 3)) + (() if self.quick else ((1.0, 1),))
        for dtype in (torch.bfloat16, torch.float16, torch.float32):
            for name, sms, shape in paths:
                for kind in ("normal", "neg_inf"):
                    x = make_logits(shape, dtype, kind, gen)
                    for T, S in draws:
                        self.k1(f"K1 draws, {name}: {dtype} {shape} {kind} T={T} S={S}", x, T, S, seed=77,
                                offset=5, sm_count=sms)
        if not self.quick:  # 1200 draws: the share of boundary cases is checked too (< 1e-3)
            x = make_logits((3, 20011), torch.bfloat16, "normal", gen)
            self.k1("K1 draws, one block a row: 400 draws a row", x, 1.0, 400, seed=99, offset=1, sm_count=1)

    def k1_edges(self) -> None:
        """The split path with 2 or 3 draws (a draw block holds 4); logits at the ends of float32."""
        torch = self.torch
        from inputs import make_logits
        gen = self.gen
        for S in (2, 3):
            x = make_logits((3, 32000), torch.bfloat16, "normal", gen)
            self.k1(f"K1 split path S={S} 3x32000", x, 0.8, S, seed=4, offset=1)
        for V in (7, 40000):   # logits at the ends of float32: spreads beyond its range, huge ties
            x = torch.zeros(3, V)
            x[0, 0], x[0, V - 2] = -3e38, 3e38
            x[1, 1], x[1, V - 1] = 1e16, 1e16
            x[2, 0], x[2, 1], x[2, 2] = 3e38, -3e38, 1e38
            self.k1(f"K1 ends of float32 3x{V}", x, 1.0, 2, seed=9, offset=0)
            self.k1(f"K1 ends of float32 3x{V} T=0.5", x, 0.5, 5, seed=9, offset=0)

    def k1_draw_corners(self) -> None:
        """The draw step where it can go wrong, on both paths (1 multiprocessor: one block per
        row; 2 or 3: three to six slices, of two tiles each in fp32): the only finite logit of a row in a misaligned
        row's scalar prologue, in its scalar tail, inside a later tile, or two of them at both
        ends (the first and the last tile); every tile after the first -inf (targets near Z
        must stop at the last tile with weight); 40 draws crowding into two tiles (draws sorted
        by tile must land in their own columns); temperatures far from 1 on ties."""
        torch = self.torch
        from inputs import make_logits
        gen = self.gen
        V = 20011  # bf16 rows 1, 2, 3 start 5, 2 and 7 elements before a 16-byte boundary
        for dtype in (torch.bfloat16, torch.float32):
            lone = torch.full((5, V), float("-inf"))
            lone[0, 12345] = 1.5                 # a later tile
            lone[1, 2] = -4.0                    # row 1's prologue (bf16)
            lone[2, V - 1] = 7.0                 # row 2's tail
            lone[3, 0], lone[3, V - 1] = 2.0, 2.0  # both ends
            lone[4, :100] = torch.randn(100, generator=gen)  # only the first tile has weight
            crowd = make_logits((2, V), torch.float32, "normal", gen)
            crowd[:, 3000:3010] += 12.0          # tile 0 (of any dtype)
            crowd[:, 17000:17004] += 12.5        # the last tile
            for path, lone_sms, crowd_sms in (("one block a row", 1, 1), ("split", 3, 2)):
                self.k1(f"K1 draws, {path}: lone finite logits {dtype}", lone.to(dtype), 1.0, 8, sm_count=lone_sms)
                self.k1(f"K1 draws, {path}: lone finite logits {dtype} T=2", lone.to(dtype), 2.0, 40, seed=3,
                        sm_count=lone_sms)
                self.k1(f"K1 draws, {path}: 40 draws in two tiles {dtype}", crowd.to(dtype), 1.0, 40, seed=8,
                        sm_count=crowd_sms)
        ties = make_logits((2, 5003), torch.float16, "ties", gen)
        for T in (1e-3, 50.0):
            self.k1(f"K1 draws, ties T={T}", ties, T, 8, seed=21, sm_count=1)

    def k1_direct(self, what, x, rows, offsets, keys, ctr, key, T, S, offset=3, sm_count=None) -> None:
        """One call of the backend functions themselves (docs/backend_contract.md), "emu" and the
        reference, on the same (rows, offsets, keys, ctr, key); each None is derived by the
        kernels: the K1 fast path the op layer takes for every row of an [R, V] view."""
        torch = self.torch
        from igkernels.backends import cuda as C
        from igkernels.backends import reference
        from inputs import TOL, assert_near_boundary
        args = (x, rows, offsets, keys, ctr, key, S, T, offset)
        with emulated_sm_count(sm_count):
            got, status = C.softmax_entropy(*args)
        want, want_status = reference.softmax_entropy(*args)
        R = rows.numel() if rows is not None else x.shape[0]
        flat = x.reshape(-1, x.shape[-1])[rows] if rows is not None else x
        row_keys = keys.tolist() if keys is not None else [key] * R
        row_ctr = ctr.tolist() if ctr is not None else [0] * R if keys is not None else list(range(R))
        try:
            assert int(status) == int(want_status), f"status {int(status)} != {int(want_status)}"
            tol = TOL[x.dtype]
            torch.testing.assert_close(got.entropy, want.entropy, **tol["entropy"])
            torch.testing.assert_close(got.logsumexp, want.logsumexp, **tol["logsumexp"])
            torch.testing.assert_close(got.max_prob, want.max_prob, **tol["prob"])
            torch.testing.assert_close(got.second_prob, want.second_prob, **tol["prob"])
            assert torch.equal(got.argmax, want.argmax), "argmax"
            for r, s in (got.samples != want.samples).nonzero().tolist():
                assert_near_boundary(flat[r], int(got.samples[r, s]), int(want.samples[r, s]), T,
                                     row_keys[r] % 2 ** 64, row_ctr[r], s, offset)
            same = got.samples == want.samples
            torch.testing.assert_close(torch.where(same, got.sample_prob, want.sample_prob), want.sample_prob,
                                       **tol["prob"])
            assert bool(((got.samples >= 0) & (got.samples < x.shape[-1])).all()), "a draw outside the row"
            banned = torch.gather(flat.float(), 1, got.samples) == float("-inf")
            assert not bool(banned.any()), "drew a banned token"
            self.report(True, what)
        except AssertionError as exc:
            self.report(False, what, str(exc)[:300])

    def k1_derived(self) -> None:
        """K1 with the selection the kernels derive: rows None on [R, V] views whose rows are
        strided (as_strided, rows misaligned) or all one row (stride 0), on both paths; keys None
        (a key beyond 2**63) or given, ctr None (the call row, or 0 with keys) or given; rows
        given with keys / ctr None."""
        torch = self.torch
        from inputs import make_logits
        gen = self.gen
        big_key = 2 ** 63 + 12345 - 2 ** 64   # the contract's int64 bits of an unsigned key beyond 2**63
        for dtype, (R, V), sms in ((torch.bfloat16, (3, 20011), 1), (torch.float32, (2, 40001), None),
                                   (torch.float16, (4, 1003), None)):
            stride = 2 * V + 3        # rows i start at i * (2V + 3): misaligned, not contiguous
            base = make_logits((R * stride,), dtype, "neg_inf" if dtype == torch.float16 else "normal", gen)
            x = base.as_strided((R, V), (stride, 1))
            keys = torch.randint(-2 ** 63, 2 ** 63 - 1, (R,), generator=gen)
            ctr = torch.randint(0, 2 ** 32, (R,), generator=gen)
            where = f"{dtype} {R}x{V} row stride {stride}"
            self.k1_direct(f"K1 rows None, keys None, ctr None: {where}", x, None, None, None, None, big_key, 1.0, 5,
                           sm_count=sms)
            self.k1_direct(f"K1 rows None, keys, ctr None: {where} T=0.7", x, None, None, keys, None, 0, 0.7, 3,
                           sm_count=sms)
            self.k1_direct(f"K1 rows None, keys, ctr: {where} T=2", x, None, None, keys, ctr, 0, 2.0, 4,
                           sm_count=sms)
            self.k1_direct(f"K1 rows None, T=0: {where}", x, None, None, None, None, 7, 0.0, 2, sm_count=sms)
            rows = torch.tensor([R - 1, 0, R - 1])
            offs = rows * stride
            self.k1_direct(f"K1 rows, keys None, ctr None: {where}", x, rows, offs, None, None, big_key, 1.0, 4,
                           sm_count=sms)
            self.k1_direct(f"K1 rows, keys, ctr None: {where}", x, rows, offs, keys[rows], None, 0, 0.5, 4,
                           sm_count=sms)
        one = make_logits((1, 5003), torch.bfloat16, "ties", gen).expand(3, 5003)   # stride 0: one row thrice
        self.k1_direct("K1 rows None, row stride 0", one, None, None, None, None, 99, 1.0, 6)

    def bad_rows(self) -> None:
        """NaN, +inf and all--inf rows: K1 at once, deferred and with draws, K2."""
        torch = self.torch
        import igkernels as igk
        from inputs import make_logits
        gen = self.gen
        for R, V in ((2, 40000), (300, 20)):
            for where in ("nan", "posinf", "allneginf"):
                x = make_logits((R, V), torch.bfloat16, "normal", gen)
                bad = R - 2
                if where == "allneginf":
                    x[bad] = float("-inf")
                else:
                    x[bad, V // 3] = float("nan") if where == "nan" else float("inf")
                mask = torch.zeros(1, R, dtype=torch.bool)
                mask[0, bad] = True
                calls = (("K1", lambda: igk.softmax_entropy(x, backend="emu")),
                         ("K1 draws", lambda: igk.softmax_entropy(x, num_samples=5, temperature=0.5, backend="emu")),
                         ("K1 deferred", lambda: self._deferred(lambda: igk.softmax_entropy(x, backend="emu"))),
                         ("K2", lambda: igk.state_uncertainty(x[None], mask, backend="emu")))
                for what, call in calls:
                    try:
                        call()
                        self.report(False, f"{what} bad row {where} {R}x{V}", "no ValueError")
                    except ValueError as exc:
                        self.report(f"logits row {bad} " in str(exc), f"{what} bad row {where} {R}x{V}", str(exc))

    def k2(self) -> None:
        torch = self.torch
        import igkernels as igk
        from inputs import TOL, make_logits
        gen = self.gen
        for dtype in self.dtypes:
            for B, T, V in ((2, 5, 40000), (3, 40, 1001)):
                x = make_logits((B, 2 * T, V), dtype, "normal", gen)[:, ::2]
                mask = torch.rand(B, T, generator=gen) < 0.5
                mask[0] = False
                got = igk.state_uncertainty(x, mask, backend="emu")
                try:
                    torch.testing.assert_close(got, igk.state_uncertainty(x, mask, backend="reference"),
                                               **TOL[dtype]["entropy"])
                    assert got[0] == 0
                    self.report(True, f"K2 {dtype} {B}x{T}x{V}")
                except AssertionError as exc:
                    self.report(False, f"K2 {dtype} {B}x{T}x{V}", str(exc)[:300])

    def k3(self, cases) -> None:
        """K3 against the reference: ties, valid -inf positions, -0 and +0; one confidence row per
        sequence and one per candidate; and the issue's -0 / +0 example."""
        torch = self.torch
        import igkernels as igk
        gen = self.gen
        zeros = torch.tensor([[-0.0, 0.0, -0.0, 0.0]])
        a = dict(k=2, num_candidates=1, position_temperature=0.0)
        got = igk.sample_candidates(zeros, torch.ones(1, 4, dtype=torch.bool), backend="emu", **a).positions
        self.report(got.tolist() == [[[0, 1]]], "K3 -0 ties +0", str(got.tolist()))
        for B, T, k, N, tau in cases:
            conf = torch.rand(B, T, generator=gen)
            if T > 1:
                conf[:, ::7] = conf[:, 1:2].clone()   # exact ties
            conf[:, 3::5] = float("-inf")             # valid -inf positions come before invalid ones
            conf[:, 2::9] = -0.0                      # and -0 ties +0
            conf[:, 4::9] = 0.0
            valid = torch.rand(B, T, generator=gen) < 0.6
            a = dict(k=k, num_candidates=N, position_temperature=tau, seed=1234, offset=3)
            want = igk.sample_candidates(conf, valid, backend="reference", **a)
            got = igk.sample_candidates(conf, valid, backend="emu", **a)
            per_c = igk.sample_candidates(conf[:, None].expand(B, N, T).contiguous(), valid, backend="emu", **a)
            self.report(torch.equal(got.positions, want.positions) and torch.equal(got.unique, want.unique)
                        and torch.equal(per_c.positions, want.positions), f"K3 B={B} T={T} k={k} N={N} tau={tau}")

    def k3_seq_k(self) -> None:
        """K3 with a per-sequence k: seq_k 0, k and between, and above the valid count of its
        sequence; N = 1 and N > 1, tau 0 and > 0; the backend functions directly and the public op."""
        torch = self.torch
        import igkernels as igk
        from igkernels.backends import cuda as C
        from igkernels.backends import reference
        gen = self.gen
        for B, T, k, N, tau in ((6, 37, 5, 8, 0.1), (6, 9, 9, 3, 0.0), (6, 64, 4, 1, 0.5), (6, 20, 3, 4, 2.0)):
            conf = torch.rand(B, T, generator=gen)
            conf[:, ::7] = conf[:, 1:2].clone()
            conf[:, 3::5] = float("-inf")
            valid = torch.rand(B, T, generator=gen) < 0.6
            valid[1] = False
            valid[1, :2] = True                      # 2 valid positions, below its seq_k
            seq_k = torch.tensor([0, k, k // 2, 1, k, min(k, 2)])
            keys = torch.randint(-2 ** 63, 2 ** 63 - 1, (B,), generator=gen)
            ctr = torch.arange(B)
            conf3 = conf[:, None].expand(B, N, T)
            what = f"K3 seq_k {seq_k.tolist()} B={B} T={T} k={k} N={N} tau={tau}"
            want = reference.sample_candidates(conf3, valid, k, seq_k, N, tau, keys, ctr, 3)
            got = C.sample_candidates(conf3, valid, k, seq_k, N, tau, keys, ctr, 3)
            full = C.sample_candidates(conf3, valid, k, None, N, tau, keys, ctr, 3)
            kept = (got.positions >= 0).sum(-1)
            ok = (torch.equal(got.positions, want.positions) and torch.equal(got.unique, want.unique)
                  and bool((kept <= seq_k[:, None]).all()) and not bool((got.positions[0] >= 0).any()))
            # each kept set is the top-seq_k part of the full top-k set
            for b in range(B):
                for c in range(N):
                    top = set(full.positions[b, c][full.positions[b, c] >= 0].tolist())
                    ok &= set(got.positions[b, c][got.positions[b, c] >= 0].tolist()) <= top
            self.report(ok, what, "" if ok else f"got {got.positions.tolist()[:2]} want {want.positions.tolist()[:2]}")
            a = dict(k=k, num_candidates=N, position_temperature=tau, seed=keys, offset=3)
            pub = igk.sample_candidates(conf, valid, seq_k=seq_k, backend="emu", **a)
            ref = igk.sample_candidates(conf, valid, seq_k=seq_k, backend="reference", **a)
            self.report(torch.equal(pub.positions, ref.positions) and torch.equal(pub.unique, ref.unique),
                        f"{what} (public op)")

    @staticmethod
    def _deferred(call):
        import igkernels as igk
        with igk.deferred_checks():
            call()  # raises at the block's exit, not here


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="bf16 and the main paths only")
    ap.add_argument("--regressions", action="store_true", help="only the cases of bugs found so far (CI)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        so = build(Path(tmp))
        sys.path[:0] = [str(so.parent), str(ROOT / "tests"), str(ROOT)]
        warnings.simplefilter("ignore")
        emu = importlib.import_module("_C_cuda")
        import torch
        # The emulated "device" is the host: no device guard, stream 0.
        torch.cuda.device = lambda dev: contextlib.nullcontext()
        torch.cuda.current_stream = lambda dev=None: types.SimpleNamespace(cuda_stream=0)
        from igkernels.backends import cuda as C
        from igkernels.backends import registry
        from igkernels.ops import deferred
        # Its statuses are device tensors to the op layer: deferred as on a GPU.
        deferred.HOST_DEVICES = frozenset()
        C._ext = lambda: emu
        registry.register_backend("emu", priority={"cpu": -5}, load=lambda: C)
        checker = Checker(args.quick)
        return checker.regressions() if args.regressions else checker.run()


if __name__ == "__main__":
    sys.exit(main())
