"""`read_records` and `write_records`: one entry point for TFRecords (plain or GZIP) and shards."""

from __future__ import annotations

import os
from typing import Callable, Iterable, Iterator

import numpy as np

from .quantization import dequantize
from .errors import RecordError
from .paths import expand_paths, open_binary
from .records import RecordSchema, VideoRecord, decode_record, encode_record
from .shards import ARROW_MAGIC, ShardFile, ShardWriter
from .report import ReadStats
from .tfrecord import TFRecordWriter, count_tfrecord, iter_tfrecord


def file_format(path: str) -> str:
    """'shard' for Arrow IPC files, 'tfrecord' otherwise (plain or GZIP)."""
    with open_binary(path) as f:
        return "shard" if f.read(6) == ARROW_MAGIC else "tfrecord"


def file_size(path: str) -> int:
    with open_binary(path) as f:
        return f.seek(0, os.SEEK_END)


def resolve_schema(kind: str | RecordSchema, **overrides) -> RecordSchema:
    if isinstance(kind, RecordSchema):
        return kind.replace(**overrides) if overrides else kind
    return RecordSchema.for_kind(kind, **overrides)


def read_file(
    path: str,
    schema: RecordSchema,
    *,
    skip_corrupt: bool = False,
    verify_crc: bool = True,
    compression: str | None = None,
    stats: ReadStats | None = None,
    start: int = 0,
    stop: int | None = None,
    step: int = 1,
) -> Iterator[VideoRecord]:
    """Records `start, start+step, ...` (< stop) of one file. Errors name file, record, offset, field.

    Without skip_corrupt the first bad record raises its RecordError. With it, exactly the intact
    records come out and `stats` lists each skipped record and unread file tail; a slot reports
    only the damage at indices it owns, so workers reading one file together count each once.
    For TFRecords, records outside the selection are framed and CRC-checked but not parsed.
    """
    for _, decode in iter_lazy(
        path, schema, skip_corrupt=skip_corrupt, verify_crc=verify_crc, compression=compression, stats=stats, start=start, stop=stop, step=step
    ):
        record = decode()
        if record is not None:
            yield record


def iter_lazy(
    path: str,
    schema: RecordSchema,
    *,
    skip_corrupt: bool = False,
    verify_crc: bool = True,
    compression: str | None = None,
    stats: ReadStats | None = None,
    start: int = 0,
    stop: int | None = None,
    step: int = 1,
) -> Iterator[tuple[int, Callable[[], VideoRecord | None]]]:
    """`(index, decode)` per selected intact record: framed (and CRC-checked) now, parsed only by `decode()`.

    A training loader resuming mid-epoch passes over the records it already used without parsing
    them. `decode()` returns None for a record that fails to parse when `skip_corrupt` (reported in
    `stats`); framing damage is reported while framing, as `read_file` describes.
    """
    stats = stats if stats is not None else ReadStats()

    def owned(index: int | None) -> bool:
        return index is None or (index >= start and (index - start) % step == 0)

    if file_format(path) == "shard":
        yield from _read_shard(path, schema, skip_corrupt, verify_crc, stats, (start, stop, step), owned)
        return
    on_skip = on_stop = None
    if skip_corrupt:
        def on_skip(error: RecordError, size: int) -> None:
            if owned(error.index):
                stats.skip(error, size)

        def on_stop(error: RecordError, unread: int | None) -> None:
            if owned(error.index):
                stats.stop(error, unread)

    def parse(index: int, offset: int, data: bytes) -> VideoRecord | None:
        try:
            record = decode_record(data, schema)
        except RecordError as err:
            err = err.located(path=path, index=index, offset=offset)
            if not skip_corrupt:
                raise err from None
            stats.skip(err, 16 + len(data))
            return None
        stats.records += 1
        return record

    for index, offset, data in iter_tfrecord(path, verify_crc=verify_crc, compression=compression, on_skip=on_skip, on_stop=on_stop):
        if stop is not None and index >= stop:
            return
        if index < start or (index - start) % step:
            continue
        yield index, (lambda index=index, offset=offset, data=data: parse(index, offset, data))


