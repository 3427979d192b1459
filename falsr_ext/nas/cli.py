"""``falsr search``: the hybrid NSGA-II + reinforced-mutation architecture search.

Wired into the ``falsr`` command by :func:`add_search_parser`; also runnable alone as
``python -m falsr_ext.nas.cli search ...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from falsr_ext.cli_run import run_command


def _cmd_search(args: argparse.Namespace) -> int:
    from falsr_ext.nas.search import SearchConfig, parse_amount, run_search

    cfg = SearchConfig(
        data=args.data, val=args.val, out=args.out, population=args.population,
        generations=args.generations, train_steps=args.train_steps, batch=args.batch,
        patch=args.patch, lr=args.lr, seed=args.seed, scale=args.scale,
        max_macs=parse_amount(args.max_macs, "--max-macs") if args.max_macs else None,
        max_params=parse_amount(args.max_params, "--max-params") if args.max_params else None,
        min_psnr=args.min_psnr, controller=args.controller,
        rl_fraction=args.mutation_rl_fraction, policy_lr=args.policy_lr,
        scheduler=args.scheduler, workers=args.workers, threads=args.threads,
        resume=args.resume)
    run_search(cfg, report=lambda line: print(line, flush=True))
    return 0


def add_search_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``search`` subcommand (its arguments and ``func``) to ``subparsers``."""
    sp = subparsers.add_parser(
        "search", help="multi-objective architecture search (NSGA-II + reinforced mutation)")
    sp.add_argument("--data", required=True, nargs="+", help="training folder(s) of HR images")
    sp.add_argument("--val", required=True, help="validation folder (HR/, optional LR_bicubic/)")
    sp.add_argument("--out", required=True, help="run folder (evaluations, checkpoint, front)")
    sp.add_argument("--population", type=int, required=True, help="NSGA-II population size")
    sp.add_argument("--generations", type=int, required=True,
                    help="generations in all, the initial population included")
    sp.add_argument("--train-steps", type=int, required=True,
                    help="training steps per candidate (incomplete training)")
    sp.add_argument("--batch", type=int, default=16, help="training batch per candidate")
    sp.add_argument("--patch", type=int, default=32, help="LR training patch side (px)")
    sp.add_argument("--lr", type=float, default=1e-3, help="training learning rate")
    sp.add_argument("--seed", type=int, default=0, help="search and training seed")
    sp.add_argument("--scale", type=int, default=2, choices=(2, 3, 4))
    sp.add_argument("--max-macs", help="MACs limit at 480x480, e.g. 100G (checked before training)")
    sp.add_argument("--max-params", help="parameter limit, e.g. 500K (checked before training)")
    sp.add_argument("--min-psnr", type=float, help="PSNR floor in dB (checked after evaluation)")
    sp.add_argument("--controller", choices=("hybrid", "nsga2", "random"), default="hybrid",
                    help="hybrid (default), nsga2 (random mutation only) or random search")
    sp.add_argument("--mutation-rl-fraction", type=float, default=0.5,
                    help="fraction of offspring mutated by the learned policy (default 0.5)")
    sp.add_argument("--policy-lr", type=float, default=0.3, help="REINFORCE step size")
    sp.add_argument("--scheduler", help="Dask scheduler tcp://HOST:PORT (default: local pool)")
    sp.add_argument("--workers", type=int, default=1, help="local pool processes (default 1)")
    sp.add_argument("--threads", type=int, default=1, help="torch threads per evaluation")
    sp.add_argument("--resume", action="store_true", help="continue the run in --out")
    sp.set_defaults(func=_cmd_search)


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m falsr_ext.nas.cli search ...``)."""
    parser = argparse.ArgumentParser(prog="falsr", description=__doc__.splitlines()[0])
    add_search_parser(parser.add_subparsers(dest="command", required=True))
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
