"""count_module: hand-computed MACs, FlopCounterMode agreement, the user's module untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from falsr_ext.models.falsr_net import build_model
from falsr_ext.models.zoo import ZOO_GENOTYPES
from falsr_ext.module_counter import (
    CONVENTION,
    ModuleCount,
    ModuleCountError,
    OpCount,
    count_module,
)


class Fn(nn.Module):
    """A module whose forward is a plain function of its inputs."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


# (id, module factory, input shapes, hand-computed MACs).
# conv: out.numel() * (C_in/groups) * prod(kernel); transposed: in.numel() * (C_out/groups)
# * prod(kernel); products: m * n * k (times the batch).
HAND = [
    # 2 * 16 * 10 * 12 outputs, each 8 * 3 * 3
    ("conv", lambda: nn.Conv2d(8, 16, 3, padding=1), [(2, 8, 10, 12)], 3840 * 72),
    # groups=4: each output reads 8/4 = 2 channels
    ("conv_groups", lambda: nn.Conv2d(8, 16, 3, padding=1, groups=4), [(2, 8, 10, 12)],
     3840 * 2 * 9),
    # depthwise: 1 channel per output
    ("conv_depthwise", lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8), [(2, 8, 10, 12)],
     2 * 8 * 10 * 12 * 9),
    # dilation 2, no padding: 11 - 2 * (3 - 1) = 7 -> 6 * 7 * 7 outputs, each 4 * 9
    ("conv_dilation", lambda: nn.Conv2d(4, 6, 3, dilation=2), [(1, 4, 11, 11)], 294 * 36),
    # stride 2, padding 1: 10 -> 5
    ("conv_stride2", lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1), [(1, 4, 10, 10)],
     6 * 5 * 5 * 36),
    # rectangular kernel, no bias
    ("conv_rect_nobias", lambda: nn.Conv2d(3, 5, (1, 5), padding=(0, 2), bias=False),
     [(1, 3, 7, 9)], 5 * 7 * 9 * 3 * 5),
    # transposed: 1 * 6 * 5 * 5 inputs, each scattered through 4/2 * 3 * 3 weights
    ("conv_transposed", lambda: nn.ConvTranspose2d(
        6, 4, 3, stride=2, padding=1, output_padding=1, groups=2), [(1, 6, 5, 5)],
     150 * 2 * 9),
    ("conv_transposed_plain", lambda: nn.ConvTranspose2d(3, 8, 4, stride=2), [(2, 3, 6, 6)],
     2 * 3 * 36 * 8 * 16),
    ("conv1d", lambda: nn.Conv1d(3, 5, 4), [(2, 3, 20)], 2 * 5 * 17 * 3 * 4),
    ("conv3d", lambda: nn.Conv3d(2, 4, 3, padding=1), [(1, 2, 4, 5, 6)], 4 * 120 * 2 * 27),
    # linear: m = 3 * 4 rows, k = 10, n = 7
    ("linear", lambda: nn.Linear(10, 7), [(3, 4, 10)], 12 * 10 * 7),
    ("linear_nobias_2d", lambda: nn.Linear(10, 7, bias=False), [(5, 10)], 5 * 10 * 7),
    ("matmul_2d", lambda: Fn(torch.matmul), [(3, 5), (5, 4)], 3 * 4 * 5),
    ("matmul_batched", lambda: Fn(torch.matmul), [(2, 3, 5), (5, 4)], 2 * 3 * 4 * 5),
    ("bmm", lambda: Fn(torch.bmm), [(2, 3, 5), (2, 5, 4)], 2 * 3 * 4 * 5),
    ("einsum", lambda: Fn(lambda a, b: torch.einsum("bij,bjk->bik", a, b)),
     [(2, 3, 5), (2, 5, 4)], 2 * 3 * 4 * 5),
    # zero-MAC ops
    ("pixel_shuffle", lambda: nn.PixelShuffle(2), [(1, 8, 5, 5)], 0),
    ("relu", lambda: nn.ReLU(), [(1, 8, 5, 5)], 0),
    ("add", lambda: Fn(torch.add), [(1, 8, 5, 5), (1, 8, 5, 5)], 0),
]


