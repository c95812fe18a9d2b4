"""Registers, stack (spills) and SASS instructions per element of every GPU kernel, for sm_90,
read without a GPU: the Triton kernels compiled with ``triton.compile`` for
``GPUTarget("cuda", 90, 32)``, the CUDA kernels from the sm_90 cubins of the built
``igkernels._C_cuda``; both read with the ``cuobjdump`` that ships with Triton.

    python benchmarks/gpu_kernel_resources.py            # the markdown table on stdout

"instr/elem" counts the SASS instructions of a kernel's hot loop (the largest innermost loop;
for the K1 row kernel with draws the statistics loop, its draw loop has a row of its own) and
divides by the logits elements one thread handles per pass of that loop (from the loop's own
global loads, else the launch's tile); "-" where that means nothing. It is a static count: what an H200 does with
it (issue rate, latency hiding) is for benchmarks/gpu_check.sh to measure.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

os.environ.pop("TRITON_INTERPRET", None)   # compile for real (no launch happens here)
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import torch  # noqa: E402
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

CUOBJDUMP = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
TARGET = GPUTarget("cuda", 90, 32)


class Spec(NamedTuple):
    label: str
    kernel: object                 # the @triton.jit function
    types: dict                    # argument -> Triton type; unlisted arguments are i32
    constexprs: dict
    num_warps: int
    num_stages: int
    elements_per_pass: int         # logits elements one thread handles per pass of the hot loop (0: none)
    skip_last_loops: int = 0       # innermost loops at the end of the kernel left out of "hot loop"


def triton_specs() -> list[Spec]:
    from igkernels.backends.triton import linear_softmax_entropy as head
    from igkernels.backends.triton import sample_candidates as k3
    from igkernels.backends.triton import softmax_entropy as k1
    from igkernels.backends.triton import state_uncertainty as k2
    V = 126464
    block, warps = k1._tile(V)
    per_thread = block // (32 * warps)
    nt = k1.table_width(-(-V // block))
    k1_ptrs = {n: "*i64" for n in ("offsets", "keys", "ctr_ptr", "amax_ptr", "samples_ptr")}
    k1_ptrs |= {n: "*fp32" for n in ("ent_ptr", "lse_ptr", "maxp_ptr", "second_ptr", "sprob_ptr", "p_m", "p_s",
                                     "p_t", "p_second", "tab_r", "tab_m")}
    k1_ptrs |= {"logits": "*bf16", "mask_ptr": "*u8", "status_ptr": "*i64", "p_idx": "*i32", "beta": "fp32"}
    specs = []
    # Draws: the tile-mass table in the statistics loop (T = 1: the sum of the statistics' exp;
    # T != 1: one more exp per element), then the draw step (the row kernel's tail, the combine).
    for draws, tempered, label in ((False, False, "statistics"), (True, False, "draws, T = 1"),
                                   (True, True, "draws, T != 1")):
        c = dict(BLOCK=block, HAS_SAMPLES=draws, TEMPERED=tempered, HAS_MASK=False, ALIGN=8)
        row = dict(c, NT=nt, ENTROPY_ONLY=False)
        specs.append(Spec(f"Triton K1 row, bf16, {label}", k1.softmax_entropy_kernel, k1_ptrs, row, warps, 3,
                          per_thread, skip_last_loops=int(draws)))
        if draws and not tempered:   # the row kernel's last loop: its draws, one tile read again each
            specs.append(Spec("Triton K1 row, bf16, draw loop (per draw)", k1.softmax_entropy_kernel, k1_ptrs,
                              row, warps, 3, 0, skip_last_loops=-1))
        specs.append(Spec(f"Triton K1 split slice, bf16, {label}", k1.softmax_entropy_split_kernel, k1_ptrs, c,
                          warps, 3, per_thread))
    for draws, label in ((False, "statistics"), (True, "per draw")):
        specs.append(Spec(f"Triton K1 combine, {label}", k1.softmax_entropy_combine_kernel, k1_ptrs,
                          dict(BLOCK=block, NT=nt, HAS_SAMPLES=draws, HAS_MASK=False, ENTROPY_ONLY=False),
                          warps if draws else 1, 3, 0))
    specs.append(Spec("Triton K2 masked mean", k2.masked_mean_kernel,
                      {"ent_ptr": "*fp32", "mask_ptr": "*u8", "out_ptr": "*fp32"}, dict(BLOCK_T=1024), 4, 3, 0))
    k3_types = {"conf_ptr": "*fp32", "valid_ptr": "*u8", "keys": "*i64", "ctr_ptr": "*i64", "seq_k_ptr": "*i64",
                "pos_ptr": "*i64", "uniq_ptr": "*i8", "tau": "fp32"}
    for T in (256, 4096, 16384):   # k = 32; the launch's own tile and warps
        cfg = k3.config(8, T, 32)
        warps = cfg.pop("num_warps")
        specs.append(Spec(f"Triton K3, N 8, T {T}", k3.sample_candidates_kernel, k3_types,
                          dict(NOISE=True, DOMAIN=1, HAS_SEQ_K=True, **cfg), warps, 3, 0))
    head_types = {"h_ptr": "*bf16", "rows_ptr": "*i64", "w_ptr": "*bf16", "b_ptr": "*bf16", "keys_ptr": "*i64",
                  "ctr_ptr": "*i64", "part_f_ptr": "*fp32", "part_i_ptr": "*i32", "tab_r": "*fp32",
                  "tab_m": "*fp32", "m_ptr": "*fp32", "inv_s_ptr": "*fp32", "amax_ptr": "*i64",
                  "samples_ptr": "*i64", "sprob_ptr": "*fp32", "beta": "fp32"}
    from gpu_check import SWEEP   # the LM head configs the GPU run times; the first two are the defaults
    for i, cfg in enumerate(SWEEP):
        variants = ((False, False, "statistics"), (True, False, "draws, T = 1"), (True, True, "draws, T != 1"))
        for draws, tempered, label in variants if i < 2 else variants[:2]:
            c = dict(HAS_BIAS=False, BLOCK_M=cfg["BLOCK_M"], BLOCK_N=cfg["BLOCK_N"], BLOCK_K=cfg["BLOCK_K"],
                     UPCAST=False, HAS_SAMPLES=draws, TEMPERED=tempered)
            specs.append(Spec(f"Triton fused LM head {cfg['BLOCK_M']}x{cfg['BLOCK_N']}x{cfg['BLOCK_K']} "
                              f"w{cfg['num_warps']} s{cfg['num_stages']}, {label}", head._linear_stats_kernel,
                              head_types, c, cfg["num_warps"], cfg["num_stages"], 0))
        bn, bk = cfg["BLOCK_N"], cfg["BLOCK_K"]
        if (bn, bk) not in {(s["BLOCK_N"], s["BLOCK_K"]) for s in SWEEP[:i]}:
            c = dict(HAS_BIAS=False, NT=k1.table_width(-(-V // bn)), BLOCK_N=bn, BLOCK_K=bk, UPCAST=False)
            specs.append(Spec(f"Triton fused LM head draw, one {bn}-column tile x{bk}", head._linear_draw_kernel,
                              head_types, c, head.draw_config(torch.device("cuda"))["num_warps"], 3, 0))
    return specs


def _cubin_stats(cubin: bytes) -> tuple[dict, str]:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        res = subprocess.run([str(CUOBJDUMP), "-res-usage", f.name], capture_output=True, text=True, check=True).stdout
        sass = subprocess.run([str(CUOBJDUMP), "-sass", f.name], capture_output=True, text=True, check=True).stdout
    return _resources(res), sass


def _resources(text: str) -> dict:
    """{function: {REG, STACK, SHARED}} from ``cuobjdump -res-usage``."""
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r"\s*Function (\S+):", line)
        if m:
            name = m.group(1)
        elif name and "REG:" in line:
            out[name] = {k: int(v) for k, v in re.findall(r"(REG|STACK|SHARED):(\d+)", line)}
            name = None
    return out


def hot_loop(sass: str, function: str | None = None, skip_last: int = 0) -> tuple[int, int]:
    """(SASS instructions, bytes its global loads read) of the largest innermost loop: the
    longest address range a backward branch closes that holds no other such range ((0, 0): no
    loop); ``skip_last``: leave out that many innermost loops at the highest addresses (a loop
    after the hot one, such as the K1 row kernel's draw loop), or keep only the last one
    (negative)."""
    if function is not None:
        parts = re.split(r"\n\s*Function : ", sass)
        sass = next((p for p in parts if p.startswith(function)), "")
    addr, loops, loads = [], [], {}
    for line in sass.splitlines():
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
        if not m:
            continue
        here = int(m.group(1), 16)
        addr.append(here)
        ld = re.search(r"\bLDG\.E((?:\.\w+)*)", m.group(2))
        if ld:
            width = re.search(r"\.(128|64|U16|S16|U8|S8)\b", ld.group(1))
            loads[here] = {"128": 16, "64": 8, "U16": 2, "S16": 2, "U8": 1, "S8": 1}[width.group(1)] if width else 4
        b = re.search(r"\bBRA 0x([0-9a-f]+)", m.group(2))
        if b and int(b.group(1), 16) < here:
            loops.append((int(b.group(1), 16), here))
    inner = sorted((lo, hi) for lo, hi in loops
                   if not any((lo, hi) != (a, b) and lo <= a and b <= hi for a, b in loops))
    if skip_last > 0:
        inner = inner[:-skip_last]
    elif skip_last < 0:
        inner = inner[-1:]
    if not inner:
        return 0, 0
    lo, hi = max(inner, key=lambda r: sum(1 for a in addr if r[0] <= a <= r[1]))
    return sum(1 for a in addr if lo <= a <= hi), sum(b for a, b in loads.items() if lo <= a <= hi)


def per_element(loop: tuple[int, int], elem_bytes: int, elements_per_pass: int) -> str:
    """Instructions per element: elements from the loop's own loads, else ``elements_per_pass``."""
    instructions, read = loop
    elements = read // elem_bytes or elements_per_pass
    return f"{instructions / elements:.1f}" if instructions and elements else "-"


def triton_rows() -> list[tuple]:
    rows = []
    for spec in triton_specs():
        names = spec.kernel.arg_names
        sig = {n: ("constexpr" if n in spec.constexprs else spec.types.get(n, "i32")) for n in names}
        src = ASTSource(fn=spec.kernel, signature=sig,
                        constexprs={(names.index(k),): v for k, v in spec.constexprs.items()})
        k = triton.compile(src, target=TARGET, options=dict(num_warps=spec.num_warps, num_stages=spec.num_stages,
                                                            enable_fp_fusion=False))
        res, sass = _cubin_stats(k.asm["cubin"])
        r = next(iter(res.values()))
        loop = hot_loop(sass, skip_last=spec.skip_last_loops)
        per = per_element(loop, 2, spec.elements_per_pass) if spec.elements_per_pass else "-"
        rows.append((spec.label, r["REG"], r["STACK"], r["SHARED"], loop[0] or "-", per))
    return rows


#: CUDA kernels (mangled-name fragment, label, elements per thread per pass of the hot loop).
CUDA_KERNELS = [
    ("row_stats_kernelI13__nv_bfloat16Li0ELb0E", "CUDA K1 row, bf16, statistics", 8 * 4),
    ("row_stats_kernelI13__nv_bfloat16Li1ELb0E", "CUDA K1 row, bf16, with tile masses, T = 1", 8 * 4),
    ("row_stats_kernelI13__nv_bfloat16Li2ELb0E", "CUDA K1 row, bf16, with tile masses, T != 1", 8 * 4),
    ("row_stats_kernelI13__nv_bfloat16Li0ELb1E", "CUDA K2 row (masked), bf16", 8 * 4),
    ("combine_kernelILb1ELb0E", "CUDA K1 combine, with draws", 0),
    ("draw_kernelI13__nv_bfloat16E", "CUDA K1 draws, bf16", 0),
    ("sample_candidates_kernel", "CUDA K3", 0),
]


def cuda_rows() -> list[tuple]:
    import importlib.util
    spec = importlib.util.find_spec("igkernels._C_cuda")
    if spec is None:
        return [("CUDA kernels", "not built here", "", "", "", "")]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str(CUOBJDUMP), "-xelf", "all", spec.origin], cwd=tmp, capture_output=True, check=True)
        res, sass = {}, ""
        for cubin in sorted(Path(tmp).glob("*sm_90*.cubin")):
            r, s = _cubin_stats(cubin.read_bytes())
            res |= r
            sass += s
    rows = []
    for fragment, label, per_pass in CUDA_KERNELS:
        name = next((n for n in res if fragment in n), None)
        if name is None:
            rows.append((label, "missing", "", "", "", ""))
            continue
        r = res[name]
        loop = hot_loop(sass, name)
        per = per_element(loop, 2, per_pass) if per_pass else "-"
        rows.append((label, r["REG"], r["STACK"], r["SHARED"], loop[0] or "-", per))
    return rows


def main() -> int:
    print(f"sm_90 (cuobjdump of triton {triton.__version__}); instr/elem: hot-loop SASS / elements per thread-pass")
    print()
    print("| kernel | registers | stack B | shared B | hot-loop SASS | instr/elem |")
    print("|---|---|---|---|---|---|")
    for row in triton_rows() + cuda_rows():
        print("| " + " | ".join(str(c) for c in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
