"""The whole CPU suite in one command: run, summarise, chart.

    python benchmarks/run_cpu_suite.py            # full size (480x480), ~6-10 min
    python benchmarks/run_cpu_suite.py --smoke    # 96x96, 1 round, into /tmp (~3-4 min)

Runs test_bench_pixel_shuffle.py and test_bench_network.py in ONE pytest-benchmark
session (2 threads), writes ``<results>/cpu.json``, then ``render_summary.py`` (->
``cpu-summary.json``, ``cpu-rates.json``, markdown on stdout) and ``render_chart.py`` (->
``cpu-summary.png``). Arguments after ``--`` go to pytest (e.g. ``-- -k FALSR-A``).
Exits with pytest's status; the rendering runs whenever the JSON was written. A test file
that cannot be imported (e.g. a stale build) is reported as an error and the rest still runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ["test_bench_pixel_shuffle.py", "test_bench_network.py"]


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    own, pytest_args = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="FALSR_BENCH_SIZE=96, 1 round, results in /tmp/falsr-bench-smoke")
    parser.add_argument("--results", type=Path, help="output folder (default benchmarks/results)")
    args = parser.parse_args(own)
    env = dict(os.environ)
    if args.smoke:
        env.setdefault("FALSR_BENCH_SIZE", "96")
        env.setdefault("FALSR_BENCH_ROUNDS", "1")
    results = args.results or (Path("/tmp/falsr-bench-smoke") if args.smoke else HERE / "results")
    results.mkdir(parents=True, exist_ok=True)
    run_json = results / "cpu.json"
    if run_json.exists():
        run_json.unlink()  # never render a stale run
    command = [sys.executable, "-m", "pytest", *[str(HERE / f) for f in FILES],
               "--benchmark-only", f"--benchmark-json={run_json}", "-p", "no:cacheprovider",
               "--continue-on-collection-errors",  # a file that fails to import: the rest runs
               "-q", *pytest_args]
    status = subprocess.call(command, cwd=HERE.parent, env=env)
    if not run_json.is_file() or run_json.stat().st_size == 0:
        print(f"no {run_json}: pytest exited with {status}", file=sys.stderr)
        return status or 1
    subprocess.check_call([sys.executable, str(HERE / "render_summary.py"), str(run_json)])
    chart = subprocess.call([sys.executable, str(HERE / "render_chart.py"),
                             str(results / "cpu-summary.json")])
    return status or chart


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