@pytest.mark.parametrize(("factory", "shapes", "expected"),
                         [h[1:] for h in HAND], ids=[h[0] for h in HAND])
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_hand_computed_macs(factory, shapes, expected: int, device: str) -> None:
    module = factory()
    res = count_module(module, *shapes, device=device)
    assert isinstance(res, ModuleCount)
    assert res.macs == expected
    assert res.conv_macs + res.linear_macs + res.attention_macs == res.macs
    assert res.params == sum(p.numel() for p in module.parameters())
    assert res.device == device


@pytest.mark.parametrize(("factory", "shapes", "expected"),
                         [h[1:] for h in HAND], ids=[h[0] for h in HAND])
def test_agrees_with_flop_counter_mode(factory, shapes, expected: int) -> None:
    module = factory()
    inputs = [torch.randn(s) for s in shapes]
    with FlopCounterMode(display=False) as fcm:
        module(*inputs)
    res = count_module(module, *inputs)
    assert fcm.get_total_flops() == 2 * res.macs == 2 * expected
    assert res.flop_counter_flops == fcm.get_total_flops()


def test_conv_and_linear_split() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 5 * 5, 3))
    res = count_module(model, (2, 1, 5, 5))
    assert res.conv_macs == 2 * 4 * 25 * 9
    assert res.linear_macs == 2 * 100 * 3
    assert res.macs == res.conv_macs + res.linear_macs
    assert res.by_op["aten.convolution"] == OpCount(macs=res.conv_macs, count=1)
    assert res.by_op["aten.addmm"] == OpCount(macs=res.linear_macs, count=1)


def test_zero_mac_ops_are_listed() -> None:
    def body(x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(x) + x
        return nn.functional.pixel_shuffle(torch.cat([y, y], dim=1), 2)

    res = count_module(Fn(body), (1, 4, 3, 3))
    assert res.macs == 0
    for op in ("aten.relu", "aten.add", "aten.cat", "aten.pixel_shuffle"):
        assert res.by_op[op] == OpCount(macs=0, count=1), op


def test_by_module_innermost() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.conv(x))  # the relu belongs to the block itself
            return self.fc(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), Block(), Block())
    res = count_module(model, (1, 1, 6, 6))
    conv1x1 = 36 * 4 * 4
    assert res.by_module["0"] == 4 * 36 * 9
    assert res.by_module["1.conv"] == res.by_module["2.conv"] == conv1x1
    assert res.by_module["1.fc"] == res.by_module["2.fc"] == 36 * 4 * 4
    assert res.by_module["1"] == 0  # relu and permutes only
    assert sum(res.by_module.values()) == res.macs
    inclusive = res.inclusive_by_module()
    assert inclusive[""] == res.macs
    assert inclusive["1"] == 2 * conv1x1


def test_shared_module_and_tied_params_counted_once_for_params() -> None:
    conv = nn.Conv2d(2, 2, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU(), conv)  # same module twice: params once, MACs twice
    res = count_module(model, (1, 2, 4, 4))
    assert res.params == 2 * 2 * 9 + 2
    assert res.conv_macs == 2 * (2 * 16 * 2 * 9)


def test_shapes_equal_tensors_and_kwargs() -> None:
    model = nn.Conv2d(3, 8, 3, padding=1)
    by_shape = count_module(model, (1, 3, 16, 16))
    by_tensor = count_module(model, torch.randn(1, 3, 16, 16))
    by_size = count_module(model, torch.Size([1, 3, 16, 16]))
    by_kwarg = count_module(model, kwargs={"input": torch.randn(1, 3, 16, 16)})
    assert by_shape.macs == by_tensor.macs == by_size.macs == by_kwarg.macs == 16 * 16 * 8 * 27


