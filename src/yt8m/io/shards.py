"""Columnar shards: Apache Arrow IPC files, memory-mapped, features kept as uint8.

One row per video. Columns: `id` (string), `labels` (list<int32>), `num_frames` (int32), one
`large_binary` column per frame feature holding the video's frames back to back (frames x size
bytes) or a `fixed_size_list<float32>` per video-level feature, the segment fields as lists, and
per sparse feature `<name>_ids`, `<name>_scores`, `<name>_offsets`. The schema metadata records the
kind, feature names and sizes. Reading slices the mapped buffers: no copy, no parse.

Checksums are checked on every read, so a damaged shard gives a RecordError (or, skipping, loses
only the damaged rows) and never a record that differs from the one written: `xxh3`, an XXH3-64
per row over everything its record holds, and `batch_xxh3`, one XXH3-64 over all columns of its
record batch (format 3). Format 2 shards carry the same two sums as CRC32C (`crc32c`,
`batch_crc32c`) and are still read and checked; XXH3 hashes twice as fast in cache, though a row
read from memory hashes at memory speed with either. Frame-level rows are checked one by one just
before they are used, while the row is still in the CPU cache (a batch pass over many MiB first
evicts it: slower, as measured in BENCHMARKS.md, "Clean read path"); video-level rows are small, so a reader of whole
batches checks the batch checksum (a few hash calls per batch) and falls back to the row
checksums only in a damaged batch; one that takes every k-th row (loader slots) checks the rows it takes. Each record batch is validated before use. Shards can be
read from fsspec URLs (large block reads); local ones are memory-mapped.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_right
from typing import Callable, Iterator, NamedTuple

import numpy as np
import pyarrow as pa

import google_crc32c
import xxhash

from .errors import RecordError
from .paths import is_url, open_binary
from .records import SEGMENT_FIELDS, RecordSchema, SparseFrames, VideoRecord, label_range_error

ARROW_MAGIC = b"ARROW1"
FORMAT_VERSION = "3"
_META = "yt8m"


class _Crc32c:
    """google-crc32c behind the streaming interface of xxhash's hashers (format 2 shards)."""

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data) -> None:
        self._crc = google_crc32c.extend(self._crc, data)

    def intdigest(self) -> int:
        return self._crc


class Checksum(NamedTuple):
    """One checksum kind: its per-row column, its per-batch column (the batch sum repeated on each
    row: one hash call per column, not per row), their Arrow type and a streaming hasher."""

    row_column: str
    batch_column: str
    arrow_type: pa.DataType
    hasher: Callable


XXH3 = Checksum("xxh3", "batch_xxh3", pa.uint64(), xxhash.xxh3_64)  # written since format 3
CRC32C = Checksum("crc32c", "batch_crc32c", pa.uint32(), _Crc32c)  # format 2: read and checked
CHECKSUMS = (XXH3, CRC32C)


def arrow_schema(schema: RecordSchema) -> pa.Schema:
    fields = [pa.field("id", pa.string()), pa.field("labels", pa.list_(pa.int32())), pa.field("num_frames", pa.int32())]
    for name, size in zip(schema.feature_names, schema.feature_sizes):
        fields.append(pa.field(name, pa.large_binary() if schema.frame_level else pa.list_(pa.float32(), size)))
    if schema.frame_level:
        fields += [
            pa.field("segment_start_times", pa.list_(pa.int64())),
            pa.field("segment_end_times", pa.list_(pa.int64())),
            pa.field("segment_labels", pa.list_(pa.int32())),
            pa.field("segment_scores", pa.list_(pa.float32())),
        ]
        for name in schema.sparse_features:
            fields += [
                pa.field(f"{name}_ids", pa.list_(pa.int32())),
                pa.field(f"{name}_scores", pa.list_(pa.float32())),
                pa.field(f"{name}_offsets", pa.list_(pa.int64())),
            ]
    fields += [pa.field(XXH3.row_column, XXH3.arrow_type), pa.field(XXH3.batch_column, XXH3.arrow_type)]
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": schema.kind,
        "feature_names": list(schema.feature_names),
        "feature_sizes": list(schema.feature_sizes),
        "sparse_features": list(schema.sparse_features),
        "num_classes": schema.num_classes,
    }
    return pa.schema(fields, metadata={_META: json.dumps(meta)})


