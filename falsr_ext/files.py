"""Safe file output: atomic writes and run-folder locks.

* :func:`atomic_path` / :func:`atomic_write_bytes` / :func:`atomic_write_text`: the data
  goes to a uniquely named temporary file in the target's folder, is flushed to disk and
  then renamed over the target, so a reader (or a kill at any moment) only ever sees the
  old file or the complete new one, never a half-written one; concurrent writers of one
  target never mix their bytes (the last rename wins).
* :class:`FolderLock`: an exclusive lock file, holding the owner's pid, host and command,
  that keeps two ``falsr train`` / ``falsr search`` / ``falsr upscale`` processes out of
  one folder. It is an ``flock`` on the file, so the kernel drops it when the owner dies
  (even by ``kill -9``); a lock file left behind by a dead owner is stale and is taken
  over (:attr:`FolderLock.stale_owner` says whose it was).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from falsr_ext.errors import FalsrError

LOCK_NAME = ".falsr.lock"


class FolderBusyError(FalsrError, RuntimeError):
    """Another live process holds the lock of a run or output folder."""


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], mode: int = 0o644) -> Iterator[Path]:
    """A temporary path to write ``target``'s new content to; on a clean exit it is
    fsynced and renamed over ``target``, on an exception it is removed.

    The temporary file sits in ``target``'s folder (a rename across file systems is not
    atomic) and starts with a dot, so folder scans for images skip it.
    """
    target = Path(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{target.suffix}",
                               dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in blocks (model cards pin releases by it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def short_path(path: str | os.PathLike[str], limit: int = 120) -> str:
    """A path for a one-line message: long ones keep their start and end."""
    text = os.fspath(path)
    if len(text) <= limit:
        return text
    return f"{text[:limit - 40]}...{text[-30:]} ({len(text):,} chars)"


def path_kind(path: str | os.PathLike[str]) -> str | None:
    """``"dir"``, ``"file"`` (regular), ``"other"`` (FIFO, device, socket) or ``None``
    (absent). A path the system refuses to look at (too long, no permission, a loop)
    is one :class:`FalsrError` line, where ``Path.exists`` would raise ``OSError``."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:  # ValueError: an embedded NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FalsrError(f"{short_path(path)}: cannot access ({reason})") from None
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (see :func:`atomic_path`)."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically (see :func:`atomic_path`)."""
    atomic_write_bytes(target, text.encode("utf-8"))


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask. Linux reports it in /proc; elsewhere reading it means setting
    it, which a lock keeps from racing our own writers (files other threads create in
    that instant would still get mode 0o666: only where /proc lacks it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0)
        os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


class FolderLock:
    """Exclusive use of a folder by this process (a context manager; re-entrant per
    instance only). ``what`` names the job in the error another process gets."""

    def __init__(self, folder: str | os.PathLike[str], what: str,
                 name: str = LOCK_NAME) -> None:
        self.folder = Path(folder)
        self.path = self.folder / name
        self.what = what
        self.stale_owner: dict | None = None
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock or raise :class:`FolderBusyError` naming the live owner."""
        import fcntl

        if self.folder.exists() and not self.folder.is_dir():
            raise FalsrError(f"{self.folder}: is a file, not a folder; choose another")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FalsrError(f"{self.folder}: cannot create the folder "
                             f"({exc.strerror or exc})") from None
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(fd)
                os.close(fd)
                raise FolderBusyError(
                    f"{self.folder}: in use by {_describe(owner)}; wait for it to finish or "
                    f"choose another folder (the lock is {self.path})") from None
            # The holder we waited on may have unlinked the file before we locked it:
            # then our lock is on a dead inode, so try again on the current file.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        owner = _read_owner(fd)
        if owner and owner.get("pid") not in (None, os.getpid()):
            self.stale_owner = owner  # a previous owner died without unlocking
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "what": self.what,
                                  "command": " ".join(sys.argv)[:500]}).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up and remove the lock file."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_owner(fd: int) -> dict | None:
    try:
        raw = os.pread(fd, 4096, 0)
        owner = json.loads(raw.decode("utf-8")) if raw else None
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _describe(owner: dict | None) -> str:
    if not owner:
        return "another falsr process"
    pid, host = owner.get("pid"), owner.get("host")
    text = f"{owner.get('what') or 'another falsr job'} (pid {pid}"
    if host and host != socket.gethostname():
        text += f" on {host}"
    elif isinstance(pid, int) and not _pid_alive(pid):
        text += ", not running: its lock is held by a child it left"
    return text + ")"
