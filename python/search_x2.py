"""Recipe: FALSR's x2 search (hybrid NSGA-II + reinforced mutation) on T91 + BSD200.

    python python/search_x2.py --out runs/search-x2            # the full recipe
    python python/search_x2.py --out runs/search-x2 --resume   # continue after a stop
    python python/search_x2.py --out runs/search-x2 --scheduler tcp://HOST:8786

Constraints as in the issue's example (100G MACs at 480x480, 500K params), every
candidate trained incompletely (a fixed budget per candidate) and scored on Set5. Any
``falsr search`` option given here overrides the recipe's value. Budget: population x
generations candidates (320 by default) of ``--train-steps`` steps each: on a CPU,
plan for hours, or spread the candidates over a Dask cluster.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from falsr_ext.nas.cli import main as search_main

SHARED = Path(__file__).resolve().parents[2] / "shared"
RECIPE = {
    "--data": [str(SHARED / "data" / "T91"), str(SHARED / "data" / "BSD200")],
    "--val": str(SHARED / "data" / "Set5"),
    "--population": "16",
    "--generations": "20",
    "--train-steps": "2000",
    "--batch": "16",
    "--patch": "32",
    "--max-macs": "100G",
    "--max-params": "500K",
    "--mutation-rl-fraction": "0.5",
    "--workers": "2",
}


def main(argv: list[str] | None = None) -> int:
    """Run ``falsr search`` with the recipe's settings, overridden by ``argv``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=True)
    parser.add_argument("--out", required=True, help="run folder")
    args, rest = parser.parse_known_args(argv)
    given = {a.split("=")[0] for a in rest if a.startswith("--")}
    merged: list[str] = ["search", "--out", args.out]
    for flag, value in RECIPE.items():
        if flag not in given:
            merged += [flag, *value] if isinstance(value, list) else [flag, value]
    return search_main(merged + rest)


if __name__ == "__main__":
    sys.exit(main())