def shard_schema(path: str) -> RecordSchema:
    """The RecordSchema a shard was written with."""
    source = _open_source(path)
    try:
        return _stored_schema(_open_reader(source, path), path)
    finally:
        source.close()


_ARROW_ERRORS = (pa.ArrowException, ValueError, TypeError, KeyError, IndexError, OSError, UnicodeDecodeError)


def _open_source(path: str):
    """A memory map for local files; an fsspec file with large block reads behind a URL."""
    if is_url(path):
        return pa.PythonFile(open_binary(path), mode="r")
    return pa.memory_map(path, "r")


def _open_reader(source, path: str) -> pa.ipc.RecordBatchFileReader:
    try:
        return pa.ipc.open_file(source)
    except _ARROW_ERRORS as exc:
        raise RecordError(f"not a readable Arrow IPC file ({type(exc).__name__}: {exc})", path=path, field="arrow") from None


def _stored_schema(reader: pa.ipc.RecordBatchFileReader, path: str) -> RecordSchema:
    meta = reader.schema.metadata or {}
    if _META.encode() not in meta:
        raise RecordError("Arrow file without yt8m metadata (not written by yt8m convert)", path=path, field="arrow")
    try:
        info = json.loads(meta[_META.encode()])
        return RecordSchema(
            kind=info["kind"],
            feature_names=tuple(info["feature_names"]),
            feature_sizes=tuple(int(s) for s in info["feature_sizes"]),
            sparse_features=tuple(info.get("sparse_features", ())),
            num_classes=info.get("num_classes"),
        )
    except _ARROW_ERRORS + (json.JSONDecodeError,) as exc:
        raise RecordError(f"damaged yt8m metadata ({type(exc).__name__}: {exc})", path=path, field="arrow") from None


def _lists_of(schema: RecordSchema) -> list[str]:
    return list(SEGMENT_FIELDS) + [f"{n}_{p}" for n in schema.sparse_features for p in ("ids", "scores", "offsets")] if schema.frame_level else []


def row_checksum(kind: Checksum, id_bytes: bytes, labels: np.ndarray, features: list, lists: list) -> int:
    """One row's sum as stored: id, int32 labels, feature bytes, then each list (None marked)."""
    hasher = kind.hasher()
    hasher.update(id_bytes)
    hasher.update(labels)
    for value in features:
        hasher.update(value)
    for value in lists:
        if value is None:
            hasher.update(b"\x00")
        else:
            hasher.update(b"\x01")
            hasher.update(value)
    return hasher.intdigest()


