"""How many DLSR architectures per second the analytic counter handles.

    python benchmarks/bench_dlsr_count.py [--n 20000]

Counts random architectures (built beforehand, so sampling is not timed) at 480x480 LR,
x2, and prints the rate; the NAS needs >= 10,000 per second.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from falsr_ext.spaces.dlsr import count_arch, sample_arch


def main() -> None:
    """Time :func:`count_arch` over ``--n`` random architectures, best of 3 runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    archs = [sample_arch(rng, nf=int(rng.choice([16, 32, 48, 64]))) for _ in range(args.n)]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for arch in archs:
            count_arch(arch, 480, 480, 2)
        best = min(best, time.perf_counter() - start)
    print(f"{args.n / best:,.0f} architectures/s ({best / args.n * 1e6:.2f} us each, "
          f"{args.n:,} archs, best of 3)")


if __name__ == "__main__":
    main()
