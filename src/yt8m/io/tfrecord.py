"""TFRecord framing: [uint64 length][masked crc32c(length)][data][masked crc32c(data)].

Uncompressed and GZIP files (detected from the gzip magic bytes), local or fsspec URLs.
CRC32C comes from google-crc32c (hardware accelerated), never a Python loop.
"""

from __future__ import annotations

import gzip
import os
import struct
from typing import Iterator

import google_crc32c

from .errors import RecordError
from .paths import is_url, open_binary

_MASK_DELTA = 0xA282EAD8
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
GZIP_MAGIC = b"\x1f\x8b"


def masked_crc32c(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def _open_maybe_gzip(path: str):
    raw = open_binary(path)
    head = raw.read(2)
    raw.seek(0)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


def iter_tfrecord(path: str, *, verify_crc: bool = True) -> Iterator[tuple[int, int, bytes]]:
    """Yield (record_index, byte_offset, payload) for every record of a TFRecord file.

    Offsets are positions in the (decompressed) stream. A truncated file or a CRC mismatch raises
    RecordError naming the file, record and offset.
    """
    with _open_maybe_gzip(path) as stream:
        index, offset = 0, 0
        read = stream.read
        while True:
            header = read(12)
            if not header:
                return
            if len(header) < 12:
                raise RecordError(f"truncated record header ({len(header)} of 12 bytes)", path=path, index=index, offset=offset, field="length")
            length_bytes = header[:8]
            (length,) = _U64.unpack(length_bytes)
            if verify_crc and _U32.unpack_from(header, 8)[0] != masked_crc32c(length_bytes):
                raise RecordError("length CRC mismatch (corrupt or not a TFRecord file)", path=path, index=index, offset=offset, field="length_crc")
            body = read(length + 4)
            if len(body) < length + 4:
                raise RecordError(f"truncated record: expected {length + 4} bytes, file has {len(body)}", path=path, index=index, offset=offset, field="data")
            data = body[:length]
            if verify_crc and _U32.unpack_from(body, length)[0] != masked_crc32c(data):
                raise RecordError("data CRC mismatch", path=path, index=index, offset=offset, field="data_crc")
            yield index, offset, data
            index += 1
            offset += 16 + length


def count_tfrecord(path: str) -> int:
    """Records in a TFRecord file, found by seeking past each payload (no payload is read or checked)."""
    with _open_maybe_gzip(path) as stream:
        count = 0
        while len(header := stream.read(12)) == 12:
            (length,) = _U64.unpack_from(header)
            stream.seek(length + 4, 1)
            count += 1
        return count


def frame_record(data: bytes) -> bytes:
    """One record's bytes with framing and CRCs."""
    length = _U64.pack(len(data))
    return b"".join((length, _U32.pack(masked_crc32c(length)), data, _U32.pack(masked_crc32c(data))))


class TFRecordWriter:
    """Write records to `path` atomically: a temp file renamed into place on a clean close.

    If the writer is closed after an exception the temp file is removed, so a half-written file
    never appears under its final name. `compression="gzip"` writes a GZIP file.
    """

    def __init__(self, path: str | os.PathLike, compression: str | None = None) -> None:
        self.path = os.fspath(path)
        if compression not in (None, "", "gzip", "GZIP"):
            raise ValueError(f"unsupported compression {compression!r}: use None or 'gzip'")
        self._remote = is_url(self.path)
        self._tmp = self.path if self._remote else f"{self.path}.tmp-{os.getpid()}"
        if not self._remote:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._raw = open_binary(self._tmp, "wb")
        self._stream = gzip.GzipFile(fileobj=self._raw, mode="wb") if compression else self._raw
        self.count = 0

    def write(self, data: bytes) -> None:
        self._stream.write(frame_record(data))
        self.count += 1

    def close(self, *, discard: bool = False) -> None:
        if self._stream is None:
            return
        if self._stream is not self._raw:
            self._stream.close()
        self._raw.close()
        self._stream = None
        if self._remote:
            return
        if discard:
            os.unlink(self._tmp)
        else:
            os.replace(self._tmp, self.path)

    def __enter__(self) -> "TFRecordWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(discard=exc_type is not None)
