"""Loading DLSR checkpoints (shapes -> nf and ops, wiring from the card or the caller) and
the network itself: output shapes, training, and one-line errors for bad input."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_message as one_line

from falsr_ext.errors import GenotypeError, ImageError, WeightsError
from falsr_ext.spaces.dlsr import (
    WIRING_B,
    DlsrArch,
    DlsrNet,
    load_dlsr_checkpoint,
    parse_arch,
    released_cards,
    sample_arch,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CARDS = released_cards()
TINY = "RFDN_beta21_tiny18_ps128_20210306_lr4_700.pt"






def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} absent: checkpoints are read from ../shared")
    return path


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shapes_and_a_training_step(scale: int) -> None:
    arch = sample_arch(np.random.default_rng(scale), nf=8)
    net = DlsrNet(arch, scale)
    x = torch.rand(2, 3, 17, 21) * 255
    y = net(x)
    assert y.shape == (2, 3, 17 * scale, 21 * scale)
    (y - 128).abs().mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_our_state_dict_round_trips_with_an_arch(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    for nf, scale in ((6, 3), (10, 4)):
        arch = sample_arch(rng, nf=nf)
        net = DlsrNet(arch, scale).eval()
        path = tmp_path / f"ours{nf}.pt"
        torch.save(net.state_dict(), path)  # a bare state dict
        back = load_dlsr_checkpoint(path, arch=arch.to_string())
        assert back.arch == arch and back.scale == scale and back.card == net.card
        x = torch.rand(1, 3, 16, 19) * 255
        with torch.inference_mode():
            assert torch.equal(net(x), back(x))
        with pytest.raises(WeightsError) as exc:  # no card, no arch: the wiring is unknown
            load_dlsr_checkpoint(path)
        one_line(exc, "do not record their wiring", "--arch", f"nf{nf}-")


def test_released_file_names_and_arch_forms(shared_dir: Path) -> None:
    path = _need(shared_dir / "dlsr" / "checkpoints" / TINY)
    net = load_dlsr_checkpoint(path, arch="tiny")  # a released name: the card's arch
    assert net.card == CARDS["dlsr-tiny"] and not net.training
    pinned = parse_arch(CARDS["dlsr-tiny"].arch)
    assert load_dlsr_checkpoint(path, arch=pinned.to_json()).card == CARDS["dlsr-tiny"]
    other = DlsrArch(18, pinned.ops, WIRING_B)
    assert load_dlsr_checkpoint(path, arch=other).card.sha256 is None


def test_arch_that_disagrees_with_the_file(shared_dir: Path) -> None:
    path = _need(shared_dir / "dlsr" / "checkpoints" / TINY)
    with pytest.raises(WeightsError) as exc:
        load_dlsr_checkpoint(path, arch="full")
    one_line(exc, "the arch says nf48", "file holds nf18 conv_1x1+sep_conv_7x7+sep_conv_5x5")
    with pytest.raises(GenotypeError) as exc:
        load_dlsr_checkpoint(path, arch="nf18-conv_1x1")
    one_line(exc)


def test_a_tpsr_checkpoint_is_refused(shared_dir: Path) -> None:
    path = _need(shared_dir / "tpsr" / "checkpoints" / "TPSR_NOGANX4.pt")
    with pytest.raises(WeightsError) as exc:
        load_dlsr_checkpoint(path)
    one_line(exc, "not a DLSR checkpoint", "'fea_conv.weight'")


def test_truncated_and_foreign_files(shared_dir: Path, tmp_path: Path) -> None:
    data = _need(shared_dir / "dlsr" / "checkpoints" / TINY).read_bytes()
    cases = {
        "half.pt": data[: len(data) // 2],
        "head.pt": data[:100],
        "empty.pt": b"",
        "text.pt": b"hello, not a checkpoint\n" * 10,
        "code.pt": pickle.dumps(Path("/etc/passwd"), protocol=2),  # a global weights_only refuses
    }
    for name, body in cases.items():
        (tmp_path / name).write_bytes(body)
        with pytest.raises(WeightsError) as exc:
            load_dlsr_checkpoint(tmp_path / name)
        one_line(exc, name, "holds pickled" if name == "code.pt" else "checkpoint")
    with pytest.raises(WeightsError) as exc:
        load_dlsr_checkpoint(tmp_path / "missing.pt")
    one_line(exc, "no such weights file")
    with pytest.raises(WeightsError) as exc:
        load_dlsr_checkpoint(tmp_path)
    one_line(exc, "not a regular file")


def test_random_tensors_are_refused(tmp_path: Path) -> None:
    arch = sample_arch(np.random.default_rng(0), nf=8)
    good = DlsrNet(arch, 2).state_dict()
    cases = {
        "random.pt": ({"a": torch.rand(3), "b": torch.rand(2, 2)}, "not a DLSR checkpoint"),
        "list.pt": ([torch.rand(3)], "no state dict of tensors"),
        "badop.pt": ({**good, "B1.c1_r.op.0.weight": torch.rand(8, 8, 2, 2)},
                     "B1.c1_r match no DLSR operation"),
        "extra.pt": ({**good, "B7.c1_d.weight": torch.rand(4, 8, 1, 1)}, "unexpected"),
        "shape.pt": ({**good, "B2.c5.weight": torch.rand(8, 15, 1, 1)}, "B2.c5.weight"),
        "ints.pt": ({**good, "cout.0.bias": torch.zeros(8, dtype=torch.int64)}, "not floats"),
        "up.pt": ({**good, "upsampler.0.weight": torch.rand(5, 8, 3, 3)}, "upsampler"),
    }
    mixed = dict(good)
    for key in [k for k in good if k.startswith("B4.c2_r.")]:
        del mixed[key]
    mixed["B4.c2_r.op.0.weight"] = torch.rand(8, 8, 1, 1)
    cases["mixed.pt"] = (mixed, "B4.c2_r differs from B1.c2_r")
    for name, (obj, needle) in cases.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(WeightsError) as exc:
            load_dlsr_checkpoint(tmp_path / name, arch=arch)
        one_line(exc, needle)


@pytest.mark.parametrize("shape", [(1, 3, 14, 40), (1, 3, 40, 10), (1, 3, 1, 1)])
def test_too_small_images_are_refused(shape: tuple[int, ...]) -> None:
    net = DlsrNet(sample_arch(np.random.default_rng(1), nf=4), 2)
    with pytest.raises(ImageError) as exc:
        net(torch.rand(*shape))
    one_line(exc, "at least 15x15")


def test_wrong_channels_are_refused() -> None:
    net = DlsrNet(sample_arch(np.random.default_rng(1), nf=4), 2)
    with pytest.raises(ImageError) as exc:
        net(torch.rand(1, 1, 20, 20))
    one_line(exc, "N x 3 x H x W")
    with pytest.raises(ValueError, match="scale"):
        DlsrNet(net.arch, 5)