def _read_shard(path: str, schema: RecordSchema, skip_corrupt: bool, verify: bool, stats: ReadStats, rows: tuple[int, int | None, int], owned):
    """`(index, decode)` per selected row; the memory map stays open while a `decode` of it is held
    (e.g. in a shuffle buffer) and closes when the last one is dropped."""
    try:
        shard = ShardFile(path, schema, verify=verify, row_checks=True if rows[2] > 1 else None)
    except RecordError as err:
        if not skip_corrupt or err.field in schema.feature_names + schema.sparse_features:
            raise  # a schema mismatch is a configuration error, not damage
        if owned(0):
            stats.stop(err.located(path=path, index=0, offset=0), file_size(path))
        return

    def parse(index: int) -> VideoRecord | None:
        try:
            record = shard.record(index)  # label range checked by the shard, batch by batch
        except RecordError as err:
            if not skip_corrupt:
                raise
            stats.skip(err.located(path=path, index=index))
            return None
        stats.records += 1
        return record

    start, stop, step = rows
    for index in range(start, len(shard) if stop is None else min(stop, len(shard)), step):
        yield index, (lambda index=index: parse(index))


def read_records(
    paths,
    kind: str | RecordSchema = "frame",
    *,
    skip_corrupt: bool = False,
    verify_crc: bool = True,
    compression: str | None = None,
    stats: ReadStats | None = None,
    **schema_overrides,
) -> Iterator[VideoRecord]:
    """Iterate the videos of files, globs or URLs (TFRecord, GZIP TFRecord or yt8m shard).

    `kind` is "video", "frame" or "segment", or a full RecordSchema; keyword overrides such as
    `feature_names=("rgb",)`, `feature_sizes=(1024,)` or `num_classes=4716` adjust the schema.
    `compression` ("auto", "gzip", "none") forces how TFRecords are read.
    """
    schema = resolve_schema(kind, **schema_overrides)
    for path in expand_paths(paths):
        yield from read_file(path, schema, skip_corrupt=skip_corrupt, verify_crc=verify_crc, compression=compression, stats=stats)


class RecordWriter:
    """Write VideoRecords to one file as TFRecords (default), GZIP TFRecords or a shard.

    The file appears under its final name only after a clean close.
    """

    def __init__(self, path: str | os.PathLike, kind: str | RecordSchema = "frame", *, format: str = "tfrecord", compression: str | None = None, **schema_overrides) -> None:
        self.schema = resolve_schema(kind, **schema_overrides)
        if format not in ("tfrecord", "shard"):
            raise ValueError(f"unknown format {format!r}: use 'tfrecord' or 'shard'")
        self.format = format
        self._out = ShardWriter(path, self.schema) if format == "shard" else TFRecordWriter(path, compression)

    @property
    def count(self) -> int:
        return self._out.count

    def write(self, record: VideoRecord) -> None:
        if self.format == "shard":
            self._out.write(record)
        else:
            self._out.write(encode_record(record, self.schema, write_labels=True))

    def close(self, *, discard: bool = False) -> None:
        self._out.close(discard=discard)

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(discard=exc_type is not None)


def write_records(path: str | os.PathLike, records: Iterable[VideoRecord], kind: str | RecordSchema = "frame", **kwargs) -> int:
    """Write all records to one file; returns how many were written."""
    with RecordWriter(path, kind, **kwargs) as writer:
        for record in records:
            writer.write(record)
        return writer.count


def count_records(path: str) -> int:
    """Records in a file (TFRecords: those that can be framed, up to any damage that ends the file)."""
    if file_format(path) == "shard":
        shard = ShardFile(path)
        try:
            return len(shard)
        finally:
            shard.close()
    return count_tfrecord(path)


def frames_matrix(parts: list[np.ndarray], max_frames: int, *, dequantized: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """Features side by side in one [max_frames, sum(dims)] matrix, each padded/truncated on its own.

    This is the official reader's `video_matrix` (resize_axis per feature, then concat); with
    `dequantized=True` codes become float32 first, so padding rows are exact zeros as in TF.
    The codes are gathered once, then dequantized in one contiguous pass (written into `out` if given).
    """
    width = sum(p.shape[1] for p in parts)
    lengths = [min(len(p), max_frames) for p in parts]
    rows = max(lengths, default=0)
    if not dequantized:
        if out is None:
            out = np.zeros((max_frames, width), dtype=np.uint8)
        codes = out
    else:
        codes = np.empty((rows, width), dtype=np.uint8)
    col = 0
    for part, k in zip(parts, lengths):
        w = part.shape[1]
        codes[:k, col : col + w] = part[:k]
        if k < rows:
            codes[k:rows, col : col + w] = 0
        col += w
    if not dequantized:
        return out
    if out is None:
        out = np.empty((max_frames, width), dtype=np.float32)
    dequantize(codes, out=out[:rows])
    out[rows:] = 0.0
    col = 0
    for part, k in zip(parts, lengths):  # rows a shorter feature lacks are padding: exact zeros
        if k < rows:
            out[k:rows, col : col + part.shape[1]] = 0.0
        col += part.shape[1]
    return out
