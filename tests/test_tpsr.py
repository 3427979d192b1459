"""TPSR generators: Set5 x4 reproduction of the release, params/MACs against the shared
README and FlopCounterMode, random-arch round trips, one-line errors for bad input."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_message as assert_one_line
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from falsr_ext.errors import GenotypeError, WeightsError
from falsr_ext.metrics import psnr, ssim
from falsr_ext.spaces import create_model, get_space
from falsr_ext.spaces.tpsr import (
    CARDS,
    RELEASED_ARCH,
    TpsrArch,
    TpsrNet,
    load_tpsr_checkpoint,
    parse_arch,
    sample_arch,
    tpsr_cost,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RELEASED_STRING = ("f16/sep5@s,conv7@0,conv7@1,conv3@2,conv3@2,conv5@4,sep3@5,conv5@3,"
                   "conv3@7,conv7@s/sum=9+8+6")






def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.array(img.convert("RGB"))


# --- 1. reproduction ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tpsr-nogan", "tpsr-esrgan", "tpsr-d2"])
def test_released_generator_reproduces_set5_x4(shared_dir: Path, name: str) -> None:
    card = CARDS[name]
    net = load_tpsr_checkpoint(shared_dir / "tpsr" / "checkpoints" / card.weights)
    assert net.card == card and net.arch == RELEASED_ARCH and net.scale == 4
    psnrs, ssims = [], []
    for hr_path in sorted((shared_dir / "data" / "Set5" / "HR").glob("*.png")):
        hr = _rgb(hr_path)
        lr = _rgb(shared_dir / "data" / "Set5" / "LR_bicubic" / "X4" / f"{hr_path.stem}x4.png")
        with torch.no_grad():
            out = net(torch.from_numpy(lr).permute(2, 0, 1)[None].float())
        sr = out.clamp(0, 255).round()[0].permute(1, 2, 0).numpy().astype(np.uint8)
        hr = hr[:sr.shape[0], :sr.shape[1]]
        psnrs.append(psnr(sr, hr, crop_border=4, test_y_channel=True, round_y=False))
        ssims.append(ssim(sr, hr, crop_border=4, test_y_channel=True, round_y=False))
    ref = card.reference["Set5"]
    print(f"{name}: PSNR {np.mean(psnrs):.6f} (README {ref['psnr']}), "
          f"SSIM {np.mean(ssims):.6f} (README {ref['ssim']})")
    assert abs(np.mean(psnrs) - ref["psnr"]) <= 0.0005
    assert abs(np.mean(ssims) - ref["ssim"]) <= 0.00005


# --- 2. params and MACs ------------------------------------------------------------------

def _learnable(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _flop_macs(net: torch.nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        net(torch.rand(shape) * 255)
    assert flops.get_total_flops() % 2 == 0
    return flops.get_total_flops() // 2


@pytest.mark.parametrize(("h", "w", "all_convs", "no_meanshift"), [
    (180, 320, 3_571_718_400, 3_562_905_600),
    (120, 120, 892_929_600, 890_726_400),
])
def test_released_counts_match_readme(h: int, w: int, all_convs: int, no_meanshift: int) -> None:
    cost = tpsr_cost(RELEASED_ARCH, h, w, 4)
    assert (cost.params, cost.frozen_params) == (61_097, 24)
    assert cost.macs == all_convs and cost.macs - cost.meanshift_macs == no_meanshift
    assert get_space("tpsr").count(RELEASED_ARCH, h, w, 4) == cost.cost()
    net = TpsrNet(RELEASED_ARCH, 4)
    assert _learnable(net) == 61_097
    assert sum(p.numel() for p in net.parameters()) == 61_097 + 24
    if h == 120:  # the module itself, under FlopCounterMode
        assert _flop_macs(net, (1, 3, h, w)) == all_convs


def test_released_card() -> None:
    for card in CARDS.values():
        assert card.arch == RELEASED_STRING and card.halo == 15 and card.scale == 4
        assert (card.colour, card.input_range, card.protocol) == ("rgb", 255.0, "y-float")
        assert card.reference["params"] == 61_097
        assert card.reference["macs"] == {"180x320": 3_571_718_400, "120x120": 892_929_600}


# --- 3. random architectures -------------------------------------------------------------

def test_random_archs_forward_and_count() -> None:
    rng = np.random.default_rng(14)
    for trial in range(24):
        arch = sample_arch(rng, n_nodes=int(rng.integers(1, 13)), n_feats=int(rng.integers(2, 17)))
        scale = (2, 3, 4, 8)[trial % 4]
        h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        net = get_space("tpsr").build(arch, scale)
        assert net.card.arch == str(arch) and net.card.scale == scale
        with torch.no_grad():
            out = net(torch.rand(2, 3, h, w) * 255)
        assert out.shape == (2, 3, h * scale, w * scale)
        cost = tpsr_cost(arch, h, w, scale)
        assert cost.params == _learnable(net), str(arch)
        assert 2 * cost.macs == _flop_macs(net, (2, 3, h, w)), str(arch)


def test_random_archs_round_trip() -> None:
    rng = np.random.default_rng(7)
    space = get_space("tpsr")
    for _ in range(300):
        arch = sample_arch(rng, n_nodes=int(rng.integers(1, 20)))
        assert space.parse(space.format(arch)) == arch
        assert space.parse(space.to_json(arch)) == arch
        assert hash(parse_arch(str(arch))) == hash(arch)
    assert space.parse(RELEASED_STRING) == RELEASED_ARCH == space.parse("tpsr-nogan")
    assert str(RELEASED_ARCH) == RELEASED_STRING
    assert create_model(f"tpsr:{RELEASED_STRING}", scale=2).scale == 2


def test_counting_speed() -> None:
    rng = np.random.default_rng(0)
    archs = [sample_arch(rng) for _ in range(2000)]
    start = time.perf_counter()
    for _ in range(5):
        for arch in archs:
            tpsr_cost(arch, 180, 320, 4)
    rate = 5 * len(archs) / (time.perf_counter() - start)
    print(f"tpsr_cost: {rate:,.0f} archs/s")
    assert rate >= 10_000


# --- 4. bad input ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "needles"), [
    ("f16/conv9@s/sum=0", ["nodes[0].op", "unknown op 'conv9'"]),
    ("f16/conv3@s", ["expected 'f<n_feats>"]),
    ("f16/conv3@s,conv3@5/sum=1", ["nodes[1].input", "node 5 is not earlier"]),
    ("f16/conv3@s,conv3@s/sum=1", ["nodes[0]", "unused"]),
    ("f16/conv3@s/sum=3", ["outputs", "node 3 does not exist"]),
    ("fx/conv3@s/sum=0", ["n_feats"]),
    ("f16/conv3-s/sum=0", ["nodes[0]", "'<op>@<input>'"]),
    ('{"n_feats": 16, "nodes": [', ["malformed JSON"]),
    ('{"n_feats": 16, "nodes": [{"op": "conv3", "input": "s"}]}', ["outputs: missing"]),
    ('{"n_feats": 16, "nodes": [{"op": "pool", "input": "s"}], "outputs": [0]}',
     ["nodes[0].op", "unknown op"]),
    ("f16/" + "x" * 5000 + "@s/sum=0", ["nodes[0]", "..."]),
])
def test_bad_arch_is_one_line(text: str, needles: list[str]) -> None:
    with pytest.raises(GenotypeError) as exc:
        get_space("tpsr").parse(text)
    assert_one_line(exc, "tpsr arch", *needles)


def test_dlsr_checkpoint_is_refused(shared_dir: Path) -> None:
    path = next(iter(sorted((shared_dir / "dlsr" / "checkpoints").glob("*.pt"))))
    with pytest.raises(WeightsError) as exc:
        load_tpsr_checkpoint(path)
    assert_one_line(exc, path.name, "not a TPSR generator checkpoint")


def test_truncated_checkpoint_is_refused(shared_dir: Path, tmp_path: Path) -> None:
    data = (shared_dir / "tpsr" / "checkpoints" / "TPSR_NOGANX4.pt").read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError) as exc:
        load_tpsr_checkpoint(cut)
    assert_one_line(exc, "cut.pt", "not a readable PyTorch checkpoint")


def test_random_tensors_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "random.pt"
    torch.save({"weight": torch.randn(4, 4), "bias": torch.randn(4)}, path)
    with pytest.raises(WeightsError) as exc:
        load_tpsr_checkpoint(path)
    assert_one_line(exc, "random.pt", "not a TPSR generator checkpoint")
    with pytest.raises(WeightsError) as exc:
        load_tpsr_checkpoint(tmp_path / "absent.pt")
    assert_one_line(exc, "absent.pt", "no such file")


def test_arch_disagreeing_with_the_file_is_refused(shared_dir: Path) -> None:
    path = shared_dir / "tpsr" / "checkpoints" / "TPSR_D2X4.pt"
    other_ops = RELEASED_STRING.replace("sep5@s", "conv5@s")
    with pytest.raises(WeightsError) as exc:
        load_tpsr_checkpoint(path, arch=other_ops)
    assert_one_line(exc, "TPSR_D2X4.pt")
    rewired = TpsrArch(16, RELEASED_ARCH.nodes, (9, 8, 6, 5))
    with pytest.raises(WeightsError) as exc:
        load_tpsr_checkpoint(path, arch=rewired)
    assert_one_line(exc, "wires the nodes differently")
    assert load_tpsr_checkpoint(path, arch=RELEASED_STRING).card == CARDS["tpsr-d2"]