class ShardWriter:
    """Buffer records and write them as Arrow record batches; temp file renamed on a clean close."""

    def __init__(self, path: str | os.PathLike, schema: RecordSchema, batch_size: int = 256) -> None:
        self.path, self.schema, self.batch_size = os.fspath(path), schema, batch_size
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._tmp = f"{self.path}.tmp-{os.getpid()}"
        self._arrow_schema = arrow_schema(schema)
        self._sink = pa.OSFile(self._tmp, "wb")
        self._writer = pa.ipc.new_file(self._sink, self._arrow_schema)
        self._rows: list[VideoRecord] = []
        self.count = 0

    def write(self, record: VideoRecord) -> None:
        self._rows.append(record)
        self.count += 1
        if len(self._rows) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        rows, schema = self._rows, self.schema
        labels = [np.asarray(r.labels, np.int32) for r in rows]
        cols: dict[str, pa.Array] = {
            "id": pa.array([r.id for r in rows], pa.string()),
            "labels": pa.array(labels, pa.list_(pa.int32())),
            "num_frames": pa.array([r.num_frames for r in rows], pa.int32()),
        }
        features = {}
        for name, size in zip(schema.feature_names, schema.feature_sizes):
            if schema.frame_level:
                features[name] = [np.ascontiguousarray(r.features[name], np.uint8).reshape(-1) for r in rows]
                cols[name] = pa.array([f.tobytes() for f in features[name]], pa.large_binary())
            else:
                flat = np.stack([np.asarray(r.features[name], np.float32) for r in rows])
                features[name] = list(flat)
                cols[name] = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), size)
        lists: dict[str, list] = {}
        if schema.frame_level:
            for key, dtype in zip(SEGMENT_FIELDS, (np.int64, np.int64, np.int32, np.float32)):
                lists[key] = [None if getattr(r, key) is None else np.asarray(getattr(r, key), dtype) for r in rows]
            for name in schema.sparse_features:
                for part, dtype in (("ids", np.int32), ("scores", np.float32), ("offsets", np.int64)):
                    lists[f"{name}_{part}"] = [np.asarray(getattr(r.sparse[name], part), dtype) for r in rows]
            for key, values in lists.items():
                cols[key] = pa.array(values, self._arrow_schema.field(key).type)
        cols[XXH3.row_column] = pa.array(
            [
                row_checksum(XXH3, r.id.encode("utf-8"), labels[i], [features[n][i] for n in schema.feature_names], [lists[k][i] for k in lists])
                for i, r in enumerate(rows)
            ],
            XXH3.arrow_type,
        )
        names = [f.name for f in self._arrow_schema if f.name != XXH3.batch_column]
        digest = _Batch(pa.RecordBatch.from_arrays([cols[n] for n in names], names=names), schema).digest()
        cols[XXH3.batch_column] = pa.array([digest] * len(rows), XXH3.arrow_type)
        batch = pa.record_batch([cols[f.name] for f in self._arrow_schema], schema=self._arrow_schema)
        self._writer.write_batch(batch)
        self._rows = []

    def close(self, *, discard: bool = False) -> None:
        if self._writer is None:
            return
        if not discard:
            self._flush()
        self._writer.close()
        self._sink.close()
        self._writer = None
        if discard:
            os.unlink(self._tmp)
        else:
            os.replace(self._tmp, self.path)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(discard=exc_type is not None)