@pytest.mark.parametrize("name", list(ZOO_GENOTYPES))
def test_falsr_zoo_matches_flop_counter(name: str) -> None:
    model = build_model(ZOO_GENOTYPES[name], 2).to("meta")
    with FlopCounterMode(display=False) as fcm:
        model(torch.empty(1, 1, 48, 40, device="meta"))
    res = count_module(model, (1, 1, 48, 40))
    assert res.conv_macs == res.macs == fcm.get_total_flops() // 2
    assert res.params == sum(p.numel() for p in model.parameters()) == model.num_params()
    assert res.by_op["aten.pixel_shuffle"].macs == 0


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_user_module_unchanged(device: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 1, 3, padding=1))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params_before = [(p, p.data_ptr(), p.device, p.requires_grad) for p in model.parameters()]
    x = torch.randn(2, 1, 8, 8)
    x_before = x.clone()

    res = count_module(model, x, device=device)

    assert res.macs > 0
    assert model.training
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k, v in before.items():  # weights and BN running statistics untouched
        assert after[k].device.type == "cpu"
        assert torch.equal(after[k], v), k
    for (p, ptr, dev, rg), q in zip(params_before, model.parameters(), strict=True):
        assert p is q and q.data_ptr() == ptr and q.device == dev and q.requires_grad == rg
        assert q.grad is None
    assert torch.equal(x, x_before)
    for sub in model.modules():  # no hooks left behind
        assert not sub._forward_hooks and not sub._forward_pre_hooks


def test_meta_failure_suggests_cpu() -> None:
    def data_dependent(x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.sum().item() > 0 else x

    with pytest.raises(ModuleCountError, match="device='cpu'"):
        count_module(Fn(data_dependent), (3,))
    res = count_module(Fn(data_dependent), torch.ones(3), device="cpu")
    assert res.macs == 0 and res.device == "cpu"


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="nn.Module"):
        count_module(lambda x: x, (1,))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="inputs"):
        count_module(nn.ReLU())
    with pytest.raises(ModuleCountError, match="failed to run"):
        count_module(nn.Conv2d(3, 4, 3), (1, 5, 8, 8))  # wrong channel count


def test_convention_says_macs_not_flops() -> None:
    res = count_module(nn.Linear(2, 2), (1, 2))
    assert res.convention == CONVENTION
    assert "MAC" in CONVENTION and "FlopCounterMode" in CONVENTION and "2 x MACs" in CONVENTION


def test_meta_module_runs_in_place_unchanged() -> None:
    from torch.nn.modules import module as module_mod

    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    params = list(model.parameters())
    hooks_before = (len(module_mod._global_forward_pre_hooks),
                    len(module_mod._global_forward_hooks))
    res = count_module(model, (1, 1, 8, 8))
    assert res.macs == 4 * 64 * 9 and res.params == 4 * 9 + 4 + 4 + 4
    assert list(model.parameters()) == params
    assert all(p.device.type == "meta" for p in model.parameters())
    assert model.training
    for sub in model.modules():
        assert not sub._forward_hooks and not sub._forward_pre_hooks
    assert (len(module_mod._global_forward_pre_hooks),
            len(module_mod._global_forward_hooks)) == hooks_before


def test_lazy_module_counted_on_a_copy() -> None:
    model = nn.Sequential(nn.LazyConv2d(6, 3), nn.LazyLinear(5))
    res = count_module(model, (2, 3, 5, 5), device="meta")
    assert res.conv_macs == 2 * 6 * 9 * 3 * 9
    assert res.linear_macs == 2 * 6 * 3 * 5 * 3
    assert res.params == 6 * 27 + 6 + 3 * 5 + 5
    assert nn.parameter.is_lazy(model[0].weight)  # the user's module is still lazy


def test_shortcut_activations_keep_shapes() -> None:
    def body(x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.gelu(torch.sigmoid(x)).relu_()
        return nn.functional.linear(nn.functional.leaky_relu(y, 0.1), torch.ones(4, 3))

    res = count_module(Fn(body), (2, 3))
    assert res.macs == 2 * 3 * 4
    assert res.by_op["aten.relu_"].count == 1
