"""The TPSR checkpoint importer beyond the acceptance tests: key mapping, the wiring of
files with no card, MeanShift checks, shape and key mismatches (all one-line errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from falsr_ext.errors import WeightsError
from falsr_ext.spaces.tpsr import RELEASED_ARCH, load_tpsr_checkpoint

NODE9 = "skip_layer.Node_9_Operation_0_type_Conv2d_7x7.model."


@pytest.fixture(scope="module")
def official(shared_dir: Path) -> dict[str, torch.Tensor]:
    path = shared_dir / "tpsr" / "checkpoints" / "TPSR_NOGANX4.pt"
    return torch.load(path, map_location="cpu", weights_only=True)


def _load_saved(state: dict[str, torch.Tensor], tmp_path: Path, arch: str | None = None):
    path = tmp_path / "g.pt"
    torch.save(state, path)
    return load_tpsr_checkpoint(path, arch=arch)


def test_every_official_tensor_lands_in_our_module(official, tmp_path: Path) -> None:
    state = {k: v + 0.5 for k, v in official.items() if "mean" not in k} | {
        k: v for k, v in official.items() if "mean" in k}
    net = _load_saved(state, tmp_path)  # a fine-tuned file: no card, the official layout
    assert net.arch == RELEASED_ARCH and net.card.sha256 is None and net.card.halo == 15
    ours = net.state_dict()
    assert len(ours) == len(official) == 45
    assert torch.equal(ours["nodes.0.depthwise.weight"],
                       state["early_layers.Node_0_Operation_0_type_Sep2d_5x5.model.0.weight"])
    assert torch.equal(ours["upsample.1.conv.bias"], state["up_mod.1.extend.bias"])
    assert torch.equal(ours["merge_act.weight"], state["merge_op_act.weight"])
    assert sorted(v.sum().item() for v in ours.values()) == \
        sorted(v.sum().item() for v in state.values())


def test_other_layouts_need_arch(official, tmp_path: Path) -> None:
    state = {k: v for k, v in official.items() if not k.startswith(NODE9)}
    with pytest.raises(WeightsError, match="pass arch="):
        _load_saved(state, tmp_path)
    nine = "f16/sep5@s,conv7@0,conv7@1,conv3@2,conv3@2,conv5@4,sep3@5,conv5@3,conv3@7/sum=8+6"
    net = _load_saved(state, tmp_path, arch=nine)
    assert str(net.arch) == nine and net.card.name == "tpsr-custom"
    with pytest.raises(WeightsError, match="arch has 10 nodes of width 16, the file 9"):
        _load_saved(state, tmp_path, arch=str(RELEASED_ARCH))


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda s: s.update({"sub_mean.bias": s["sub_mean.bias"] + 1}), "sub_mean.bias is not the "
                                                                     "frozen MeanShift"),
    (lambda s: s.update({"first_layer.bias": torch.zeros(15)}), "first_layer.bias has shape"),
    (lambda s: s.pop("merge_op_act.weight"), "1 weights missing (e.g. merge_act.weight)"),
    (lambda s: s.update({"extra.weight": torch.zeros(1)}), "unexpected key 'extra.weight'"),
    (lambda s: s.update({"first_layer.bias": torch.zeros(16, dtype=torch.int64)}),
     "'first_layer.bias' is not a float tensor"),
    (lambda s: s.update({NODE9.replace("7x7", "9x9") + "1.weight": torch.zeros(1)}),
     "Conv2d 9x9 is not a TPSR op"),
    (lambda s: s.update({"up_mod.1.extend.weight": torch.zeros(5, 3, 3, 3)}),
     "up_mod.1.extend.weight has shape (5, 3, 3, 3)"),
    (lambda s: s.update({"up_mod.1.extend.weight": torch.zeros(27, 3, 3, 3)}),
     "upsampler factors [2, 3] are not those of a supported scale"),
])
def test_bad_contents_are_one_line(official, tmp_path: Path, edit, needle: str) -> None:
    state = dict(official)
    edit(state)
    with pytest.raises(WeightsError) as exc:
        _load_saved(state, tmp_path)
    assert needle in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_training_checkpoint_wrapper_is_unwrapped(official, tmp_path: Path) -> None:
    net = _load_saved({"epoch": torch.tensor(3), "state_dict": dict(official)}, tmp_path)
    assert net.arch == RELEASED_ARCH