def _list_parts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values) of a list array without copying."""
    return arr.offsets.to_numpy(), arr.values.to_numpy(zero_copy_only=False)


class _Batch:
    """Numpy views of all of one record batch's columns (validated first: offsets inside their buffers)."""

    def __init__(self, batch: pa.RecordBatch, stored: RecordSchema, num_classes: int | None = None) -> None:
        """`num_classes`: find the rows holding a label >= it (None: no label range check)."""
        batch.validate(full=True)
        self.ids = batch.column("id").to_pylist()
        id_buffers = batch.column("id").buffers()
        self.id_bytes = (
            np.frombuffer(id_buffers[1], np.int32, count=batch.num_rows + 1),
            np.frombuffer(id_buffers[2], np.uint8) if id_buffers[2] is not None else np.zeros(0, np.uint8),
        )
        self.label_offsets, self.label_values = _list_parts(batch.column("labels"))
        self.labels64 = self.label_values.astype(np.int64)  # records get views: one conversion per batch
        over = np.flatnonzero(self.label_values >= num_classes) if num_classes else np.zeros(0, np.intp)
        self.rows_with_labels_out_of_range = set((np.searchsorted(self.label_offsets, over, "right") - 1).tolist())
        self.features = {}
        for name in stored.feature_names:
            col = batch.column(name)
            if stored.frame_level:
                buffers = col.buffers()
                offsets = np.frombuffer(buffers[1], dtype=np.int64, count=len(col) + 1 + col.offset)[col.offset:]
                data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
                self.features[name] = (offsets, data)
            else:
                self.features[name] = col.values.to_numpy().reshape(len(col), -1)
        self.lists = {}
        for key in _lists_of(stored):
            col = batch.column(key)
            self.lists[key] = (col.is_valid().to_numpy(zero_copy_only=False), *_list_parts(col))
        self.present = {key: valid.any() for key, (valid, *_) in self.lists.items()}  # most batches lack segments
        names = batch.schema.names
        self.checksum = next((kind for kind in CHECKSUMS if kind.row_column in names), None)  # format 1: none
        self.checksums = batch.column(self.checksum.row_column).to_numpy() if self.checksum else None
        has_digest = self.checksum is not None and self.checksum.batch_column in names and batch.num_rows
        self.expected_digest = int(batch.column(self.checksum.batch_column)[0].as_py()) if has_digest else None
        self.intact: bool | None = None  # batch checksum verified (None: not yet)

    def digest(self) -> int:
        """The batch sum over every column's used bytes (the writer computes it from these same views)."""
        hasher = self.checksum.hasher()
        offsets, data = self.id_bytes
        parts = [offsets, data[offsets[0] : offsets[-1]], self.label_offsets, self.label_values]
        for value in self.features.values():
            if isinstance(value, tuple):
                offsets, data = value
                parts += [offsets, data[offsets[0] : offsets[-1]]]
            else:
                parts.append(np.ascontiguousarray(value))
        for valid, offsets, values in self.lists.values():
            parts += [valid.view(np.uint8), offsets, values]
        parts.append(self.checksums)
        for part in parts:
            hasher.update(part)
        return hasher.intdigest()

    def list_value(self, key: str, row: int) -> np.ndarray | None:
        if not self.present[key]:
            return None
        valid, offsets, values = self.lists[key]
        return values[offsets[row] : offsets[row + 1]] if valid[row] else None


