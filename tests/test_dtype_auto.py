"""``dtype="auto"``: bf16 where the CPU kernels run it natively, float32 elsewhere; a note
once per process for bf16 asked for where it is emulated."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import run_falsr, run_in_process
from isa_helpers import ISA_LEVELS, available_isas, use_isa

import falsr_ext
from falsr_ext import dtypes
from falsr_ext.data.image_io import read_image, write_image
from falsr_ext.dtypes import (
    NATIVE_BF16_ISAS,
    PrecisionNote,
    native_bf16,
    parse_network_dtype,
    resolve_network_dtype,
)
from falsr_ext.models import build_model, save_weights
from falsr_ext.space import Genotype
from falsr_ext.upscaling import upscale

CPU = torch.device("cpu")
IMG = np.random.default_rng(0).integers(1, 256, (24, 20, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(
        Genotype.from_string("conv-k3-f16-b2-skip@F/ib-k1-f16-b1-noskip@c0/fuse@F+c1"))
    with torch.no_grad():  # keep outputs inside [0, 1]: clipping hides nothing
        model.tail.weight.mul_(0.1)
        model.tail.bias.fill_(0.5)
    return model


@pytest.fixture
def fresh_note(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget that this process already printed the emulated-bf16 note."""
    monkeypatch.setattr(dtypes, "_warned_emulated", False)


def _emulated_level() -> str:
    """The highest level this CPU has without native bf16 (generic at worst)."""
    return [isa for isa in available_isas() if isa not in NATIVE_BF16_ISAS][-1]


def _notes(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, PrecisionNote)]


@pytest.mark.parametrize("isa", ISA_LEVELS)
def test_auto_follows_the_isa_cap(monkeypatch: pytest.MonkeyPatch, net: torch.nn.Module,
                                  isa: str) -> None:
    use_isa(monkeypatch, isa)  # skips a level this CPU lacks
    want = torch.bfloat16 if isa in ("avx512_bf16", "amx") else torch.float32
    assert native_bf16() == (want == torch.bfloat16)
    assert resolve_network_dtype("auto", CPU, net) == want
    assert resolve_network_dtype("AUTO", CPU, net) == want
    assert np.array_equal(upscale(IMG, net), upscale(IMG, net, dtype=want))


def test_auto_under_the_default_cap(monkeypatch: pytest.MonkeyPatch,
                                    net: torch.nn.Module) -> None:
    monkeypatch.delenv("FALSR_CPU_ISA", raising=False)
    best = available_isas()[-1]
    # The default cap is the CPU's best up to avx512_bf16 (AMX is opt-in): both native.
    want = torch.bfloat16 if best in NATIVE_BF16_ISAS else torch.float32
    assert resolve_network_dtype("auto", CPU, net) == want


def test_auto_is_float32_on_cuda_and_for_other_spaces(net: torch.nn.Module) -> None:
    # Only the device's type is read: no GPU needed.
    assert resolve_network_dtype("auto", torch.device("cuda"), net) == torch.float32
    tpsr = falsr_ext.create_model("tpsr:tpsr-d2")
    assert resolve_network_dtype("auto", CPU, tpsr) == torch.float32
    img = IMG[:12, :10]
    # TPSR refuses bf16, so auto must not pick it, whatever the CPU.
    assert np.array_equal(upscale(img, tpsr), upscale(img, tpsr, dtype="float32"))


def test_auto_only_where_allowed() -> None:
    with pytest.raises(ValueError, match="'auto' is for upscale only"):
        parse_network_dtype("auto")  # evaluate() and the engine: never machine-dependent
    with pytest.raises(ValueError, match="'auto', 'float32' or 'bfloat16'"):
        resolve_network_dtype("float16", CPU, torch.nn.Conv2d(1, 1, 1))


def test_emulated_bf16_notes_once(monkeypatch: pytest.MonkeyPatch, net: torch.nn.Module,
                                  fresh_note: None) -> None:
    use_isa(monkeypatch, _emulated_level())
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        upscale(IMG, net, dtype="auto")
        assert _notes(record) == []  # auto picks float32 here: nothing to say
        out = upscale(IMG, net, dtype="bf16")
        upscale(IMG, net, dtype=torch.bfloat16)
    notes = _notes(record)
    assert len(notes) == 1 and "emulated" in notes[0] and "slower than float32" in notes[0]
    note = next(w for w in record if issubclass(w.category, PrecisionNote))
    assert note.filename == __file__  # points at the caller's line
    ref = upscale(IMG, net, dtype="float32")
    assert np.abs(out.astype(int) - ref).max() <= 5  # it still ran, in bf16


@pytest.mark.parametrize("isa", NATIVE_BF16_ISAS)
def test_native_bf16_has_no_note(monkeypatch: pytest.MonkeyPatch, net: torch.nn.Module,
                                 fresh_note: None, isa: str) -> None:
    use_isa(monkeypatch, isa)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        upscale(IMG, net, dtype="bf16")
    assert _notes(record) == []


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, net: torch.nn.Module) -> Path:
    folder = tmp_path_factory.mktemp("auto")
    (folder / "in").mkdir()
    save_weights(net, folder / "net.safetensors")
    write_image(folder / "in" / "a.png", IMG)
    write_image(folder / "in" / "b.png", IMG[::-1].copy())
    return folder


def test_cli_default_is_bf16_here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                  files: Path, tmp_path: Path) -> None:
    monkeypatch.delenv("FALSR_CPU_ISA", raising=False)
    if not native_bf16():
        pytest.skip(f"this CPU has no native bf16 (best: {available_isas()[-1]})")
    out = {}
    for dtype in (None, "bf16", "float32"):
        dst = tmp_path / f"{dtype}.png"
        extra = () if dtype is None else ("--dtype", dtype)
        proc = run_in_process(capsys, "upscale", str(files / "in" / "a.png"), "-o", str(dst),
                              "--model", str(files / "net.safetensors"), *extra)
        assert proc.returncode == 0, proc.stderr
        assert "note" not in proc.stderr
        out[dtype] = read_image(dst).astype(int)
    assert np.array_equal(out[None], out["bf16"])
    assert np.abs(out[None] - out["float32"]).max() <= 5


def test_cli_notes_emulated_bf16_once(monkeypatch: pytest.MonkeyPatch, files: Path,
                                      tmp_path: Path) -> None:
    monkeypatch.setenv("FALSR_CPU_ISA", _emulated_level())  # a fresh process: no guard yet
    proc = run_falsr("upscale", str(files / "in"), "-o", str(tmp_path / "out"), "--model",
                     str(files / "net.safetensors"), "--dtype", "bf16", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("falsr: note: bfloat16 is emulated"), \
        proc.stderr
    assert len(list((tmp_path / "out").iterdir())) == 2
