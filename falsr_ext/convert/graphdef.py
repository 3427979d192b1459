"""Parse a TensorFlow GraphDef (frozen ``.pb``) into plain dataclasses.

Schema subset (tensorflow/core/framework/*.proto):

- GraphDef: 1 repeated NodeDef ``node`` (others ignored: versions, library).
- NodeDef: 1 name, 2 op, 3 repeated input, 4 device, 5 map<string, AttrValue> attr.
- AttrValue (oneof): 1 list, 2 s, 3 i, 4 f, 5 b, 6 type, 7 shape, 8 tensor, 9 placeholder.
- TensorProto: 1 dtype, 2 tensor_shape, 4 tensor_content, 5 float_val, 6 double_val,
  7 int_val, 10 int64_val, 11 bool_val.
- TensorShapeProto: 2 repeated Dim {1 size}, 3 unknown_rank.

Numeric tensors become numpy arrays (``float32`` for DT_FLOAT, ``int32``/``int64`` for
integer types); other dtypes keep ``value=None``. Any malformation raises
:class:`~falsr_ext.convert.protobuf_wire.WireError` with the byte offset.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from falsr_ext.convert.protobuf_wire import (
    FIXED32,
    FIXED64,
    LEN,
    VARINT,
    WireError,
    as_signed64,
    expect,
    iter_fields,
    packed_varints,
)

# tensorflow/core/framework/types.proto
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_BOOL = 1, 2, 3, 9, 10
_NUMPY_DTYPES: dict[int, np.dtype] = {
    DT_FLOAT: np.dtype("<f4"),
    DT_DOUBLE: np.dtype("<f8"),
    DT_INT32: np.dtype("<i4"),
    DT_INT64: np.dtype("<i8"),
    DT_BOOL: np.dtype("?"),
}
# A short value list is broadcast to the shape (TF semantics): cap it so a garbage shape
# cannot ask for gigabytes. FALSR's largest tensor has 3*3*208*64 = 119,808 elements.
_MAX_ELEMENTS = 1 << 26


@dataclass(frozen=True)
class Tensor:
    """A decoded TensorProto: TF dtype code, shape and (for numeric dtypes) its values."""

    dtype: int
    shape: tuple[int, ...]
    value: np.ndarray | None


@dataclass
class Node:
    """A NodeDef: ``inputs`` keep TF's spelling (``name``, ``name:1``, ``^control``)."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    device: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    def data_inputs(self) -> list[str]:
        """Data inputs with the output index stripped (``a:1`` -> ``a``), no control deps."""
        return [i.split(":")[0] for i in self.inputs if not i.startswith("^")]


@dataclass
class Graph:
    """All nodes of a GraphDef, by name, in file order."""

    nodes: dict[str, Node]

    def __contains__(self, name: str) -> bool:
        return name in self.nodes

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]


def parse_graphdef(data: bytes | memoryview) -> Graph:
    """Decode a serialized GraphDef; raise WireError on malformed bytes or duplicates."""
    nodes: dict[str, Node] = {}
    for number, wire, value, off in iter_fields(data):
        if number != 1:
            continue  # versions, library, ...: not needed
        expect(wire, LEN, number, off, "GraphDef")
        node = _parse_node(value, off)  # type: ignore[arg-type]
        if node.name in nodes:
            raise WireError(f"duplicate node name {node.name!r}", off)
        nodes[node.name] = node
    return Graph(nodes)


def _text(buf: memoryview, off: int) -> str:
    try:
        return bytes(buf).decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("string field is not UTF-8", off) from None


