"""Reproduce Table 1 of FALSR (x2): our measurement beside the paper's and the official graphs'.

    python python/reproduce_table1.py \
        --weights-dir ../shared/falsr/pretrained \
        --data ../shared/data/Set5 ../shared/data/Set14 ../shared/data/B100

The official .pb files are read directly (no TensorFlow); the protocol is the official
release's (luma network, PIL-bicubic chroma, truncated uint8, studio-Y PSNR/SSIM, 2 px crop).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from falsr_ext import evaluate, load_model
from falsr_ext.errors import FalsrError
from falsr_ext.models.zoo import OFFICIAL_MEASURED, PAPER_TABLE1

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def main() -> int:
    """Evaluate FALSR-A/B/C on the given sets and print the table (and optional JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-dir", type=Path, default=SHARED / "falsr" / "pretrained",
                        help="folder holding FALSR-A.pb, FALSR-B.pb, FALSR-C.pb")
    parser.add_argument("--data", type=Path, nargs="+",
                        default=[SHARED / "data" / s for s in ("Set5", "Set14", "B100")])
    parser.add_argument("--models", nargs="+", default=["FALSR-A", "FALSR-B", "FALSR-C"])
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()

    rows = []
    print(f"{'model':<8} {'set':<7} {'ours PSNR/SSIM':>18} {'official TF':>18} "
          f"{'paper':>15} {'dPSNR vs TF':>12}")
    try:
        for name in args.models:
            model = load_model(name, weights=args.weights_dir / f"{name}.pb")
            for folder in args.data:
                result = evaluate(model, folder, scale=2, progress=True, model_name=name)
                rows.append(result.to_dict())
                _print_row(result.to_dict())
    except FalsrError as exc:
        print(f"reproduce_table1: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def _print_row(row: dict) -> None:
    name, data = row["model"], row["dataset"]
    tf = OFFICIAL_MEASURED.get(name, {}).get(data)
    paper = PAPER_TABLE1.get(name, {}).get(data)
    tf_s = f"{tf[0]:.4f}/{tf[1]:.5f}" if tf else "-"
    paper_s = f"{paper[0]:.2f}/{paper[1]:.4f}" if paper else "-"
    delta = f"{row['psnr'] - tf[0]:+.4f}" if tf else "-"
    print(f"{name:<8} {data:<7} {row['psnr']:>8.4f}/{row['ssim']:.5f} {tf_s:>18} "
          f"{paper_s:>15} {delta:>12}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
