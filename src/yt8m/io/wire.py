"""A fast path for the bulk of a frame-level record: the per-frame byte strings.

A SequenceExample spends nearly all its bytes in feature lists of equal-sized frames, and every
frame is framed by the same few bytes (FeatureList.feature -> Feature.bytes_list -> BytesList.value).
So the frames of one feature sit at a fixed stride behind an identical header: one numpy view and a
vectorized header check replace a Python loop over hundreds of protobuf objects. Anything that does
not match this exact layout returns None and the caller uses the protobuf parser, so errors and odd
encodings are still reported field by field.
"""

from __future__ import annotations

import numpy as np


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _frame_header(size: int) -> bytes:
    """Bytes before each frame's payload: Feature tag+len, BytesList tag+len, value tag+len."""
    value = b"\x0a" + _encode_varint(size)  # BytesList.value (field 1, bytes)
    bytes_list = b"\x0a" + _encode_varint(len(value) + size)  # Feature.bytes_list (field 1)
    feature = b"\x0a" + _encode_varint(len(bytes_list) + len(value) + size)  # FeatureList.feature (field 1)
    return feature + bytes_list + value


_HEADERS: dict[int, np.ndarray] = {}


def split_sequence_example(data: bytes) -> tuple[tuple[int, int] | None, dict[str, tuple[int, int]]] | None:
    """(context span, {feature list name: span}) of a serialized SequenceExample, or None if unusual."""
    pos, end = 0, len(data)
    context, lists = None, {}
    try:
        while pos < end:
            tag, pos = _varint(data, pos)
            if tag & 7 != 2:
                return None
            length, pos = _varint(data, pos)
            field, start = tag >> 3, pos
            pos += length
            if field == 1:
                if context is not None:
                    return None  # repeated context would be merged by protobuf
                context = (start, pos)
            elif field == 2:
                inner = start
                while inner < pos:
                    etag, inner = _varint(data, inner)
                    elen, inner = _varint(data, inner)
                    if etag != 0x0A:
                        return None
                    entry_end = inner + elen
                    key, value = None, None
                    while inner < entry_end:
                        ftag, inner = _varint(data, inner)
                        flen, inner = _varint(data, inner)
                        if ftag == 0x0A:
                            key = data[inner : inner + flen].decode("utf-8")
                        elif ftag == 0x12:
                            value = (inner, inner + flen)
                        else:
                            return None
                        inner += flen
                    if key is None or value is None or key in lists:
                        return None
                    lists[key] = value
            else:
                return None
        return (context, lists) if pos == end else None
    except (IndexError, UnicodeDecodeError):
        return None


def frames_from_span(data: bytes, span: tuple[int, int], size: int) -> np.ndarray | None:
    """uint8 [frames, size] read from a FeatureList's bytes, or None if the layout is not the plain one."""
    header = _HEADERS.get(size)
    if header is None:
        header = _HEADERS[size] = np.frombuffer(_frame_header(size), dtype=np.uint8)
    start, stop = span
    stride = len(header) + size
    if (stop - start) % stride:
        return None
    n = (stop - start) // stride
    if n == 0:
        return np.zeros((0, size), np.uint8)
    block = np.frombuffer(data, dtype=np.uint8, count=stop - start, offset=start).reshape(n, stride)
    if not (block[:, : len(header)] == header).all():
        return None
    return block[:, len(header) :]
