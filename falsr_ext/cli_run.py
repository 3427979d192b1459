"""Running a parsed ``falsr`` subcommand: a user's error is one line, not a traceback.

Shared by :mod:`falsr_ext.cli` and the stand-alone :mod:`falsr_ext.nas.cli`, which is why
it lives below both (``falsr_ext.cli`` imports ``falsr_ext.nas.cli`` to add ``search``).
User errors (bad paths, corrupt files, bad genotypes) print ``falsr: error: <problem>``
and exit with status 2; notes such as ``ImageNote`` print as one ``falsr: note:`` line;
SIGTERM unwinds like Ctrl-C (status 130).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import warnings
from collections.abc import Iterator

from falsr_ext.errors import FalsrError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a job scheduler) unwinds like Ctrl-C while a command runs, so
    temporary files are removed and locks released instead of vanishing mid-write."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_note(message, category, filename, lineno, file=None, line=None) -> None:
    """Our notes (``ImageNote``, ``PrecisionNote``) as one ``falsr: note:`` line; others
    as usual."""
    from falsr_ext.data.image_io import ImageNote
    from falsr_ext.dtypes import PrecisionNote

    if issubclass(category, (ImageNote, PrecisionNote)):
        print(f"falsr: note: {message}", file=sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


# Captured at import, before run_command swaps in _print_note, so other warnings still
# reach Python's own printer.
_show_warning = warnings.showwarning


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed subcommand: a user's error is one line on stderr and exit status 2."""
    from falsr_ext.data.image_io import ImageNote

    try:
        with warnings.catch_warnings(), _terminate_as_interrupt():
            warnings.showwarning = _print_note
            warnings.simplefilter("always", ImageNote)  # one note per image, not per run
            return args.func(args)
    except FalsrError as exc:
        print(f"falsr: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("falsr: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
