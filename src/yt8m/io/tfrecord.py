"""TFRecord framing: [uint64 length][masked crc32c(length)][data][masked crc32c(data)].

Uncompressed and GZIP files, local or fsspec URLs. GZIP is recognised by a full header check
(a valid TFRecord length header wins over a look-alike gzip magic number) or forced with
`compression=`. CRC32C comes from google-crc32c (hardware accelerated), never a Python loop.

Damage is handled by what can still be trusted: a payload CRC failure leaves the next record's
position known, so only that record is lost; a bad length CRC, a length longer than what is left,
a truncated file or a damaged GZIP stream end the readable part of the file. Lengths are checked
against the bytes left (or, inside GZIP, read in bounded chunks) before anything is allocated.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from typing import Callable, Iterator

import google_crc32c

from .errors import RecordError
from .paths import is_url, open_binary

_MASK_DELTA = 0xA282EAD8
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
GZIP_MAGIC = b"\x1f\x8b"
COMPRESSIONS = ("auto", "gzip", "none")
_CHUNK = 16 << 20  # GZIP payloads longer than this are read piecewise: a forged length cannot allocate
_GZIP_ERRORS = (EOFError, OSError, zlib.error)

SkipHandler = Callable[[RecordError, int], None]  # (error, framed bytes of the lost record)
StopHandler = Callable[[RecordError, "int | None"], None]  # (error, bytes left unread; None = unknown)


def masked_crc32c(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def sniff_compression(head: bytes) -> str:
    """'gzip' or 'none' from a file's first bytes: a valid TFRecord header first, then a full gzip header."""
    if len(head) >= 12 and _U32.unpack_from(head, 8)[0] == masked_crc32c(head[:8]):
        return "none"
    # RFC 1952: magic, CM=8 (deflate), reserved FLG bits zero
    if len(head) >= 10 and head[:3] == b"\x1f\x8b\x08" and not head[3] & 0xE0:
        return "gzip"
    return "none"


def _check_compression(compression: str | None) -> str:
    value = (compression or "auto").lower()
    if value not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}: use one of {', '.join(COMPRESSIONS)}")
    return value


def iter_tfrecord(
    path: str,
    *,
    verify_crc: bool = True,
    compression: str | None = None,
    on_skip: SkipHandler | None = None,
    on_stop: StopHandler | None = None,
) -> Iterator[tuple[int, int, bytes]]:
    """Yield (record_index, byte_offset, payload) for every intact record of a TFRecord file.

    Offsets are positions in the (decompressed) stream. Errors are RecordErrors naming the file,
    record and offset; they are raised unless a handler takes them: `on_skip(error, size)` for a
    lost record (reading goes on), `on_stop(error, unread_bytes)` for the end of the readable part.
    """
    mode = _check_compression(compression)
    with open_binary(path) as raw:
        if mode == "auto":
            mode = sniff_compression(raw.read(16))
            raw.seek(0)
        if mode == "gzip":
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield from _frames(stream.read, path, None, verify_crc, on_skip, on_stop)
        else:
            size = raw.seek(0, os.SEEK_END)
            raw.seek(0)
            yield from _frames(raw.read, path, size, verify_crc, on_skip, on_stop)


def _read_bounded(read, n: int) -> bytes:
    """Up to n bytes, read in chunks so that a forged length allocates only what the stream holds."""
    if n <= _CHUNK:
        return read(n)
    parts, got = [], 0
    while got < n:
        chunk = read(min(_CHUNK, n - got))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _frames(read, path: str, size: int | None, verify_crc: bool, on_skip: SkipHandler | None, on_stop: StopHandler | None):
    """The framing loop; `size` is the file size for plain files, None inside GZIP (unknown)."""
    index = offset = 0

    def stop(message: str, field: str, unread: int | None) -> None:
        error = RecordError(message, path=path, index=index, offset=offset, field=field)
        if on_stop is None:
            raise error
        on_stop(error, unread)

    def gzip_damage(exc: BaseException) -> None:
        if size is not None:  # a plain file: an I/O error, not damage to report and skip
            raise RecordError(f"read failed ({type(exc).__name__}: {exc})", path=path, index=index, offset=offset) from exc
        stop(f"GZIP stream damaged ({type(exc).__name__}: {exc}); readable up to uncompressed byte {offset}", "gzip", None)

    while True:
        try:
            header = read(12)
        except _GZIP_ERRORS as exc:
            gzip_damage(exc)
            return
        if not header:
            return
        if len(header) < 12:
            stop(f"truncated record header ({len(header)} of 12 bytes)", "length", len(header))
            return
        length_bytes = header[:8]
        (length,) = _U64.unpack(length_bytes)
        if verify_crc and _U32.unpack_from(header, 8)[0] != masked_crc32c(length_bytes):
            stop("length CRC mismatch (corrupt or not a TFRecord file)", "length_crc", None if size is None else size - offset)
            return
        if size is None:
            try:
                body = _read_bounded(read, length + 4)
            except _GZIP_ERRORS as exc:
                gzip_damage(exc)
                return
            if len(body) < length + 4:
                stop(f"record {index} claims {length} bytes, the file has {len(body)} left", "length", 12 + len(body))
                return
        else:
            left = size - offset - 12
            if length + 4 > left:
                stop(f"record {index} claims {length} bytes, the file has {left} left", "length", size - offset)
                return
            body = read(length + 4)
        data = body[:length]
        if verify_crc and _U32.unpack_from(body, length)[0] != masked_crc32c(data):
            error = RecordError("data CRC mismatch", path=path, index=index, offset=offset, field="data_crc")
            if on_skip is None:
                raise error
            on_skip(error, 16 + length)
        else:
            yield index, offset, data
        index += 1
        offset += 16 + length


def count_tfrecord(path: str, compression: str | None = None) -> int:
    """Records that can be framed, for schedules and progress totals; damage ends the count (it is
    reported when the records are read). Plain files seek past each payload: only headers are read."""
    mode = _check_compression(compression)
    with open_binary(path) as raw:
        if mode == "auto":
            mode = sniff_compression(raw.read(16))
        if mode == "none":
            size, offset, count = raw.seek(0, os.SEEK_END), 0, 0
            while offset + 12 <= size:
                raw.seek(offset)
                header = raw.read(12)
                (length,) = _U64.unpack_from(header)
                if _U32.unpack_from(header, 8)[0] != masked_crc32c(header[:8]) or offset + 16 + length > size:
                    break
                count, offset = count + 1, offset + 16 + length
            return count
    ignore = lambda *_: None  # noqa: E731
    return sum(1 for _ in iter_tfrecord(path, verify_crc=False, compression="gzip", on_skip=ignore, on_stop=ignore))


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
