"""DLSR params and conv MACs: the shared README's table for the released networks,
``sum(numel)`` and FlopCounterMode on random architectures, the receptive radius."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from falsr_ext.spaces.dlsr import DlsrNet, count_arch, parse_arch, released_cards, sample_arch
from falsr_ext.spaces.dlsr.receptive import receptive_radius

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# ../shared/dlsr/README.md: params, MACs @ 480x480, MACs @ 360x640, and the 360x640 split
# (cells / ESA / stem+links+tail, in G, 2 decimals).
README = {
    "dlsr-full": (322_620, 67_306_254_048, 67_306_238_496, (51.23, 2.38, 13.70)),
    "dlsr-para": (327_804, 68_500_647_648, 68_500_632_096, (52.42, 2.38, 13.70)),
    "dlsr-tiny": (56_268, 12_068_501_472, 12_068_499_744, (9.51, 0.29, 2.28)),
}




@pytest.mark.parametrize("name", list(README))
def test_released_counts_match_the_readme(name: str) -> None:
    params, m480, m720, split = README[name]
    arch = parse_arch(released_cards()[name].arch)
    assert count_arch(arch, 480, 480, 2).macs == m480
    got = count_arch(arch, 360, 640, 2)
    assert (got.params, got.macs) == (params, m720)
    assert count_arch(arch, 640, 360, 2).macs == m720  # the README: same either way
    parts = (got.cell_macs, got.esa_macs, got.frame_macs)
    assert tuple(round(p / 1e9, 2) for p in parts) == split
    assert DlsrNet(arch, 2).num_parameters() == params
    assert released_cards()[name].reference["params"] == params


def _conv_macs(net: nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        net(x)
    counts = counter.get_flop_counts()["Global"]
    return sum(v for k, v in counts.items() if "convolution" in str(k)) // 2


def test_random_archs_agree_with_flop_counter_and_numel() -> None:
    rng = np.random.default_rng(7)
    for _ in range(12):
        arch = sample_arch(rng, nf=int(rng.choice([4, 6, 10, 18, 24])))
        scale = int(rng.choice([2, 3, 4]))
        h, w = (int(v) for v in rng.integers(15, 40, size=2))
        net = DlsrNet(arch, scale).eval()
        got = count_arch(arch, h, w, scale)
        assert got.params == net.num_parameters(), arch
        assert got.macs == _conv_macs(net, torch.rand(1, 3, h, w)), (arch, scale, h, w)
        assert got.macs == got.cell_macs + got.esa_macs + got.frame_macs


def test_too_small_input_is_refused_by_the_counter() -> None:
    arch = parse_arch(released_cards()["dlsr-tiny"].arch)
    with pytest.raises(ValueError, match="at least 15x15"):
        count_arch(arch, 14, 100, 2)


def test_receptive_radius_is_the_exact_local_halo() -> None:
    """With ESA (global) replaced by identity, one output pixel depends on exactly the LR
    pixels within the card's halo. Positive weights and input keep every ReLU open and
    every gradient path positive, so the edge of the field is never cancelled."""
    rng = np.random.default_rng(3)
    for nf in (4, 6, 8):
        arch = sample_arch(rng, nf=nf)
        net = DlsrNet(arch, 2).double().eval()
        for i in range(1, 7):
            getattr(net, f"B{i}").esa = nn.Identity()
        with torch.no_grad():
            for p in net.parameters():
                p.abs_()
        halo = receptive_radius(arch)
        assert net.card.halo == halo
        size = 2 * halo + 9
        x = (torch.rand(1, 3, size, size, dtype=torch.float64) + 1).requires_grad_()
        net(x)[0, :, size, size].sum().backward()  # HR pixel over LR pixel size // 2
        rows, cols = torch.nonzero(x.grad[0].abs().sum(0) > 0, as_tuple=True)
        reach = max(int((rows - size // 2).abs().max()), int((cols - size // 2).abs().max()))
        assert reach == halo, (arch, halo, reach)
