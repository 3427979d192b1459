"""The released DLSR x2 checkpoints through our re-implementation reproduce the shared
README's Set5 figures (its 4-decimal "std" column: float Y, 2 px crop, MATLAB SSIM), and
the pinned wiring is the right one: the other wiring loads but scores ~34-35 dB."""

from __future__ import annotations

from pathlib import Path

import pytest

from falsr_ext import evaluate
from falsr_ext.spaces.dlsr import (
    WIRING_A,
    WIRING_B,
    DlsrArch,
    load_dlsr_checkpoint,
    parse_arch,
    released_cards,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CARDS = released_cards()




def _paths(shared_dir: Path, name: str) -> tuple[Path, Path]:
    weights = shared_dir / "dlsr" / "checkpoints" / str(CARDS[name].weights)
    set5 = shared_dir / "data" / "Set5"
    for path in (weights, set5):
        if not path.exists():
            pytest.skip(f"{path} absent: DLSR weights and Set5 are read from ../shared")
    return weights, set5


@pytest.mark.parametrize("name", list(CARDS))
def test_released_checkpoint_reproduces_set5(shared_dir: Path, name: str) -> None:
    weights, set5 = _paths(shared_dir, name)
    net = load_dlsr_checkpoint(weights)
    assert net.card == CARDS[name]  # found by sha256, wiring pinned
    result = evaluate(net, set5, scale=2)
    want = CARDS[name].reference["Set5"]
    assert result.images == 5
    assert abs(result.psnr - want["psnr"]) <= 0.0005, (result.psnr, want)
    assert abs(result.ssim - want["ssim"]) <= 0.00005, (result.ssim, want)


@pytest.mark.parametrize(("name", "wiring", "readme_psnr"), [
    ("dlsr-full", WIRING_B, 34.09), ("dlsr-para", WIRING_A, 34.89)])
def test_the_other_wiring_loads_but_scores_far_lower(shared_dir: Path, name: str,
                                                     wiring: tuple, readme_psnr: float) -> None:
    weights, set5 = _paths(shared_dir, name)
    pinned = parse_arch(CARDS[name].arch)
    wrong = DlsrArch(pinned.nf, pinned.ops, wiring)
    net = load_dlsr_checkpoint(weights, arch=wrong)  # an explicit arch overrides the card
    assert net.arch == wrong and net.card.sha256 is None
    psnr = evaluate(net, set5, scale=2).psnr
    assert abs(psnr - readme_psnr) < 0.01, psnr
    assert psnr < CARDS[name].reference["Set5"]["psnr"] - 3
