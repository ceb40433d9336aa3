"""How many videos a set of files holds, cheaply, so progress displays know their total.

Shards know their length; a plain TFRecord is walked header to header (12 bytes read, the payload
skipped with a seek), so counting costs one small read per record instead of reading the data.
GZIP and remote files cannot seek cheaply: their total stays unknown (None) rather than costing a
second full read.
"""

from __future__ import annotations

import os
import struct

from ..io.paths import is_url
from ..io.reader import count_records, file_format

_GZIP_MAGIC = b"\x1f\x8b"
_U64 = struct.Struct("<Q")


def _count_plain_tfrecord(path: str) -> int | None:
    size = os.path.getsize(path)
    count, offset = 0, 0
    with open(path, "rb") as f:
        if f.read(2) == _GZIP_MAGIC:
            return None
        while offset < size:
            f.seek(offset)
            header = f.read(8)
            if len(header) < 8:
                return None  # truncated: the reader names the bad record; the total stays unknown
            offset += 16 + _U64.unpack(header)[0]
            count += 1
    return count


def count_videos(files: list[str]) -> int | None:
    """Records over all files, or None when one of them cannot be counted without reading it."""
    total = 0
    for path in files:
        if is_url(path):
            return None
        n = count_records(path) if file_format(path) == "shard" else _count_plain_tfrecord(path)
        if n is None:
            return None
        total += n
    return total
