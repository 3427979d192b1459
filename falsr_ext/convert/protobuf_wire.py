"""A minimal, bounds-checked protobuf wire-format decoder (no ``protobuf`` dependency).

Only what reading a TensorFlow GraphDef needs: split a message into ``(field, wire type,
value)`` records, where the value is an ``int`` for varint / fixed32 / fixed64 and a
``memoryview`` slice (zero copy) for length-delimited fields. Sub-messages are decoded by
calling :func:`iter_fields` again on the slice, passing its absolute offset so every error
names the byte offset in the original file.

Any malformation (truncated varint, length past the end, unknown or deprecated group wire
type, field number 0) raises :class:`WireError`, a ``ValueError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT = 0
FIXED64 = 1
LEN = 2
FIXED32 = 5

_MAX_VARINT_BYTES = 10


class WireError(ValueError):
    """Malformed protobuf bytes; ``offset`` is the absolute byte offset of the problem."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at byte {offset}")
        self.offset = offset


Field = tuple[int, int, "int | memoryview", int]  # (number, wire type, value, abs offset)


def read_varint(buf: memoryview, pos: int, base: int = 0) -> tuple[int, int]:
    """Decode the varint at ``buf[pos:]``; return ``(value, next position)``.

    ``base`` is the absolute offset of ``buf[0]`` (for error messages only).
    """
    result = 0
    shift = 0
    end = len(buf)
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= end:
            raise WireError("truncated varint", base + pos)
        byte = buf[pos + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, pos + i + 1
        shift += 7
    raise WireError("varint longer than 10 bytes", base + pos)


def iter_fields(buf: bytes | memoryview, base: int = 0) -> Iterator[Field]:
    """Yield ``(field number, wire type, value, absolute offset)`` for every record.

    Args:
        buf: the bytes of one message.
        base: absolute offset of ``buf[0]`` in the file, so errors point into the file.
    """
    view = memoryview(buf)
    pos = 0
    end = len(view)
    while pos < end:
        start = pos
        key, pos = read_varint(view, pos, base)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0", base + start)
        if wire == VARINT:
            value, pos = read_varint(view, pos, base)
            yield number, wire, value, base + start
        elif wire == LEN:
            length, pos = read_varint(view, pos, base)
            if length > end - pos:
                raise WireError(
                    f"field {number}: length {length} runs past the end of its message",
                    base + start,
                )
            yield number, wire, view[pos:pos + length], base + pos
            pos += length
        elif wire == FIXED32:
            if pos + 4 > end:
                raise WireError(f"field {number}: truncated fixed32", base + start)
            yield number, wire, int.from_bytes(view[pos:pos + 4], "little"), base + start
            pos += 4
        elif wire == FIXED64:
            if pos + 8 > end:
                raise WireError(f"field {number}: truncated fixed64", base + start)
            yield number, wire, int.from_bytes(view[pos:pos + 8], "little"), base + start
            pos += 8
        else:  # 3/4 (groups, never used by TF protos) and 6/7 (invalid)
            raise WireError(f"field {number}: unsupported wire type {wire}", base + start)


def as_signed64(value: int) -> int:
    """Reinterpret a varint as int64 (two's complement), as ``int64`` fields need."""
    return value - (1 << 64) if value >= 1 << 63 else value


def as_float32(value: int) -> float:
    """Reinterpret a fixed32 record as an IEEE float."""
    return struct.unpack("<f", value.to_bytes(4, "little"))[0]


def packed_varints(buf: memoryview, base: int = 0) -> list[int]:
    """Decode a packed repeated varint field."""
    out = []
    pos = 0
    while pos < len(buf):
        value, pos = read_varint(buf, pos, base)
        out.append(value)
    return out


def expect(wire: int, wanted: int, number: int, offset: int, what: str) -> None:
    """Raise :class:`WireError` unless a field has the wire type its schema says."""
    if wire != wanted:
        raise WireError(f"{what} field {number}: wire type {wire}, expected {wanted}", offset)
