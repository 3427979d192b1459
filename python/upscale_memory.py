"""Peak memory and time of one big upscale (the issue's bound: 4000x3000 x2 in 3 GB RSS).

    python python/upscale_memory.py --model ../shared/falsr/pretrained/FALSR-A.pb

Upscales a synthetic 4000x3000 RGB image x2 with the default (automatic) tiling and
prints the wall time and the process's peak resident set size (ru_maxrss), which
includes the Python interpreter, torch, the input and the 8000x6000 output.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np


def main() -> int:
    """Run one upscale and report its peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="FALSR-A", help="model file or zoo name")
    parser.add_argument("--weights", help="weights for a zoo name")
    parser.add_argument("--size", default="4000x3000", help="WxH of the input")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    import falsr_ext

    w, h = (int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    model = falsr_ext.load_model(args.model, weights=args.weights)
    start = time.perf_counter()
    out = falsr_ext.upscale(image, model=model, dtype=args.dtype)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"input": [h, w], "output": list(out.shape), "seconds": seconds,
              "peak_rss_mib": peak_mib, "dtype": args.dtype}
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if peak_mib <= 3 * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
