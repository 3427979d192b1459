"""The search on a Dask cluster (2 worker processes on loopback), one worker killed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from nas_helpers import env_with_train_log, make_tiny_val, read_jsonl, search_args

distributed = pytest.importorskip("distributed", reason="needs dask[distributed]")


def test_dask_search_survives_a_killed_worker(shared_dir: Path, tmp_path: Path) -> None:
    val = make_tiny_val(shared_dir, tmp_path / "val")
    out, log = tmp_path / "run", tmp_path / "train.log"
    env = env_with_train_log(log)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        assert len(worker_pids) == 2
        args = search_args(shared_dir, val, out, 4, 2, 12, "--scheduler",
                           cluster.scheduler_address)
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        killed = None
        deadline = time.monotonic() + 150
        try:  # kill the worker of a training started in generation 2, while it trains
            while killed is None:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "no generation-2 training seen"
                events = read_jsonl(log)
                done = {e["hash"] for e in events if e["event"] == "done"}
                if len(done) >= 4:
                    running = [e for e in events if e["event"] == "start"
                               and e["hash"] not in done and e["pid"] in worker_pids]
                    if running:
                        killed = running[-1]
                        os.kill(killed["pid"], signal.SIGKILL)
                time.sleep(0.01)
            stdout, stderr = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, stderr
    assert "gen 2/2" in stdout
    evaluations = read_jsonl(out / "evaluations.jsonl")
    hashes = [e["hash"] for e in evaluations]
    assert len(hashes) == len(set(hashes))
    assert killed["hash"] in hashes  # the killed worker's candidate was evaluated elsewhere
    events = read_jsonl(log)
    done = Counter(e["hash"] for e in events if e["event"] == "done")
    assert set(done) == set(hashes) and all(n == 1 for n in done.values())
    starts = Counter(e["hash"] for e in events if e["event"] == "start")
    assert starts[killed["hash"]] == 2  # started on the killed worker, then once more
    assert (out / "pareto.json").is_file()
