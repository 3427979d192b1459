"""Random search vs NSGA-II (random mutation) vs the hybrid controller, same budget.

Each controller proposes the same number of candidates (population x generations) for
each of several seeds; every candidate within the cost limits is really trained (a cheap
proxy budget: few steps on small patches, T91) and scored on Set5 with the standard
protocol. The figure of merit is the hypervolume of the feasible evaluations, with one
reference for all runs: PSNR above the lowest PSNR any run reached, MACs and params over
their limits. Writes ``benchmarks/results/nas-controllers.json`` (updated after every
run, so a partial result survives an interruption).

    python benchmarks/nas_controllers.py --seeds 0 1 2 --population 8 --generations 5 \
        --train-steps 40
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from falsr_ext.nas.pareto import front, hypervolume
from falsr_ext.nas.problem import Limits
from falsr_ext.nas.search import SearchConfig, run_search

ROOT = Path(__file__).resolve().parents[1]
CONTROLLERS = ("random", "nsga2", "hybrid")


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()
            if line.strip()]


def _summarise(runs: list[dict], cfg: dict) -> dict:
    """Hypervolumes with one reference for every run (lowest PSNR of all as the floor)."""
    psnrs = [r["psnr"] for run in runs for r in run["records"] if np.isfinite(r["psnr"])]
    floor = float(min(psnrs)) if psnrs else 0.0
    limits = Limits(cfg["max_macs"], cfg["max_params"])
    table: dict[str, dict] = {}
    for run in runs:
        per_gen = []
        for g in range(1, cfg["generations"] + 1):
            recs = [r for r in run["records"] if r["generation"] <= g]
            per_gen.append(hypervolume(recs, limits, cfg["max_macs"], cfg["max_params"], floor))
        run["hypervolume"] = per_gen[-1]
        run["hypervolume_per_generation"] = per_gen
        run["front_size"] = len(front(run["records"], limits))
        run["best_psnr"] = max((r["psnr"] for r in run["records"]), default=None)
        row = table.setdefault(run["controller"], {"hypervolume": [], "trained": [],
                                                   "best_psnr": []})
        row["hypervolume"].append(run["hypervolume"])
        row["trained"].append(run["trained"])
        row["best_psnr"].append(run["best_psnr"])
    for row in table.values():
        hv = np.array(row["hypervolume"])
        row["hypervolume_mean"] = float(hv.mean())
        row["hypervolume_std"] = float(hv.std(ddof=1)) if len(hv) > 1 else 0.0
    return {"psnr_floor": floor, "by_controller": table}


def main() -> None:
    """Run every (seed, controller) search and write the results JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "T91"))
    p.add_argument("--val", default=str(ROOT.parent / "shared" / "data" / "Set5"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--generations", type=int, default=5)
    p.add_argument("--train-steps", type=int, default=40)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=16)
    p.add_argument("--max-macs", type=float, default=40e9)
    p.add_argument("--max-params", type=float, default=200e3)
    p.add_argument("--rl-fraction", type=float, default=0.5)
    p.add_argument("--keep", action="store_true",
                   help="keep the runs already in --output (same settings) and add the others")
    p.add_argument("--work", default="/tmp/falsr-nas-bench", help="run folders (scratch)")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results"
                                           / "nas-controllers.json"))
    args = p.parse_args()
    cfg = {k: getattr(args, k) for k in ("population", "generations", "train_steps", "batch",
                                         "patch", "max_macs", "max_params", "rl_fraction",
                                         "seeds")}
    cfg.update(data=args.data, val=args.val, candidates_per_run=args.population
               * args.generations)
    work = Path(args.work)
    runs: list[dict] = []
    if args.keep and Path(args.output).is_file():
        old = json.loads(Path(args.output).read_text())
        same = {k: v for k, v in old["config"].items() if k != "seeds"} == {
            k: v for k, v in cfg.items() if k != "seeds"}
        if not same:
            raise SystemExit(f"--keep: {args.output} was made with other settings")
        runs = old["runs"]
    for seed in args.seeds:
        for controller in CONTROLLERS:
            if any(r["controller"] == controller and r["seed"] == seed for r in runs):
                continue
            out = work / f"{controller}-seed{seed}"
            shutil.rmtree(out, ignore_errors=True)
            tick = time.perf_counter()
            run_search(SearchConfig(
                data=[args.data], val=args.val, out=str(out), population=args.population,
                generations=args.generations, train_steps=args.train_steps, batch=args.batch,
                patch=args.patch, seed=seed, max_macs=args.max_macs,
                max_params=args.max_params, controller=controller,
                rl_fraction=args.rl_fraction), report=lambda s: print(s, flush=True))
            history = json.loads((out / "history.json").read_text())
            records = _records(out)
            runs.append({"controller": controller, "seed": seed, "records": records,
                         "trained": len(records),
                         "over_budget": sum(h["over_budget"] for h in history),
                         "cached": sum(h["cached"] for h in history),
                         "seconds": round(time.perf_counter() - tick, 1)})
            result = {"config": cfg, "machine": platform.processor() or platform.machine(),
                      "threads": 1, "cpus": os.cpu_count(), **_summarise(runs, cfg),
                      "runs": runs}
            Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
            print(f"== {controller} seed {seed}: HV {runs[-1]['hypervolume']:.4f} "
                  f"(trained {len(records)}, {runs[-1]['seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
