"""The README's default-model table: our bundled model beside bicubic and the official FALSR-B.

    python python/default_model_table.py            # ../shared: Set5 Set14 B100
    python python/default_model_table.py --json benchmarks/results/default-model.json

Every row uses the standard x2 protocol (studio-Y PSNR/SSIM, 2 px crop). Bicubic is our
MATLAB-compatible ``imresize`` of the shipped LR RGB image. FALSR-B is read from the
official ``.pb`` (not bundled: no licence) and skipped, with a note, when it is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from falsr_ext.data.bicubic import imresize
from falsr_ext.data.pairs import PairedFolder
from falsr_ext.evaluation import evaluate
from falsr_ext.metrics import psnr, ssim
from falsr_ext.models.loading import load_model

SCALE = 2


def bicubic_row(folder: Path) -> dict:
    """PSNR/SSIM of MATLAB bicubic upscaling on one benchmark folder."""
    pairs = PairedFolder(folder, SCALE)
    scores = [
        (psnr(up, p.hr, crop_border=SCALE, test_y_channel=True),
         ssim(up, p.hr, crop_border=SCALE, test_y_channel=True))
        for p in pairs
        for up in [imresize(p.lr, SCALE)]
    ]
    n = len(scores)
    return {"model": "bicubic", "dataset": pairs.name, "scale": SCALE,
            "psnr": sum(s[0] for s in scores) / n, "ssim": sum(s[1] for s in scores) / n,
            "images": n}


def main() -> int:
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=here.parent / "shared" / "data")
    parser.add_argument("--falsr-b", type=Path,
                        default=here.parent / "shared" / "falsr" / "pretrained" / "FALSR-B.pb")
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14", "B100"])
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    models = {"default (ours)": load_model("default")}
    if args.falsr_b.is_file():
        models["FALSR-B (official)"] = load_model("FALSR-B", weights=str(args.falsr_b))
    else:
        print(f"note: {args.falsr_b} absent, FALSR-B row skipped", file=sys.stderr)

    rows = []
    for name in args.sets:
        folder = args.data_root / name
        rows.append(bicubic_row(folder))
        for label, model in models.items():
            rows.append(evaluate(model, folder, progress=True, model_name=label).to_dict())
    for r in rows:
        print(f"{r['model']:20s} {r['dataset']:6s} {r['psnr']:.4f} dB  SSIM {r['ssim']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
