"""Tests of the official FALSR .pb importer (falsr_ext.convert).

Needs the read-only ``shared`` folder (``../shared`` next to the repository, or
``$FALSR_SHARED``, or a ``shared_dir`` fixture from conftest); skipped where it is absent.
Runtime: FALSR-A over Set5 + Set14 on 2 CPU cores takes about 30 s in all.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from falsr_ext.convert import convert_pb, import_pb, load_pb
from falsr_ext.convert.graphdef import parse_graphdef
from falsr_ext.convert.protobuf_wire import WireError, iter_fields, read_varint
from falsr_ext.errors import ConvertError
from falsr_ext.models.weights import load_weights
from falsr_ext.models.zoo import ZOO_GENOTYPES

MODELS = ("FALSR-A", "FALSR-B", "FALSR-C")
PARAMS = {"FALSR-A": 1_021_401, "FALSR-B": 324_745, "FALSR-C": 426_569}
MAX_LUMA_DIFF = 5e-5  # reference PNG is rounded to 1/65535 (7.6e-6) + float32 noise


def _default_shared() -> Path:
    env = os.environ.get("FALSR_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="module")
def shared(request: pytest.FixtureRequest) -> Path:
    """The shared folder: conftest's ``shared_dir`` if there is one, else our default."""
    try:
        root = Path(request.getfixturevalue("shared_dir"))
    except pytest.FixtureLookupError:
        root = _default_shared()
    if not (root / "falsr" / "pretrained").is_dir():
        pytest.skip(f"official FALSR models not found under {root}/falsr (set FALSR_SHARED)")
    return root


def _pb(shared: Path, name: str) -> Path:
    return shared / "falsr" / "pretrained" / f"{name}.pb"


# ------------------------------------------------------------------ wire format
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _node_def(name: str, op: str, inputs: tuple[str, ...] = ()) -> bytes:
    body = _len_field(1, name.encode()) + _len_field(2, op.encode())
    return body + b"".join(_len_field(3, i.encode()) for i in inputs)


def test_wire_varint_and_offsets() -> None:
    assert read_varint(memoryview(b"\xac\x02"), 0) == (300, 2)
    records = list(iter_fields(b"\x08\x96\x01" + _len_field(2, b"abc") + b"\x1d" + bytes(4)))
    assert [(n, w) for n, w, _, _ in records] == [(1, 0), (2, 2), (3, 5)]
    assert records[0][2] == 150 and bytes(records[1][2]) == b"abc"
    with pytest.raises(WireError) as info:
        list(iter_fields(b"\x08\x96\x01\x12\x05ab", base=100))
    assert info.value.offset == 103 and "byte 103" in str(info.value)
    for bad in (b"\x08", b"\x08" + b"\xff" * 11, b"\x0b", b"\x00\x00", b"\x1d\x00"):
        with pytest.raises(WireError):
            list(iter_fields(bad))


def test_graphdef_tensor_decoding() -> None:
    shape = _len_field(2, _len_field(2, _varint(1 << 3) + _varint(2)))  # dims [2]
    tensor = _varint(1 << 3) + _varint(1) + shape + _len_field(4, struct.pack("<2f", 1.5, -2))
    attr = _len_field(1, b"value") + _len_field(2, _len_field(8, tensor))
    node = _node_def("w", "Const") + _len_field(5, attr)
    graph = parse_graphdef(_len_field(1, node))
    value = graph["w"].attrs["value"]
    assert value.shape == (2,) and value.value.tolist() == [1.5, -2.0]
    assert value.value.dtype == np.float32


# --------------------------------------------------------------- official graphs
@pytest.mark.parametrize("name", MODELS)
def test_genotype_and_params_recovered(shared: Path, name: str) -> None:
    genotype, weights = import_pb(_pb(shared, name))
    assert genotype == ZOO_GENOTYPES[name], genotype.to_string()
    assert sum(t.numel() for t in weights.values()) == PARAMS[name]
    model = load_pb(_pb(shared, name))
    assert not model.training and model.shuffle_order == "tf" and model.scale == 2
    assert model.num_params() == PARAMS[name]


@pytest.mark.parametrize("name", MODELS)
def test_convert_round_trip(shared: Path, name: str, tmp_path: Path) -> None:
    from safetensors import safe_open

    pb = _pb(shared, name)
    out = convert_pb(pb, tmp_path / f"{name}.safetensors")
    model = load_pb(pb)
    loaded = load_weights(out)
    assert loaded.genotype == model.genotype and loaded.shuffle_order == "tf"
    want, got = model.state_dict(), loaded.state_dict()
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(want[key], got[key]), key
    with safe_open(str(out), framework="pt") as f:
        source = f.metadata()["source"]
    digest = hashlib.sha256(pb.read_bytes()).hexdigest()
    assert source.startswith("official FALSR .pb ") and digest.startswith(source.split()[-1])


