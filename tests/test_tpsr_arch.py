"""TPSR architectures and networks beyond the acceptance tests: validation details,
canonical forms, sampling, pruning, the receptive radius (the tiling halo), odd sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from falsr_ext.errors import GenotypeError
from falsr_ext.spaces import SearchSpace, get_space
from falsr_ext.spaces.tpsr import (
    RELEASED_ARCH,
    TpsrArch,
    TpsrNet,
    TpsrNode,
    arch_from_json,
    prune,
    receptive_radius,
    sample_arch,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")




def test_space_is_registered_and_implements_the_protocol() -> None:
    space = get_space("tpsr")
    assert isinstance(space, SearchSpace) and space.name == "tpsr"
    arch = space.sample(np.random.default_rng(3))
    assert len(arch.nodes) == 10 and arch.n_feats == 16


def test_canonical_forms() -> None:
    a = TpsrArch(8, (("conv3", "s"), ("sep5", 0), ("conv7", "s")), [0, 2, 1])
    assert a.outputs == (2, 1, 0) and a.nodes[1] == TpsrNode("sep5", 0)
    assert a == TpsrArch(8, (TpsrNode("conv3", "s"), ("sep5", 0), ("conv7", "s")), {1, 2, 0})
    assert str(a) == "f8/conv3@s,sep5@0,conv7@s/sum=2+1+0"
    assert get_space("tpsr").parse(" F8/CONV3@S,sep5@0,conv7@s/sum=0+1+2 ") == a
    assert arch_from_json('{"n_feats": 8, "nodes": [{"op": "conv3", "input": "s"}, '
                          '{"op": "sep5", "input": 0}, {"op": "conv7", "input": "s"}], '
                          '"outputs": [1, 0, 2]}') == a


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"n_feats": True}, "n_feats"),
    ({"n_feats": 2000}, "n_feats"),
    ({"nodes": ()}, "nodes: expected 1..64"),
    ({"nodes": (("conv3",),)}, "nodes[0]: "),
    ({"nodes": (("conv3", 1.0),)}, "nodes[0].input"),
    ({"nodes": (("conv3", "stem"),)}, "nodes[0].input"),
    ({"outputs": (True,)}, "outputs: True is not a node index"),
    ({"outputs": (0, 0)}, "outputs: node 0 repeated"),
])
def test_constructor_names_the_bad_field(kwargs: dict, needle: str) -> None:
    fields = {"n_feats": 4, "nodes": (("conv3", "s"),), "outputs": (0,)} | kwargs
    with pytest.raises(GenotypeError, match=r"^tpsr arch: ") as exc:
        TpsrArch(**fields)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("text", [
    '{"n_feats": 4, "nodes": [{"op": "conv3", "input": "s", "k": 1}], "outputs": [0]}',
    '{"format": "dlsr/1", "n_feats": 4, "nodes": [], "outputs": [0]}',
    '{"n_feats": 4, "nodes": {"op": "conv3"}, "outputs": [0]}',
    '{"n_feats": 4, "nodes": ["conv3@s"], "outputs": [0]}',
    '{"n_feats": 4, "nodes": [{"op": "conv3", "input": "s"}], "outputs": 0}',
    '["f4/conv3@s/sum=0"]',
    "[" * 100_000,
    "f4/conv3@s/sum=0/extra",
    "f4/conv3@s/sum=",
    "x" * 20_000,
])
def test_malformed_text_is_one_line(text: str) -> None:
    with pytest.raises(GenotypeError) as exc:
        get_space("tpsr").parse(text)
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 200


def test_sampled_archs_are_valid_and_varied() -> None:
    rng = np.random.default_rng(1)
    archs = {sample_arch(rng) for _ in range(200)}
    assert len(archs) == 200
    ops = {n.op for a in archs for n in a.nodes}
    assert ops == {"conv3", "conv5", "conv7", "sep3", "sep5"}


def test_prune_drops_and_renumbers_unused_nodes() -> None:
    nodes = (("conv3", "s"), ("sep3", 0), ("conv5", "s"), ("conv7", 1), ("sep5", 2))
    arch = prune(8, nodes, (3,))
    assert str(arch) == "f8/conv3@s,sep3@0,conv7@1/sum=2"
    assert prune(8, nodes, (4, 3)) == TpsrArch(8, nodes, (4, 3))
    with pytest.raises(GenotypeError, match="outputs: node 7 does not exist"):
        prune(8, nodes, (7,))


def _with_feats(arch: TpsrArch, n_feats: int) -> TpsrArch:
    return TpsrArch(n_feats, arch.nodes, arch.outputs)


def _support_radius(net: TpsrNet, scale: int, radius: int) -> int:
    """Measured LR px of input a centred block of output pixels depends on."""
    size = 2 * radius + 7
    x = (torch.rand(1, 3, size, size, dtype=torch.float64) * 255).requires_grad_()
    c = size // 2
    net(x)[..., c * scale:(c + 1) * scale, c * scale:(c + 1) * scale].sum().backward()
    rows, cols = torch.nonzero(x.grad.abs().sum(dim=1)[0], as_tuple=True)
    return max(c - int(rows.min()), int(rows.max()) - c, c - int(cols.min()), int(cols.max()) - c)


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_halo_is_the_exact_receptive_radius(scale: int) -> None:
    rng = np.random.default_rng(scale)
    for arch in (RELEASED_ARCH, sample_arch(rng, n_nodes=6, n_feats=3)):
        net = TpsrNet(_with_feats(arch, 3), scale).double()
        halo = receptive_radius(arch, scale)
        assert net.card.halo == halo and net.card.tiling == "exact"
        assert _support_radius(net, scale, halo) == halo
    assert receptive_radius(RELEASED_ARCH, 4) == 15


def test_tiny_inputs_and_unsupported_scale() -> None:
    net = TpsrNet(RELEASED_ARCH, 4)
    assert net.card.min_size == 1
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 1, 1)).shape == (1, 3, 4, 4)
        assert torch.isfinite(net(torch.full((1, 3, 2, 3), 128.0))).all()
    with pytest.raises(GenotypeError, match="tpsr scale: 5 is not supported"):
        TpsrNet(RELEASED_ARCH, 5)


def test_meanshift_is_frozen_and_trainable_rest_gets_gradients() -> None:
    net = TpsrNet(sample_arch(np.random.default_rng(2), n_nodes=4, n_feats=4), 2)
    net(torch.rand(1, 3, 5, 5) * 255).mean().backward()
    for name, p in net.named_parameters():
        frozen = name.startswith(("sub_mean.", "add_mean."))
        assert p.requires_grad is not frozen
        assert (p.grad is None) is frozen, name
    assert net.add_mean.bias.tolist() == pytest.approx([114.444, 111.4605, 103.02])
