"""One process per run folder: ``falsr train`` and ``falsr search`` hold its lock throughout.

Without it two runs with one ``--out`` interleave their logs and overwrite each other's
checkpoints. The lock is :class:`falsr_ext.files.FolderLock` (an ``flock``: the kernel
drops it when its owner dies, so a run killed with ``kill -9`` leaves a stale lock file
that the next run takes over).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from falsr_ext.files import FolderLock


@contextlib.contextmanager
def locked_run_folder(folder: str | Path, what: str) -> Iterator[FolderLock]:
    """Hold ``folder``'s lock (``what`` names the job to a second process) for the body.

    Taking the lock creates the folder; when the body fails and the folder is empty again
    (it failed before writing anything, e.g. on bad data), a folder this call created is
    removed, so a failed start leaves nothing behind.
    """
    folder = Path(folder)
    created = not folder.exists()
    lock = FolderLock(folder, what).acquire()
    try:
        yield lock
    except BaseException:
        lock.release()
        if created:
            with contextlib.suppress(OSError):  # not empty: the run wrote something
                folder.rmdir()
        raise
    lock.release()
