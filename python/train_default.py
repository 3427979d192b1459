"""Train the bundled default model (x2, luma) the way the shipped weights were trained.

    python python/train_default.py --data-root ../shared/data --out runs/default-x2
    python python/train_default.py --data-root ../shared/data --out runs/default-x2 --resume

Settings: ``falsr_ext.models.default.DEFAULT_TRAINING`` (T91 + BSD200, Set5 validation).
``--steps`` shortens the run for a smoke test; the shipped weights used the default.
The same run from the shell::

    falsr train --genotype "$(python -c 'import falsr_ext.models.default as d; \
        print(d.DEFAULT_GENOTYPE)')" --data ../shared/data/T91,../shared/data/BSD200 \
        --val ../shared/data/Set5 --out runs/default-x2 --steps 15000 --batch 32 \
        --patch 32 --lr 1e-3 --lr-min 1e-5 --warmup 300 --val-every 500 \
        --checkpoint-every 250 --log-every 50 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from falsr_ext.errors import FalsrError
from falsr_ext.models.default import DEFAULT_GENOTYPE, DEFAULT_TRAINING
from falsr_ext.training import TrainConfig, train_run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, help="folder holding T91/, BSD200/, Set5/")
    parser.add_argument("--out", required=True, help="run folder")
    parser.add_argument("--steps", type=int, default=DEFAULT_TRAINING["steps"])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    root = Path(args.data_root).resolve()
    settings = {**DEFAULT_TRAINING, "steps": args.steps}
    if args.steps != DEFAULT_TRAINING["steps"]:  # a smoke run: keep the schedule's shape
        settings["warmup"] = min(settings["warmup"], args.steps // 4)
        settings["val_every"] = settings["checkpoint_every"] = args.steps
    try:
        config = TrainConfig(genotype=DEFAULT_GENOTYPE, data=[str(root / "T91"),
                             str(root / "BSD200")], val=str(root / "Set5"), **settings)
        result = train_run(config, args.out, resume=args.resume, threads=args.threads or None)
    except FalsrError as exc:
        print(f"train_default: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"weights": str(result.weights), "steps": result.steps,
                      "set5_psnr": result.val_psnr}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
