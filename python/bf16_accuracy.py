"""PSNR/SSIM of the fused engine in bfloat16 against float32 (official weights, x2).

    python python/bf16_accuracy.py --json benchmarks/results/bf16-accuracy.json

Same protocol as reproduce_table1.py (luma network, PIL-bicubic chroma, truncated uint8,
studio-Y PSNR/SSIM, 2 px crop); the only difference between the two runs is the
engine's dtype. The issue's bound: |dPSNR| <= 0.02 dB on Set5, Set14 and B100.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from falsr_ext import evaluate, load_model
from falsr_ext.errors import FalsrError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BOUND_DB = 0.02


def main() -> int:
    """Evaluate each model in fp32 and bf16 on each set; print and optionally save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-dir", type=Path, default=SHARED / "falsr" / "pretrained")
    parser.add_argument("--data", type=Path, nargs="+",
                        default=[SHARED / "data" / s for s in ("Set5", "Set14", "B100")])
    parser.add_argument("--models", nargs="+", default=["FALSR-A", "FALSR-B", "FALSR-C"])
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    rows = []
    print(f"{'model':<8} {'set':<7} {'fp32 PSNR':>10} {'bf16 PSNR':>10} {'dPSNR':>9} "
          f"{'dSSIM':>9}")
    try:
        for name in args.models:
            model = load_model(name, weights=args.weights_dir / f"{name}.pb")
            for folder in args.data:
                fp32 = evaluate(model, folder, progress=True, dtype="float32")
                bf16 = evaluate(model, folder, progress=True, dtype="bfloat16")
                row = {"model": name, "dataset": fp32.dataset, "images": fp32.images,
                       "psnr_fp32": fp32.psnr, "psnr_bf16": bf16.psnr,
                       "ssim_fp32": fp32.ssim, "ssim_bf16": bf16.ssim,
                       "dpsnr": bf16.psnr - fp32.psnr, "dssim": bf16.ssim - fp32.ssim}
                rows.append(row)
                print(f"{name:<8} {row['dataset']:<7} {fp32.psnr:>10.5f} {bf16.psnr:>10.5f} "
                      f"{row['dpsnr']:>+9.5f} {row['dssim']:>+9.6f}", flush=True)
    except FalsrError as e:
        print(f"bf16_accuracy: error: {e}", file=sys.stderr)
        return 2
    worst = max(abs(r["dpsnr"]) for r in rows)
    print(f"worst |dPSNR| = {worst:.5f} dB (bound {BOUND_DB})")
    if args.json:
        args.json.write_text(json.dumps({"bound_db": BOUND_DB, "worst_abs_dpsnr": worst,
                                         "rows": rows}, indent=2) + "\n")
    return 0 if worst <= BOUND_DB else 1


if __name__ == "__main__":
    sys.exit(main())