def _run_graph(pb: Path, y: torch.Tensor) -> torch.Tensor:
    """Evaluate the raw luma of the GraphDef op by op (TF semantics, NHWC), for B and C.

    An independent check of the weight mapping (grouped / depthwise convs, concat order,
    depth_to_space) where no reference images exist.
    """
    graph = parse_graphdef(pb.read_bytes())
    cache: dict[str, list[torch.Tensor]] = {"input_image_evaluate_y": [y.permute(0, 2, 3, 1)]}

    def conv(x: torch.Tensor, w: torch.Tensor, groups: int = 1) -> torch.Tensor:
        w = w.permute(3, 2, 0, 1) if groups == 1 else w.permute(2, 3, 0, 1)
        out = torch.nn.functional.conv2d(
            x.permute(0, 3, 1, 2), w, padding=w.shape[-1] // 2, groups=groups
        )
        return out.permute(0, 2, 3, 1)

    def value(ref: str) -> torch.Tensor:
        name, _, idx = ref.partition(":")
        if name not in cache:
            node = graph[name]
            ins = [value(i) for i in node.inputs]
            op = node.op
            if op == "Const":
                outs = [torch.from_numpy(node.attrs["value"].value.copy())]
            elif op == "Identity":
                outs = ins
            elif op == "Conv2D":
                outs = [conv(ins[0], ins[1])]
            elif op == "DepthwiseConv2dNative":
                outs = [conv(ins[0], ins[1], groups=ins[1].shape[2])]
            elif op == "BiasAdd" or op == "Add":
                outs = [ins[0] + ins[1]]
            elif op == "Relu":
                outs = [torch.relu(ins[0])]
            elif op == "ConcatV2":
                outs = [torch.cat(ins[:-1], dim=int(ins[-1]))]
            elif op == "Split":
                outs = list(torch.chunk(ins[1], node.attrs["num_split"], dim=int(ins[0])))
            elif op == "DepthToSpace":
                n, h, w, c = ins[0].shape
                x = ins[0].reshape(n, h, w, 2, 2, c // 4).permute(0, 1, 3, 2, 4, 5)
                outs = [x.reshape(n, 2 * h, 2 * w, c // 4)]
            else:
                raise AssertionError(f"op {op} not expected in the network")
            cache[name] = outs
        return cache[name][int(idx) if idx else 0]

    return value("test_sr_evaluator_i1_b0_g/yout/BiasAdd").permute(0, 3, 1, 2)


@pytest.mark.parametrize("name", MODELS)
def test_model_matches_graph_semantics(shared: Path, name: str) -> None:
    y = torch.rand(1, 1, 23, 18, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        want = _run_graph(_pb(shared, name), y)
        got = load_pb(_pb(shared, name))(y)
    assert got.shape == want.shape == (1, 1, 46, 36)
    assert (got - want).abs().max().item() < 1e-5


@pytest.fixture(scope="module")
def falsr_a(shared: Path) -> torch.nn.Module:
    return load_pb(_pb(shared, "FALSR-A"))


def _luma_diffs(shared: Path, model: torch.nn.Module, dataset: str) -> dict[str, float]:
    ref_dir = shared / "falsr" / "reference" / "FALSR-A" / dataset
    refs = sorted(ref_dir.glob("*_Y16.png"))
    if not refs:
        pytest.skip(f"no FALSR-A reference outputs in {ref_dir}")
    diffs = {}
    for ref_path in refs:
        name = ref_path.name[: -len("_Y16.png")]
        lr_path = shared / "data" / dataset / "LR_bicubic" / "X2" / f"{name}x2.png"
        rgb = np.asarray(Image.open(lr_path).convert("RGB"), dtype=np.float64) / 255.0
        y = (rgb @ np.array([0.299, 0.587, 0.114])).astype(np.float32)  # rgb2ypbpr luma
        with torch.inference_mode():
            y_hr = model(torch.from_numpy(y)[None, None])[0, 0].numpy()
        ref = np.asarray(Image.open(ref_path), dtype=np.float64) / 65535.0
        assert ref.shape == y_hr.shape, name
        diffs[name] = float(np.abs(np.clip(y_hr, 0.0, 1.0) - ref).max())
    return diffs


@pytest.mark.parametrize("dataset", ["Set5", "Set14"])
def test_falsr_a_matches_official_luma(
    shared: Path, falsr_a: torch.nn.Module, dataset: str
) -> None:
    diffs = _luma_diffs(shared, falsr_a, dataset)
    worst = max(diffs, key=diffs.__getitem__)
    assert diffs[worst] <= MAX_LUMA_DIFF, f"{worst}: {diffs[worst]:.3g} ({diffs})"


# ------------------------------------------------------------------------ errors
def _assert_convert_error(path: Path, *words: str) -> None:
    with pytest.raises(ConvertError) as info:
        import_pb(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    for word in words:
        assert word in message, message


def test_missing_file(tmp_path: Path) -> None:
    _assert_convert_error(tmp_path / "nope.pb", "no such file")
    _assert_convert_error(tmp_path, "not a regular file")


@pytest.mark.parametrize("keep", [1, 7, 1000, 0.5, -1])
def test_truncated_pb(shared: Path, tmp_path: Path, keep: float) -> None:
    data = _pb(shared, "FALSR-C").read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    path = tmp_path / "truncated.pb"
    path.write_bytes(data[:n])
    _assert_convert_error(path)


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "random.pb"
    path.write_bytes(np.random.default_rng(seed).bytes(4096))
    _assert_convert_error(path)


def test_empty_and_foreign_protobuf(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pb"
    path.write_bytes(b"")
    _assert_convert_error(path, "no nodes")
    path.write_bytes(b"\x10\x01" + _len_field(3, b"hello"))  # valid protobuf, no node field
    _assert_convert_error(path, "no nodes")
    tiny = (_node_def("x", "Placeholder"), _node_def("y", "Relu", ("x",)))
    path.write_bytes(b"".join(_len_field(1, n) for n in tiny))
    _assert_convert_error(path, "input_image_evaluate_y")
    nodes = [_node_def("input_image_evaluate_y", "Placeholder"),
             _node_def("input_image_evaluate_pbpr", "Placeholder"),
             _node_def("test_sr_evaluator_i1_b0_g/yout/BiasAdd", "BiasAdd"),
             _node_def("test_sr_evaluator_i1_b0_g/target", "Identity")]
    path.write_bytes(b"".join(_len_field(1, n) for n in nodes))
    _assert_convert_error(path, "no cells")


def _records(data: bytes) -> list[bytes]:
    """The NodeDef payloads of a GraphDef (other top-level fields dropped)."""
    return [bytes(v) for n, _, v, _ in iter_fields(data) if n == 1]


def test_tampered_graphs_rejected(shared: Path, tmp_path: Path) -> None:
    nodes = _records(_pb(shared, "FALSR-C").read_bytes())
    names = [next(iter(parse_graphdef(_len_field(1, n)).nodes)) for n in nodes]
    path = tmp_path / "tampered.pb"

    def write(payloads: list[bytes]) -> None:
        path.write_bytes(b"".join(_len_field(1, p) for p in payloads))

    write(nodes)  # the re-encoded graph itself is fine
    assert import_pb(path)[0] == ZOO_GENOTYPES["FALSR-C"]
    bias = names.index("test_sr_evaluator_i1_b0_g/cell6/conv_f16_k3_b1_isskip_b0/bias")
    write(nodes[:bias] + nodes[bias + 1:])
    _assert_convert_error(path, "missing")
    write(nodes + [nodes[bias]])
    _assert_convert_error(path, "duplicate node")
    write(nodes + [nodes[bias] + _len_field(1, b"stray")])  # a later name field wins
    _assert_convert_error(path, "unused node", "stray")
    fusion = names.index("test_sr_evaluator_i1_b0_g/concat_layer_5")
    # Drop the fusion's F input (and fix N): weights no longer fit the recovered genotype.
    attr_n = [_len_field(5, _len_field(1, b"N") + _len_field(2, b"\x18" + bytes([k])))
              for k in (4, 3)]
    patched = nodes[fusion].replace(_len_field(3, b"test_sr_evaluator_i1_b0_g/n32s1/c/Relu"), b"")
    assert attr_n[0] in patched
    write(nodes[:fusion] + [patched.replace(*attr_n)] + nodes[fusion + 1:])
    _assert_convert_error(path, "fusion.weight")


def test_convert_writes_atomically(shared: Path, tmp_path: Path, monkeypatch) -> None:
    """convert_pb's output appears whole or not at all; concurrent runs never collide."""
    from concurrent.futures import ThreadPoolExecutor

    import safetensors.torch

    from falsr_ext.errors import FalsrError

    pb, out = _pb(shared, "FALSR-C"), tmp_path / "c.safetensors"
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: convert_pb(pb, out), range(2)))
    assert load_weights(out).genotype == ZOO_GENOTYPES["FALSR-C"]
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]
    before = out.read_bytes()

    def interrupted(tensors, filename, metadata=None) -> None:  # noqa: ANN001
        Path(filename).write_bytes(before[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert_pb(pb, out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]
    monkeypatch.undo()
    with pytest.raises(FalsrError) as info:
        convert_pb(pb, tmp_path)  # a folder is not a file name
    assert "\n" not in str(info.value) and str(tmp_path) in str(info.value)


@pytest.mark.parametrize("name", ["a" * 5000, "x\0y.pb"])
def test_impossible_file_names(name: str) -> None:
    """Names no file can have (too long, NUL byte) are a ConvertError, not an OSError."""
    with pytest.raises(ConvertError) as info:
        import_pb(name)
    message = str(info.value)
    assert "\n" not in message and len(message) < 200 and "cannot read" in message, message
