"""Running a test under each instruction-set cap (FALSR_CPU_ISA) the CPU supports."""

from __future__ import annotations

import pytest

ISA_LEVELS = ("generic", "avx2", "avx512", "avx512_bf16", "amx")


def available_isas() -> list[str]:
    from falsr_ext import _C

    best = _C.cpu_isa_available()
    return list(ISA_LEVELS[: ISA_LEVELS.index(best) + 1])


def use_isa(monkeypatch: pytest.MonkeyPatch, isa: str) -> None:
    """Caps the kernels at ``isa`` for this test, or skips if the CPU lacks it."""
    if isa not in available_isas():
        pytest.skip(f"this CPU has no {isa} (best: {available_isas()[-1]})")
    monkeypatch.setenv("FALSR_CPU_ISA", isa)
