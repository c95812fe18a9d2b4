"""The K1 goals as ratios measured side by side: the statistics as a share of the bare read,
and one draw per row against none, at temperature 1 and 0.7.

``table.py`` times each case's group in turn, so on a machine whose load comes and goes a
ratio between two groups compares different moments. Here the four calls (bare read, no
draws, a draw at T = 1, a draw at T = 0.7) run in turn in every round, on ``table.py``'s
inputs (``bench_softmax_entropy.call``), and each ratio is the median over rounds of that
round's ratio.

    python benchmarks/k1_ratios.py [--backend cpu] [--rounds 21] [--shape rows512-V126464-bf16]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import bench_softmax_entropy as bench
import harness
import torch

CALLS = (("read", "read", 0, None), ("S=0", None, 0, None), ("S=1 T=1", None, 1, None), ("S=1 T=0.7", None, 1, 0.7))


def rounds(backend: str, shape: str, n: int) -> dict[str, list[float]]:
    """Milliseconds of each call of ``CALLS`` over ``n`` rounds (after one warm-up round)."""
    calls = {name: bench.call(harness.Case("softmax_entropy", harness.PROFILE, shape, S, T), impl or backend)
             for name, impl, S, T in CALLS}
    sync = torch.cuda.synchronize if harness.PROFILE == "cuda" else (lambda: None)
    times = {name: [] for name in calls}
    for r in range(n + 1):
        for name, fn in calls.items():
            sync()
            t = time.perf_counter()
            fn()
            sync()
            if r:
                times[name].append(1e3 * (time.perf_counter() - t))
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default=harness.backends(harness.PROFILE)[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--shape", action="append", help="a shape of benchmarks/harness.py's LOGITS (repeatable)")
    args = ap.parse_args(argv)
    shapes = args.shape or list(harness.LOGITS[harness.PROFILE])
    print(f"{args.backend}, {torch.get_num_threads()} threads, {args.rounds} rounds; medians (ms) and medians "
          "of per-round ratios")
    print(f"{'shape':30s} {'read':>7s} {'S=0':>7s} {'S=0 of read':>12s} {'T=1 draw/none':>14s} "
          f"{'T=0.7 draw/none':>16s}")
    for shape in shapes:
        t = rounds(args.backend, shape, args.rounds)

        def ratio(a: str, b: str) -> float:
            return statistics.median(x / y for x, y in zip(t[a], t[b]))
        print(f"{shape:30s} {statistics.median(t['read']):7.2f} {statistics.median(t['S=0']):7.2f} "
              f"{ratio('read', 'S=0'):11.0%} {ratio('S=1 T=1', 'S=0'):13.2f}x {ratio('S=1 T=0.7', 'S=0'):15.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