def _parse_node(buf: memoryview, base: int) -> Node:
    node = Node(name="", op="")
    for number, wire, value, off in iter_fields(buf, base):
        if number in (1, 2, 3, 4):
            expect(wire, LEN, number, off, "NodeDef")
            text = _text(value, off)  # type: ignore[arg-type]
            if number == 1:
                node.name = text
            elif number == 2:
                node.op = text
            elif number == 3:
                node.inputs.append(text)
            else:
                node.device = text
        elif number == 5:
            expect(wire, LEN, number, off, "NodeDef")
            key, attr = _parse_attr_entry(value, off)  # type: ignore[arg-type]
            node.attrs[key] = attr
    if not node.name or not node.op:
        raise WireError("NodeDef without a name or op", base)
    return node


def _parse_attr_entry(buf: memoryview, base: int) -> tuple[str, Any]:
    key, value = "", None
    for number, wire, val, off in iter_fields(buf, base):
        expect(wire, LEN, number, off, "attr map entry")
        if number == 1:
            key = _text(val, off)  # type: ignore[arg-type]
        elif number == 2:
            value = _parse_attr_value(val, off)  # type: ignore[arg-type]
    return key, value


def _parse_attr_value(buf: memoryview, base: int) -> Any:
    value: Any = None
    for number, wire, val, off in iter_fields(buf, base):
        if number == 1:
            expect(wire, LEN, number, off, "AttrValue")
            value = _parse_attr_list(val, off)  # type: ignore[arg-type]
        elif number == 2:
            expect(wire, LEN, number, off, "AttrValue")
            value = bytes(val)  # type: ignore[arg-type]
        elif number == 3:
            expect(wire, VARINT, number, off, "AttrValue")
            value = as_signed64(val)  # type: ignore[arg-type]
        elif number == 4:
            expect(wire, FIXED32, number, off, "AttrValue")
            value = struct.unpack("<f", int(val).to_bytes(4, "little"))[0]  # type: ignore[arg-type]
        elif number == 5:
            expect(wire, VARINT, number, off, "AttrValue")
            value = bool(val)
        elif number == 6:
            expect(wire, VARINT, number, off, "AttrValue")
            value = int(val)  # type: ignore[arg-type]
        elif number == 7:
            expect(wire, LEN, number, off, "AttrValue")
            value = _parse_shape(val, off)  # type: ignore[arg-type]
        elif number == 8:
            expect(wire, LEN, number, off, "AttrValue")
            value = _parse_tensor(val, off)  # type: ignore[arg-type]
    return value


def _parse_attr_list(buf: memoryview, base: int) -> list[Any]:
    """AttrValue.ListValue: 2 s, 3 i, 4 f, 5 b, 6 type, 7 shape, 8 tensor (one kind used)."""
    out: list[Any] = []
    for number, wire, val, off in iter_fields(buf, base):
        if number == 2:
            expect(wire, LEN, number, off, "ListValue")
            out.append(bytes(val))  # type: ignore[arg-type]
        elif number in (3, 5, 6):
            conv = as_signed64 if number == 3 else (bool if number == 5 else int)
            if wire == LEN:  # packed
                out.extend(conv(v) for v in packed_varints(val, off))  # type: ignore[arg-type]
            else:
                expect(wire, VARINT, number, off, "ListValue")
                out.append(conv(val))  # type: ignore[arg-type]
        elif number == 4:
            if wire == LEN:
                out.extend(_floats(val, off))  # type: ignore[arg-type]
            else:
                expect(wire, FIXED32, number, off, "ListValue")
                out.append(struct.unpack("<f", int(val).to_bytes(4, "little"))[0])  # type: ignore[arg-type]
        elif number == 7:
            expect(wire, LEN, number, off, "ListValue")
            out.append(_parse_shape(val, off))  # type: ignore[arg-type]
        elif number == 8:
            expect(wire, LEN, number, off, "ListValue")
            out.append(_parse_tensor(val, off))  # type: ignore[arg-type]
    return out


def _floats(buf: memoryview, off: int) -> list[float]:
    if len(buf) % 4:
        raise WireError("packed float field length is not a multiple of 4", off)
    return np.frombuffer(buf, dtype="<f4").tolist()


