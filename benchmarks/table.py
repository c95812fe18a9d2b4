"""Run the op benchmarks (``bench_<op>.py``, one per op) side by side in one process and print
one table of medians and ratios: speed-up of each implementation over the straightforward
PyTorch code and over the reference, its speed as a share of the bare read of the same logits
("read", ``amax(-1)``) where a benchmark has one, and what one draw per row costs over none.

    python benchmarks/table.py [-k EXPR] [--json out.json] [bench_<op>.py ...]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict

import pytest

from igkernels.backends.registry import OPS

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default=None, help="pytest -k expression selecting benchmarks")
    ap.add_argument("--json", default=None, help="also keep pytest-benchmark's JSON here")
    ap.add_argument("files", nargs="*", default=[f"bench_{op}.py" for op in OPS])
    args = ap.parse_args(argv)
    out = args.json or os.path.join(tempfile.mkdtemp(), "bench.json")
    cmd = [os.path.join(HERE, f) for f in args.files] + ["-q", "-p", "no:cacheprovider",
                                                         f"--benchmark-json={out}", "--benchmark-disable-gc"]
    if args.k:
        cmd += ["-k", args.k]
    rc = pytest.main(cmd)
    if rc not in (0, 5):
        return rc
    with open(out) as fh:
        data = json.load(fh)
    groups = defaultdict(dict)
    for b in data["benchmarks"]:
        # On a GPU the median is do_bench's (harness.time_ms), kept in extra_info.
        ms = b["extra_info"].get("median_ms", b["stats"]["median"] * 1e3)
        groups[b["group"]][b["params"]["impl"]] = ms
    print(f"\n{'benchmark':58s} {'impl':10s} {'median ms':>10s} {'vs naive':>9s} {'vs ref':>8s} {'of read':>8s}")
    for group, meds in groups.items():
        for impl, med in sorted(meds.items(), key=lambda kv: kv[1]):
            vs_naive = meds.get("naive", float("nan")) / med
            vs_ref = meds.get("reference", float("nan")) / med
            of_read = meds.get("read", float("nan")) / med
            print(f"{group:58s} {impl:10s} {med:10.3f} {vs_naive:8.1f}x {vs_ref:7.1f}x {of_read:7.0%}")
    # What drawing costs: each group with draws against its group without (" S=0").
    draws = [(g, g.split(" S=")[0] + " S=0") for g in groups if " S=" in g and " S=0" not in g]
    if any(base in groups for _, base in draws):
        print(f"\n{'draws vs none':58s} {'impl':10s} {'ratio':>10s}")
        for group, base in draws:
            for impl, med in sorted(groups[group].items()):
                if impl not in ("naive", "read") and impl in groups.get(base, {}):
                    print(f"{group:58s} {impl:10s} {med / groups[base][impl]:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
