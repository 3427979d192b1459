"""Shared helpers of the command-line tests: run `falsr` as a shell would, check errors."""

from __future__ import annotations

import subprocess
import sys


def run_falsr(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``falsr ARGS`` exactly as a user's shell would (a fresh interpreter)."""
    return subprocess.run([sys.executable, "-m", "falsr_ext.cli", *args],
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit status 2, no traceback, one ``falsr: error:`` line containing every needle."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("falsr: error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def run_in_process(capsys, *args: str) -> subprocess.CompletedProcess[str]:
    """``falsr ARGS`` through ``falsr_ext.cli.main`` in this process (fast); a parser
    error (SystemExit) becomes its exit status. ``capsys``: pytest's fixture."""
    from falsr_ext.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def assert_one_line_message(exc, *needles: str, limit: int = 300) -> str:
    """An exception (``pytest.raises`` info) whose message is one short line holding every
    needle; returns the message."""
    text = str(exc.value)
    assert "\n" not in text and len(text) < limit, text
    for needle in needles:
        assert needle in text, text
    return text
