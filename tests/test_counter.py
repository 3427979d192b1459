"""The analytic counter (falsr_ext.counter, C++ core csrc/core/counter.cpp).

Exact on the released graphs (docs/falsr-reference.md), equal to the built nn.Module
(params, per-layer shapes), to torch's FlopCounterMode (MACs) and to the bytes an eager
forward writes (act_bytes convention); batch == single; every error reaches Python as a
GenotypeError naming the cell and field.
"""

from __future__ import annotations

import json
import random
import time

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from falsr_ext import counter
from falsr_ext.counter import CONVENTION, CellCount, CountResult, LayerCount
from falsr_ext.errors import GenotypeError
from falsr_ext.models.falsr_net import build_model
from falsr_ext.models.zoo import FALSR_A, FALSR_B, FALSR_C, ZOO_GENOTYPES
from falsr_ext.space import Cell, Genotype, sample_genotype

# docs/falsr-reference.md, 480x480 LR, x2: totals, then per cell (params, G MACs to 3 dp).
TOTALS = {
    "FALSR-A": (1_021_401, 235_000_627_200),
    "FALSR-B": (324_745, 74_502_144_000),
    "FALSR-C": (426_569, 97_955_020_800),
}
PER_CELL = {
    "FALSR-A": [(129_280, 29.727), (3_120, 0.708), (138_496, 31.850), (175_360, 40.344),
                (193_792, 44.591), (16_640, 3.775), (230_656, 53.084)],
    "FALSR-B": [(10_112, 2.308), (22_992, 5.176), (1_824, 0.413), (150_944, 34.623),
                (92_288, 21.234), (6_976, 1.593), (16_144, 3.716)],
    "FALSR-C": [(544, 0.118), (16_640, 3.775), (339_312, 77.945), (1_312, 0.295),
                (544, 0.118), (10_176, 2.300), (11_536, 2.654)],
}

F, C0, C1, C2, C3, C4, C5, C6 = (1 << n for n in range(8))  # node masks
FALSR_A_ROW = [7,
               0, 3, 64, 4, 1, F,
               0, 1, 48, 1, 1, C0,
               0, 3, 64, 4, 1, C1,
               0, 3, 64, 4, 1, C1 | C2,
               0, 3, 64, 4, 1, F | C1 | C3,
               0, 1, 64, 4, 0, C4,
               0, 3, 64, 4, 1, F | C1 | C4 | C5,
               0xFF]


def giga(macs: int) -> float:
    return round(macs / 1e9, 3)


def random_genotypes(n: int, seed: int = 0, num_cells: int = 7) -> list[Genotype]:
    rng = random.Random(seed)
    return [sample_genotype(rng, num_cells) for _ in range(n)]


# ------------------------------------------------------------------ released graphs
@pytest.mark.parametrize("name", list(TOTALS))
def test_released_totals_exact(name: str) -> None:
    r = counter.count(ZOO_GENOTYPES[name])
    assert (r.params, r.macs) == TOTALS[name]
    assert (r.height, r.width, r.scale) == (480, 480, 2)
    assert r.genotype == ZOO_GENOTYPES[name].to_string()
    assert r.convention == CONVENTION


@pytest.mark.parametrize("name", list(PER_CELL))
def test_reference_per_cell_figures(name: str) -> None:
    r = counter.count(name)  # a zoo name works too
    names = [c.name for c in r.cells]
    assert names == ["F", *(f"cell{i}" for i in range(7)), "fusion", "reconstruction"]
    cells = {c.name: c for c in r.cells}
    assert (cells["F"].params, giga(cells["F"].macs)) == (320, 0.066)
    for i, (params, gmacs) in enumerate(PER_CELL[name]):
        assert (cells[f"cell{i}"].params, giga(cells[f"cell{i}"].macs)) == (params, gmacs), i
    # Output conv 8 -> 1: 73 / 0.066G (at 960x960).
    assert (cells["reconstruction"].params, giga(cells["reconstruction"].macs)) == (73, 0.066)
    tail = r.layers[-1]
    assert (tail.name, tail.height, tail.width, tail.macs) == (
        "reconstruction.conv", 960, 960, 72 * 960 * 960)
    assert sum(c.params for c in r.cells) == r.params
    assert sum(c.macs for c in r.cells) == r.macs
    assert sum(c.act_bytes for c in r.cells) == r.act_bytes


