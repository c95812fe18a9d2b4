"""How often a backend's token draws differ from the reference's, on 10**6 draws per temperature.

Two backends sum the cumulative weights of a row in different orders, so a draw whose target
u * Z lies within float rounding of a boundary may land on the neighbouring token
(docs/backend_contract.md#token-draws-inverse-transform). This script counts those draws and
checks that each one is such a boundary case (``tests/inputs.py::assert_near_boundary``).

    python benchmarks/draw_agreement.py [--device cuda] [--draws 1000000] [--vocab 32000]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from inputs import assert_near_boundary  # noqa: E402

import harness  # noqa: E402

import igkernels as igk  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--draws", type=int, default=10 ** 6, help="draws per temperature (default 10**6)")
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--samples", type=int, default=100, help="draws per row (default 100)")
    args = ap.parse_args(argv)
    R, V, S = args.draws // args.samples, args.vocab, args.samples
    # bf16 normal x 3, a model's spread of entropies; every 50th token banned.
    x = harness.randn("draw_agreement/logits", (R, V), "cpu", torch.bfloat16, scale=3.0)
    x[:, ::50] = float("-inf")
    print(f"{R} rows x {S} draws, V = {V}, bf16; device {args.device}")
    print(f"{'backend':10s} {'temperature':>11s} {'differ':>8s} {'rate':>10s}")
    for temperature in (1.0, 0.7):
        want = igk.softmax_entropy(x, num_samples=S, temperature=temperature, seed=3, offset=1,
                                   backend="reference").samples
        for backend in harness.backends(args.device):
            if backend == "reference":
                continue
            got = igk.softmax_entropy(x.to(args.device), num_samples=S, temperature=temperature, seed=3,
                                      offset=1, backend=backend).samples.cpu()
            assert not (got % 50 == 0).any(), f"{backend} drew a banned token"
            differ = (got != want).nonzero().tolist()
            for r, s in differ:
                assert_near_boundary(x[r], int(got[r, s]), int(want[r, s]), temperature, 3, r, s, 1)
            print(f"{backend:10s} {temperature:11.1f} {len(differ):8d} {len(differ) / got.numel():10.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
