"""Throughput of ``falsr_ext.upscale`` (default model) from 1 thread vs several threads.

Two designs that make the shared engine thread-safe are timed on the same images:

* ``pools`` (shipped): each running call checks out its own buffer set
  (:class:`falsr_ext.engine.runner.BufferPools`), so calls overlap completely;
* ``lock``: one buffer set per engine behind a lock, so engine runs are serialised and
  only the colour work around them overlaps (defined here, for the comparison only).

Each repeat upscales ``--images`` random uint8 RGB images of ``--size`` px with
``--threads`` workers (a ThreadPoolExecutor; 1 = a plain loop); designs and thread counts
are interleaved within a repeat so machine noise hits them alike. Medians of images/s go
to ``benchmarks/results/thread-safety.json``::

    python benchmarks/thread_safety.py            # 16 images of 128x128, 1 vs 4 threads
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

import falsr_ext
from falsr_ext.engine import cache
from falsr_ext.engine.engine import Engine
from falsr_ext.engine.runner import BufferPool, check_engine_input, run_plan
from falsr_ext.machine import describe_cpu

RESULT = Path(__file__).parent / "results" / "thread-safety.json"


class LockedEngine(Engine):
    """The alternative design: one buffer set, engine runs serialised by a lock."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._one = BufferPool(self.plan)

    @torch.inference_mode()
    def _run(self, x: Tensor, tick) -> Tensor:
        check_engine_input(x, self.in_channels)
        n, _, h, w = x.shape
        with self._lock:
            bufs = self._one.buffers(n, h, w)
            bufs["x"] = x.float().contiguous(memory_format=torch.channels_last)
            return run_plan(self.plan, bufs, tick)


_CACHES: dict[str, weakref.WeakKeyDictionary] = {}


def use_design(design: str) -> None:
    """Make ``upscale``'s cached engines the given design; each design keeps its own
    engine cache, so its engines (and their warm buffers) survive the switches."""
    cache.Engine = LockedEngine if design == "lock" else Engine  # type: ignore[misc]
    cache._CACHE = _CACHES.setdefault(design, weakref.WeakKeyDictionary())


def images_per_s(images: list[np.ndarray], threads: int, dtype: str,
                 intra: int | None = None) -> float:
    """Upscale every image once with ``threads`` workers; images per second. ``intra``:
    torch intra-op threads inside each worker (None: the process default)."""
    start = time.perf_counter()
    if threads == 1 and intra is None:
        for img in images:
            falsr_ext.upscale(img, dtype=dtype)
    else:
        default = torch.get_num_threads()
        init = None if intra is None else (lambda: torch.set_num_threads(intra))
        try:
            with ThreadPoolExecutor(threads, initializer=init) as pool:
                list(pool.map(lambda img: falsr_ext.upscale(img, dtype=dtype), images))
        finally:
            # set_num_threads in a worker also changes the default that threads started
            # later inherit: put it back for the next measurement.
            torch.set_num_threads(default)
    return len(images) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=4, help="the multi-threaded case")
    ap.add_argument("--designs", nargs="+", default=["pools", "lock"])
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--out", type=Path, default=RESULT)
    args = ap.parse_args()

    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
              for _ in range(args.images)]
    # (design, worker threads, intra-op threads per worker or None for the default)
    configs = [(d, t, None) for d in args.designs for t in (1, args.threads)]
    if "pools" in args.designs:
        configs.append(("pools", args.threads, 1))
    rates = {(c, dt): [] for dt in args.dtypes for c in configs}
    for design in args.designs:  # compile and warm every design's buffers once
        use_design(design)
        for dt in args.dtypes:
            images_per_s(images, args.threads, dt)
    for r in range(args.repeats):
        for dt in args.dtypes:
            # Rotated order, all configs back to back: each repeat is a paired sample
            # (the machine is shared and its load drifts between repeats).
            for cfg in configs[r % len(configs):] + configs[:r % len(configs)]:
                use_design(cfg[0])
                rates[(cfg, dt)].append(images_per_s(images, cfg[1], dt, cfg[2]))
    use_design("pools")

    results = []
    for ((design, threads, intra), dt), rs in rates.items():
        base = rates[((design, 1, None), dt)]
        paired = [a / b for a, b in zip(rs, base, strict=True)]
        results.append({
            "design": design, "threads": threads, "dtype": dt,
            "intra_op_threads": intra if intra is not None else torch.get_num_threads(),
            "median_images_per_s": round(statistics.median(rs), 3),
            "median_ratio_vs_1_thread": round(statistics.median(paired), 3),
            "images_per_s": [round(x, 3) for x in rs],
        })
        label = f"{design}{'' if intra is None else f' intra={intra}'}"
        print(f"{label:14s} {dt:9s} {threads} thread(s): {statistics.median(rs):7.2f} "
              f"images/s, x{statistics.median(paired):.2f} vs 1 thread (paired median)")
    report = {
        "what": f"falsr_ext.upscale (default model), {args.images} uint8 RGB images of "
                f"{args.size}x{args.size} per sample, images/s; {args.repeats} repeats, each "
                "running every config back to back (ratio: per repeat, vs the same "
                "design's 1 thread; medians)",
        "cpu": describe_cpu(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        # Other work on the machine: its share of the cores (and with it the 1-thread
        # rate, whose two intra-op threads stall on each other) changes the ratios.
        "load_average_1min_before_after": [round(load_before[0], 2),
                                           round(os.getloadavg()[0], 2)],
        "shipped_design": "pools",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
