"""Where evaluations run: a local process pool (default) or a Dask cluster.

Both expose ``run(fn, jobs)``, yielding each job's result as soon as it finishes, in
completion order, so the search can log every evaluation at once. The pool uses the
``spawn`` start method (torch and fork do not mix) with one torch thread per worker by
default. With Dask, a worker lost mid-task has its tasks recomputed by the scheduler.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from falsr_ext.nas import SearchError

_ADDRESS = re.compile(r"^(tcp|tls)://[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def check_scheduler_address(address: str) -> str:
    """Return ``address`` if it looks like ``tcp://HOST:PORT`` (or ``tls://``), else raise."""
    if not _ADDRESS.match(address):
        raise SearchError(f"--scheduler: expected tcp://HOST:PORT, got {address!r}")
    return address


class LocalRunner:
    """A pool of ``workers`` spawned processes (created on first use)."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise SearchError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def run(self, fn: Callable[..., Any], jobs: Sequence[tuple]) -> Iterator[Any]:
        """Yield ``fn(*job)`` for every job, in completion order."""
        if not jobs:
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
        futures = [self._pool.submit(fn, *job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()

    def close(self) -> None:
        """Shut the pool down."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class DaskRunner:
    """Jobs as Dask futures on the scheduler at ``address`` (``tcp://HOST:PORT``)."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise SearchError("--scheduler needs Dask: pip install 'dask[distributed]'") from None
        self.address = check_scheduler_address(address)
        try:
            self.client = Client(self.address, timeout="20s")
        except OSError as exc:
            raise SearchError(f"--scheduler: cannot reach {address} ({exc})") from None

    def run(self, fn: Callable[..., Any], jobs: Sequence[tuple]) -> Iterator[Any]:
        """Yield ``fn(*job)`` for every job, in completion order (pure=False: always run)."""
        from distributed import as_completed as dask_completed

        if not jobs:
            return
        futures = [self.client.submit(fn, *job, pure=False) for job in jobs]
        for future in dask_completed(futures):
            yield future.result()

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster keeps running)."""
        self.client.close()


def make_runner(scheduler: str | None, workers: int) -> LocalRunner | DaskRunner:
    """The Dask runner when a scheduler address is given, else the local pool."""
    return DaskRunner(scheduler) if scheduler else LocalRunner(workers)
