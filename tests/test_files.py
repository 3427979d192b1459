"""falsr_ext.files: atomic writes and folder locks (issue 13, item 3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from falsr_ext.errors import FalsrError
from falsr_ext.files import (
    FolderBusyError,
    FolderLock,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_the_temporary_is_hidden_beside_the_target_with_its_suffix(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "x.onnx") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".x.onnx.")
        assert tmp.suffix == ".onnx"  # writers that infer the format from it still work
        tmp.write_text("y")
    assert (tmp_path / "x.onnx").read_text() == "y"
    assert oct((tmp_path / "x.onnx").stat().st_mode & 0o777) == oct(0o644 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_concurrent_writers_never_mix_their_bytes(tmp_path: Path) -> None:
    target = tmp_path / "t.bin"
    payloads = [bytes([i]) * (200_000 + 1000 * i) for i in range(8)]
    threads = [threading.Thread(target=atomic_write_bytes, args=(target, data))
               for data in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_bytes() in payloads
    assert [p.name for p in tmp_path.iterdir()] == ["t.bin"]


def test_text(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a.json", "{\"é\": 1}\n")
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == "{\"é\": 1}\n"


_HOLDER = ("import sys, time\nfrom falsr_ext.files import FolderLock\n"
           "FolderLock(sys.argv[1], 'falsr train').acquire()\nprint('locked', flush=True)\n"
           "time.sleep(120)\n")


def _hold(folder: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_live_owner_keeps_others_out_and_a_dead_ones_lock_is_taken_over(
        tmp_path: Path) -> None:
    holder = _hold(tmp_path)
    try:
        with pytest.raises(FolderBusyError, match=rf"in use by falsr train \(pid {holder.pid}\)"):
            FolderLock(tmp_path, "falsr search").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / ".falsr.lock").exists()  # left behind by the kill
    lock = FolderLock(tmp_path, "falsr search").acquire()
    assert lock.stale_owner is not None and lock.stale_owner["pid"] == holder.pid
    lock.release()
    assert not (tmp_path / ".falsr.lock").exists()


def test_the_lock_error_is_one_line(tmp_path: Path) -> None:
    with FolderLock(tmp_path, "falsr upscale"), pytest.raises(FolderBusyError) as err:
        FolderLock(tmp_path, "falsr upscale").acquire()
    assert "\n" not in str(err.value) and str(os.getpid()) in str(err.value)


def test_many_threads_one_winner(tmp_path: Path) -> None:
    """The lock is per open file, so it also separates threads of one process."""
    wins: list[FolderLock] = []
    errors: list[Exception] = []
    start = threading.Barrier(6)

    def grab() -> None:
        start.wait()
        try:
            wins.append(FolderLock(tmp_path, "job").acquire())
            time.sleep(0.2)
        except FolderBusyError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=grab) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(errors) == 5
    wins[0].release()


def test_a_file_where_the_folder_should_be_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("x")
    with pytest.raises(FalsrError, match="is a file, not a folder"):
        FolderLock(tmp_path / "run", "falsr train").acquire()