class ShardFile:
    """Random access to the records of one shard (memory-mapped, or read through fsspec)."""

    def __init__(self, path: str, schema: RecordSchema | None = None, *, verify: bool = True, row_checks: bool | None = None) -> None:
        """`verify=False` skips the checksums (not the structural checks); `row_checks=True` checks
        each row read on its own instead of whole batches (for readers that take every k-th row);
        None: row checks for frame-level shards, batch checks for video-level ones (module docstring)."""
        self.path, self.verify = path, verify
        self._source = _open_source(path)
        try:
            self._reader = _open_reader(self._source, path)
            self.stored = _stored_schema(self._reader, path)
            self.schema = self.stored if schema is None else _compatible(self.stored, schema, path)
            self._frame_level = self.stored.frame_level
            self.row_checks = self._frame_level if row_checks is None else row_checks
            self._wanted = list(zip(self.schema.feature_names, self.schema.feature_sizes))
            self._starts = [0]
            for i in range(self._reader.num_record_batches):
                self._starts.append(self._starts[-1] + self._batch_rows(i))
        except BaseException:
            self._source.close()
            raise
        self._cache: tuple[int, _Batch] | None = None

    def _batch_rows(self, b: int) -> int:
        try:
            return self._reader.get_batch(b).num_rows
        except _ARROW_ERRORS as exc:
            raise RecordError(f"record batch {b} unreadable ({type(exc).__name__}: {exc})", path=self.path, field="arrow") from None

    def __len__(self) -> int:
        return self._starts[-1]

    def _batch_intact(self, batch: _Batch) -> bool:
        """Whether the batch checksum vouches for all its rows (only for readers of whole batches)."""
        if self.row_checks or batch.expected_digest is None:
            return False
        if batch.intact is None:
            batch.intact = batch.digest() == batch.expected_digest
        return batch.intact

    def _batch(self, b: int) -> _Batch:
        if self._cache is None or self._cache[0] != b:
            try:
                batch = _Batch(self._reader.get_batch(b), self.stored, self.schema.num_classes)
            except _ARROW_ERRORS as exc:
                raise RecordError(f"record batch {b} damaged ({type(exc).__name__}: {exc})", path=self.path, index=self._starts[b], field="arrow") from None
            self._cache = (b, batch)
        return self._cache[1]

    def record(self, index: int) -> VideoRecord:
        if not 0 <= index < len(self):
            raise IndexError(f"{self.path}: record {index} out of range [0, {len(self)})")
        b = bisect_right(self._starts, index) - 1
        batch, row = self._batch(b), index - self._starts[b]
        schema = self.schema
        lo, hi = batch.label_offsets[row], batch.label_offsets[row + 1]
        labels = batch.label_values[lo:hi]
        frame_level = self._frame_level
        if frame_level:
            parts = {}
            for name, (offsets, data) in batch.features.items():
                parts[name] = data[offsets[row] : offsets[row + 1]]
            lists = {key: batch.list_value(key, row) for key in batch.lists}
        else:
            parts = {name: matrix[row] for name, matrix in batch.features.items()}
            lists = {}
        if self.verify and batch.checksums is not None and not self._batch_intact(batch):
            if row_checksum(batch.checksum, batch.ids[row].encode("utf-8"), labels, parts.values(), lists.values()) != int(batch.checksums[row]):
                raise RecordError("row checksum mismatch (the shard is damaged)", path=self.path, index=index, field=batch.checksum.row_column)
        features = {}
        for name, size in self._wanted:
            value = parts[name]
            if frame_level:
                if value.size % size:
                    raise RecordError(f"{value.size} bytes, not a whole number of {size}-byte frames", path=self.path, index=index, field=name)
                value = value.reshape(-1, size)
            features[name] = value
        if row in batch.rows_with_labels_out_of_range:
            raise label_range_error(int(labels.max()), schema).located(path=self.path, index=index)
        record = VideoRecord(batch.ids[row], batch.labels64[lo:hi], features)
        if frame_level:
            if lists["segment_start_times"] is not None:
                for key in SEGMENT_FIELDS:
                    value = lists[key]
                    setattr(record, key, value.astype(np.int64) if key != "segment_scores" and value is not None else value)
            for name in schema.sparse_features:
                record.sparse[name] = SparseFrames(lists[f"{name}_ids"], lists[f"{name}_scores"], lists[f"{name}_offsets"])
        return record

    def iter_range(self, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[VideoRecord]:
        stop = len(self) if stop is None else min(stop, len(self))
        for i in range(start, stop, step):
            yield self.record(i)

    def close(self) -> None:
        self._cache = None
        self._source.close()


def _compatible(stored: RecordSchema, wanted: RecordSchema, path: str) -> RecordSchema:
    """Use the stored layout, but fail clearly when the caller asks for something it lacks."""
    if stored.frame_level != wanted.frame_level:
        raise RecordError(f"shard holds {stored.kind}-level records, asked for {wanted.kind}", path=path)
    for name, size in zip(wanted.feature_names, wanted.feature_sizes):
        if name not in stored.feature_names:
            raise RecordError(f"shard has features {list(stored.feature_names)}", path=path, field=name)
        if stored.feature_sizes[stored.feature_names.index(name)] != size:
            raise RecordError(
                f"size {stored.feature_sizes[stored.feature_names.index(name)]} in the shard, expected {size}", path=path, field=name
            )
    for name in wanted.sparse_features:
        if name not in stored.sparse_features:
            raise RecordError("shard has no such sparse feature", path=path, field=name)
    return stored.replace(
        kind=wanted.kind,
        feature_names=wanted.feature_names,
        feature_sizes=wanted.feature_sizes,
        sparse_features=wanted.sparse_features,
        num_classes=wanted.num_classes,
    )
