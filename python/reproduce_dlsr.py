"""Reproduce the released DLSR x2 networks' accuracy through our own re-implementation.

    python python/reproduce_dlsr.py \
        --weights-dir ../shared/dlsr/checkpoints \
        --data ../shared/data/Set5 ../shared/data/Set14 ../shared/data/B100 \
        --json benchmarks/results/dlsr-reproduction.json

The wiring of each file comes from its model card (matched by sha256); the protocol is
the cards' "y-float" one (RGB 0..255 in, clamp + round, float studio Y, 2 px crop,
MATLAB SSIM). Targets: the 4-decimal "std" columns of ../shared/dlsr/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from falsr_ext import evaluate
from falsr_ext.errors import FalsrError
from falsr_ext.machine import machine_info
from falsr_ext.spaces.dlsr import load_dlsr_checkpoint, released_cards

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def main() -> int:
    """Evaluate dlsr-full/para/tiny on the given sets; print the table, optionally JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-dir", type=Path, default=SHARED / "dlsr" / "checkpoints")
    parser.add_argument("--data", type=Path, nargs="+",
                        default=[SHARED / "data" / s for s in ("Set5", "Set14", "B100")])
    parser.add_argument("--models", nargs="+", default=list(released_cards()))
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    cards = released_cards()
    rows = []
    print(f"{'model':<10} {'set':<6} {'ours PSNR/SSIM':>17} {'README':>17} "
          f"{'dPSNR':>8} {'dSSIM':>8} {'s':>5}")
    try:
        for name in args.models:
            if name not in cards:
                raise FalsrError(f"unknown model {name!r} (known: {', '.join(cards)})")
            card = cards[name]
            net = load_dlsr_checkpoint(args.weights_dir / str(card.weights))
            for folder in args.data:
                start = time.perf_counter()
                row = evaluate(net, folder, scale=2, model_name=name).to_dict()
                row["seconds"] = round(time.perf_counter() - start, 1)
                row["arch"] = card.arch
                row["readme"] = card.reference.get(row["dataset"])
                rows.append(row)
                _print_row(row)
    except FalsrError as exc:
        print(f"reproduce_dlsr: error: {exc}", file=sys.stderr)
        return 2
    if args.json:  # the seconds are only meaningful with the machine they ran on
        record = {"machine": machine_info(), "results": rows}
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


def _print_row(row: dict) -> None:
    ref = row["readme"]
    ref_s = f"{ref['psnr']:.4f}/{ref['ssim']:.5f}" if ref else "-"
    dp = f"{row['psnr'] - ref['psnr']:+.5f}" if ref else "-"
    ds = f"{row['ssim'] - ref['ssim']:+.6f}" if ref else "-"
    print(f"{row['model']:<10} {row['dataset']:<6} {row['psnr']:>8.4f}/{row['ssim']:.5f} "
          f"{ref_s:>17} {dp:>8} {ds:>8} {row['seconds']:>5}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