def test_falsr_a_fusion_conv() -> None:
    r = counter.count(FALSR_A)
    fusion = r.cells[8]
    assert (fusion.name, fusion.params, giga(fusion.macs)) == ("fusion", 133_664, 30.789)
    layer = r.layers[-2]
    assert (layer.name, layer.c_in, layer.c_out, layer.kernel) == ("fusion.conv", 464, 32, 3)


def test_encode_falsr_a_row() -> None:
    rows = counter.encode(FALSR_A)
    assert rows.dtype == np.int64 and rows.shape == (1, 44) and rows.flags.c_contiguous
    assert rows[0].tolist() == FALSR_A_ROW
    both = counter.encode([FALSR_A, FALSR_B])
    assert both.shape == (2, 44)
    assert counter.count_batch(np.array([FALSR_A_ROW]))["params"].tolist() == [1_021_401]


# ------------------------------------------------------- against the real nn.Module
def _convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_params_and_layers_match_model(scale: int, in_channels: int) -> None:
    genotypes = [*ZOO_GENOTYPES.values(), *random_genotypes(4, seed=scale * 10 + in_channels)]
    for g in genotypes:
        model = build_model(g, scale=scale, in_channels=in_channels)
        r = counter.count(g, 24, 20, scale=scale, in_channels=in_channels)
        assert r.params == model.num_params(), g
        convs = _convs(model)
        assert len(r.layers) == len(convs)
        for layer, conv in zip(r.layers, convs, strict=True):
            assert (layer.c_in, layer.c_out, layer.kernel, layer.groups) == (
                conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.groups
            ), layer.name
            assert layer.params == sum(p.numel() for p in conv.parameters()), layer.name
        hr = r.layers[-1]
        assert (hr.height, hr.width, hr.c_out) == (24 * scale, 20 * scale, in_channels)
        names = [c.name for c in r.cells]
        assert ("pre_shuffle" in names) == (scale != 2)