def _parse_shape(buf: memoryview, base: int) -> tuple[int, ...] | None:
    """TensorShapeProto -> tuple of sizes (-1 unknown), or None for unknown rank."""
    dims: list[int] = []
    unknown_rank = False
    for number, wire, val, off in iter_fields(buf, base):
        if number == 2:
            expect(wire, LEN, number, off, "TensorShapeProto")
            size = 0
            for n2, w2, v2, o2 in iter_fields(val, off):  # type: ignore[arg-type]
                if n2 == 1:
                    expect(w2, VARINT, n2, o2, "Dim")
                    size = as_signed64(v2)  # type: ignore[arg-type]
            dims.append(size)
        elif number == 3:
            expect(wire, VARINT, number, off, "TensorShapeProto")
            unknown_rank = bool(val)
    return None if unknown_rank else tuple(dims)


def _parse_tensor(buf: memoryview, base: int) -> Tensor:
    dtype = 0
    shape: tuple[int, ...] | None = ()
    content: memoryview | None = None
    vals: list[Any] = []
    for number, wire, val, off in iter_fields(buf, base):
        if number == 1:
            expect(wire, VARINT, number, off, "TensorProto")
            dtype = int(val)  # type: ignore[arg-type]
        elif number == 2:
            expect(wire, LEN, number, off, "TensorProto")
            shape = _parse_shape(val, off)  # type: ignore[arg-type]
        elif number == 4:
            expect(wire, LEN, number, off, "TensorProto")
            content = val  # type: ignore[assignment]
        elif number == 5:  # float_val
            if wire == LEN:
                vals.extend(_floats(val, off))  # type: ignore[arg-type]
            else:
                expect(wire, FIXED32, number, off, "TensorProto")
                vals.append(struct.unpack("<f", int(val).to_bytes(4, "little"))[0])  # type: ignore[arg-type]
        elif number == 6:  # double_val
            if wire == LEN:
                if len(val) % 8:  # type: ignore[arg-type]
                    raise WireError("packed double field length is not a multiple of 8", off)
                vals.extend(np.frombuffer(val, dtype="<f8").tolist())  # type: ignore[arg-type]
            else:
                expect(wire, FIXED64, number, off, "TensorProto")
                vals.append(struct.unpack("<d", int(val).to_bytes(8, "little"))[0])  # type: ignore[arg-type]
        elif number in (7, 10, 11):  # int_val, int64_val, bool_val
            if wire == LEN:
                raw = packed_varints(val, off)  # type: ignore[arg-type]
            else:
                expect(wire, VARINT, number, off, "TensorProto")
                raw = [int(val)]  # type: ignore[arg-type]
            vals.extend(as_signed64(v) for v in raw)
    if shape is None or any(d < 0 for d in shape):
        raise WireError(f"constant tensor with an unknown shape {shape}", base)
    np_dtype = _NUMPY_DTYPES.get(dtype)
    if np_dtype is None:
        return Tensor(dtype, shape, None)
    count = math.prod(shape)  # Python ints: no overflow on garbage shapes
    if count > _MAX_ELEMENTS:
        raise WireError(f"tensor shape {shape} is implausibly large", base)
    if content is not None and len(content):
        if len(content) != count * np_dtype.itemsize:
            raise WireError(
                f"tensor_content has {len(content)} bytes, shape {shape} of dtype {dtype} "
                f"needs {count * np_dtype.itemsize}",
                base,
            )
        arr = np.frombuffer(content, dtype=np_dtype).copy()
    elif vals:
        if len(vals) > count:
            raise WireError(f"{len(vals)} values for a tensor of shape {shape}", base)
        arr = np.empty(count, dtype=np_dtype)
        arr[: len(vals)] = vals
        arr[len(vals):] = vals[-1]  # TF semantics: the last value repeats
    else:
        arr = np.zeros(count, dtype=np_dtype)
    return Tensor(dtype, shape, arr.reshape(shape).astype(np_dtype.newbyteorder("=")))