class _Writes(TorchDispatchMode):
    """Bytes of every tensor an eager forward writes, ReLU excluded (fused into the conv
    by the counter's convention) and views excluded (no write)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        name = str(func.overloadpacket)
        self.ops.add(name)
        if isinstance(out, torch.Tensor) and name not in ("aten.relu", "aten.detach"):
            if not out._is_view():
                self.bytes += out.numel() * out.element_size()
        return out


@pytest.mark.parametrize("scale", [2, 3])
def test_macs_and_act_bytes_match_eager_execution(scale: int) -> None:
    genotypes = [*ZOO_GENOTYPES.values(), *random_genotypes(5, seed=7 + scale)]
    for g in genotypes:
        with torch.device("meta"):
            model = build_model(g, scale=scale)
        x = torch.empty(1, 1, 30, 22, device="meta")
        with FlopCounterMode(display=False) as flops:
            model(x)
        with _Writes() as writes:
            model(x)
        r = counter.count(g, 30, 22, scale=scale)
        assert r.macs * 2 == flops.get_total_flops(), g
        assert writes.ops <= {"aten.convolution", "aten.relu", "aten.detach", "aten.add",
                              "aten.cat", "aten.pixel_shuffle"}
        assert r.act_bytes == writes.bytes, g


def test_act_bytes_hand_counted() -> None:
    # conv k3 f16 b2 skip <- F; fusion F + c0; 4x4 x2 luma fp32. Per LR pixel: F 32;
    # cell 16 + 16 + skip add 16; fusion concat 48 + conv 32 + add 32; shuffle 32 + tail 4.
    g = Genotype((Cell("conv", 3, 16, 2, True, (0,)),), (0, 1))
    r = counter.count(g, 4, 4)
    assert r.act_bytes == 228 * 16 * 4
    assert [c.act_bytes for c in r.cells] == [32 * 64, 48 * 64, 112 * 64, 36 * 64]
    assert counter.count(g, 4, 4, dtype_bytes=2).act_bytes * 2 == r.act_bytes
    # ib k1 f16 b2 skip <- F; fusion c0: reduce 16 + 2 x (32 + 32 + 16 + add 16) + skip 16.
    ib = Genotype((Cell("ib", 1, 16, 2, True, (0,)),), (1,))
    r = counter.count(ib, 5, 7, dtype_bytes=2)
    assert r.act_bytes == (32 + 224 + 64 + 36) * 35 * 2
    assert [layer.name for layer in r.layers] == [
        "F.conv", "cell0.reduce", "cell0.block0.expand", "cell0.block0.depthwise",
        "cell0.block0.project", "cell0.block1.expand", "cell0.block1.depthwise",
        "cell0.block1.project", "fusion.conv", "reconstruction.conv"]
    assert r.layers[3].groups == 32 and r.layers[3].kernel == 3


def test_result_types_and_to_dict() -> None:
    r = counter.count(FALSR_B, 120, 80)
    assert isinstance(r, CountResult)
    assert all(isinstance(c, CellCount) for c in r.cells)
    assert all(isinstance(layer, LayerCount) for layer in r.layers)
    layer = r.layers[0]
    assert layer == LayerCount("F.conv", "F", 1, 32, 3, 1, 120, 80, 320, 288 * 9600,
                               32 * 9600 * 4)
    assert {layer.cell for layer in r.layers} <= {c.name for c in r.cells}
    with pytest.raises(AttributeError):
        layer.params = 1  # type: ignore[misc]
    d = json.loads(json.dumps(r.to_dict()))
    assert {"params", "macs", "act_bytes", "cells", "convention", "height", "width", "scale",
            "genotype"} <= d.keys()
    assert d["params"] == r.params and d["convention"] == CONVENTION
    assert sum(c["macs_share"] for c in d["cells"]) == pytest.approx(1.0)
    assert d["cells"][0] == {"name": "F", "params": 320, "macs": 288 * 9600,
                             "act_bytes": 32 * 9600 * 4, "macs_share": 288 * 9600 / r.macs}


def test_count_accepts_strings() -> None:
    ref = counter.count(FALSR_C)
    assert counter.count("falsr-c") == ref
    assert counter.count(FALSR_C.to_string()) == ref
    assert counter.count(FALSR_C.to_json()) == ref


# ----------------------------------------------------------------------- batch
@pytest.mark.parametrize(
    ("h", "w", "scale", "in_channels", "dtype_bytes"),
    [(480, 480, 2, 1, 4), (37, 23, 3, 3, 2), (64, 48, 4, 1, 4)],
)
def test_batch_equals_single(h: int, w: int, scale: int, in_channels: int,
                             dtype_bytes: int) -> None:
    genotypes = random_genotypes(60, seed=h) + list(ZOO_GENOTYPES.values())
    out = counter.count_batch(genotypes, h, w, scale, in_channels, dtype_bytes, per_cell=True)
    assert set(out) == {"params", "macs", "act_bytes", "cell_macs", "cell_params"}
    assert out["cell_macs"].shape == (63, 10) and out["cell_macs"].dtype == np.int64
    plain = counter.count_batch(counter.encode(genotypes), h, w, scale, in_channels, dtype_bytes)
    assert set(plain) == {"params", "macs", "act_bytes"}
    assert counter.batch_cell_names(7)[-2:] == ["fusion", "upsample"]
    for j, g in enumerate(genotypes):
        r = counter.count(g, h, w, scale, in_channels, dtype_bytes)
        assert (out["params"][j], out["macs"][j], out["act_bytes"][j]) == (
            r.params, r.macs, r.act_bytes)
        assert (plain["params"][j], plain["macs"][j], plain["act_bytes"][j]) == (
            r.params, r.macs, r.act_bytes)
        cells = {c.name: c for c in r.cells}
        up = [cells["reconstruction"]] + ([cells["pre_shuffle"]] if scale != 2 else [])
        want_macs = [c.macs for c in r.cells[:9]] + [sum(c.macs for c in up)]
        want_params = [c.params for c in r.cells[:9]] + [sum(c.params for c in up)]
        assert out["cell_macs"][j].tolist() == want_macs
        assert out["cell_params"][j].tolist() == want_params


def test_batch_other_cell_counts_and_empty() -> None:
    for num_cells in (1, 3, 12):
        genotypes = random_genotypes(20, seed=num_cells, num_cells=num_cells)
        out = counter.count_batch(genotypes, 50, 40, per_cell=True)
        assert out["cell_params"].shape == (20, num_cells + 3)
        assert out["params"].tolist() == [build_model(g).num_params() for g in genotypes]
    empty = counter.count_batch([], per_cell=True)
    assert empty["params"].shape == (0,) and empty["cell_macs"].shape == (0, 10)


def test_batch_is_fast() -> None:
    # Loose bounds (the benchmark measures properly): ~10 ms and ~30 us expected.
    rows = counter.encode(random_genotypes(2000, seed=3))
    rows = np.repeat(rows, 50, axis=0)  # 100,000 genotypes
    t = time.perf_counter()
    counter.count_batch(rows)
    assert time.perf_counter() - t < 1.0
    t = time.perf_counter()
    for _ in range(200):
        counter.count(FALSR_A)
    assert (time.perf_counter() - t) / 200 < 1e-3


# ----------------------------------------------------------------------- errors
def _with_cell(g: Genotype, index: int, **changes: object) -> Genotype:
    cells = list(g.cells)
    fields = {**cells[index].__dict__, **changes}
    cells[index] = Cell(**fields)  # type: ignore[arg-type]
    return Genotype(tuple(cells), g.fusion)  # not validated: the counter must catch it


@pytest.mark.parametrize(
    ("index", "changes", "message"),
    [
        (3, {"kernel": 5}, "cells[3].kernel: 5 is not in the search space [1, 3]"),
        (1, {"filters": 20}, "cells[1].filters: 20 is not in the search space [16, 32, 48, 64]"),
        (4, {"blocks": 3}, "cells[4].blocks: 3 is not in the search space [1, 2, 4]"),
        (5, {"skip": 2}, "cells[5].skip: 2 is not 0 or 1"),
        (2, {"inputs": (3,)}, "cells[2].input_mask: mask 0x8 references node 3 (c2), not an "
                              "earlier node (allowed F, c0..c1)"),
        (0, {"inputs": (1,)}, "cells[0].input_mask: mask 0x2 references node 1 (c0), not an "
                              "earlier node (allowed F)"),
        (6, {"inputs": ()}, "cells[6].input_mask: empty input mask"),
        (2, {"block": "g8"}, "cells[2].block: 'g8' is not in the search space"),
        (2, {"inputs": (0, 0)}, "cells[2].inputs: repeated node F"),
        (2, {"inputs": (-1,)}, "cells[2].inputs: -1 is not a wiring node"),
    ],
)
def test_bad_genotype_raises_genotype_error(index: int, changes: dict, message: str) -> None:
    bad = _with_cell(FALSR_A, index, **changes)
    with pytest.raises(GenotypeError) as info:
        counter.count(bad)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(GenotypeError) as info:
        counter.count_batch([FALSR_B, bad])
    assert message in str(info.value)


def test_bad_fusion_and_non_integer_fields() -> None:
    with pytest.raises(GenotypeError, match=r"fusion_mask: mask 0x101 references node 8 \(c7\)"):
        counter.count(Genotype(FALSR_A.cells, (0, 8)))
    with pytest.raises(GenotypeError, match="fusion_mask: empty input mask"):
        counter.count(Genotype(FALSR_A.cells, ()))
    with pytest.raises(GenotypeError, match=r"cells\[1\]\.kernel: expected an int64, got float"):
        counter.count(_with_cell(FALSR_A, 1, kernel=3.0))
    with pytest.raises(GenotypeError, match=r"genotype 1: cells\[1\]\.kernel: expected an int64"):
        counter.encode([FALSR_B, _with_cell(FALSR_A, 1, kernel=3.0)])
    with pytest.raises(GenotypeError, match="num_cells must be in 1..62, got 0"):
        counter.count(Genotype((), (0,)))
    with pytest.raises(GenotypeError):
        counter.count("conv-k5-f64-b4-skip@F/fuse@c0")  # rejected by the parser


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"height": -480}, "height must be >= 3"),
        ({"width": -1}, "width must be >= 3"),
        ({"height": 2}, "height must be >= 3 (the frame's convs are 3x3), got 2"),
        ({"width": 2}, "width must be >= 3 (the frame's convs are 3x3), got 2"),
        ({"scale": 1}, "scale must be 2, 3 or 4, got 1"),
        ({"scale": 5}, "scale must be 2, 3 or 4, got 5"),
        ({"in_channels": 0}, "in_channels must be in 1..4096, got 0"),
        ({"dtype_bytes": 0}, "dtype_bytes must be in 1..16, got 0"),
        ({"height": 1 << 40, "width": 1 << 40}, "overflows int64"),
    ],
)
def test_bad_size_or_scale(kwargs: dict, message: str) -> None:
    with pytest.raises(GenotypeError) as info:
        counter.count(FALSR_A, **kwargs)
    assert message in str(info.value)
    with pytest.raises(GenotypeError) as info:
        counter.count_batch([FALSR_A], **kwargs)
    assert message in str(info.value)


def _rows_with(index: int, value: int) -> np.ndarray:
    rows = np.array([FALSR_A_ROW, FALSR_A_ROW, FALSR_A_ROW], dtype=np.int64)
    rows[2, index] = value
    return rows


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (1 + 6 * 2 + 0, 4, "genotype 2: cells[2].block: 4 is not a block id (0 conv, 1 ib, "
                           "2 g2, 3 g4)"),
        (1 + 6 * 0 + 0, -1, "genotype 2: cells[0].block: -1 is not a block id"),
        (1 + 6 * 3 + 1, 5, "genotype 2: cells[3].kernel: 5 is not in the search space [1, 3]"),
        (1 + 6 * 1 + 2, 128, "genotype 2: cells[1].filters: 128 is not in the search space"),
        (1 + 6 * 4 + 3, 0, "genotype 2: cells[4].blocks: 0 is not in the search space"),
        (1 + 6 * 5 + 4, -1, "genotype 2: cells[5].skip: -1 is not 0 or 1"),
        (1 + 6 * 2 + 5, 0, "genotype 2: cells[2].input_mask: empty input mask"),
        (1 + 6 * 2 + 5, C2, "genotype 2: cells[2].input_mask: mask 0x8 references node 3 (c2)"),
        (1 + 6 * 6 + 5, -1, "genotype 2: cells[6].input_mask: mask 0xffffffffffffffff "
                            "references node 63"),
        (43, 1 << 8, "genotype 2: fusion_mask: mask 0x100 references node 8 (c7)"),
        (43, 0, "genotype 2: fusion_mask: empty input mask"),
        (0, 6, "genotype 2: num_cells: 6 but the row length 44 holds 7 cells"),
    ],
)
def test_bad_rows_raise_from_cpp(index: int, value: int, message: str) -> None:
    with pytest.raises(GenotypeError) as info:
        counter.count_batch(_rows_with(index, value))
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_row_arrays() -> None:
    rows = np.array([FALSR_A_ROW], dtype=np.int64)
    with pytest.raises(GenotypeError, match="row length must be 6 \\* num_cells \\+ 2"):
        counter.count_batch(rows[:, :43])
    with pytest.raises(GenotypeError, match="expected an integer array"):
        counter.count_batch(rows.astype(np.float64))
    with pytest.raises(GenotypeError, match="expected an integer array"):
        counter.count_batch(rows[0])
    # Other integer dtypes and non-contiguous arrays are converted.
    assert counter.count_batch(rows.astype(np.int32))["params"].tolist() == [1_021_401]
    wide = np.repeat(rows, 2, axis=1)[:, ::2]
    assert counter.count_batch(wide)["macs"].tolist() == [235_000_627_200]
    with pytest.raises(GenotypeError, match="same number of cells"):
        counter.count_batch([FALSR_A, sample_genotype(random.Random(0), 6)])


def test_extension_raises_value_error_directly() -> None:
    from falsr_ext._extension import load_extension

    ext = load_extension()
    with pytest.raises(ValueError, match=r"cells\[3\]\.kernel: 5"):
        ext.count_layers(_rows_with(1 + 6 * 3 + 1, 5)[2], 480, 480, 2, 1, 4)
    with pytest.raises(ValueError, match="expected dtype int64"):
        ext.count_batch(np.zeros((1, 44), dtype=np.int32), 480, 480, 2, 1, 4, False)
    with pytest.raises(ValueError, match="C-contiguous"):
        ext.count_batch(np.zeros((44, 2), dtype=np.int64).T, 480, 480, 2, 1, 4, False)
    with pytest.raises(ValueError, match="row length 43 does not match num_cells 7"):
        ext.count_layers(FALSR_A_ROW[:-1], 480, 480, 2, 1, 4)
