"""Columnar shards: Apache Arrow IPC files, memory-mapped, features kept as uint8.

One row per video. Columns: `id` (string), `labels` (list<int32>), `num_frames` (int32), one
`large_binary` column per frame feature holding the video's frames back to back (frames x size
bytes) or a `fixed_size_list<float32>` per video-level feature, the segment fields as lists, and
per sparse feature `<name>_ids`, `<name>_scores`, `<name>_offsets`. The schema metadata records the
kind, feature names and sizes. Reading slices the mapped buffers: no copy, no parse.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_right
from typing import Iterator

import numpy as np
import pyarrow as pa

from .errors import RecordError
from .records import SEGMENT_FIELDS, RecordSchema, SparseFrames, VideoRecord

ARROW_MAGIC = b"ARROW1"
FORMAT_VERSION = "1"
_META = "yt8m"


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
    with pa.memory_map(path, "r") as source:
        meta = pa.ipc.open_file(source).schema.metadata or {}
    if _META.encode() not in meta:
        raise RecordError("Arrow file without yt8m metadata (not written by yt8m convert)", path=path)
    info = json.loads(meta[_META.encode()])
    return RecordSchema(
        kind=info["kind"],
        feature_names=tuple(info["feature_names"]),
        feature_sizes=tuple(info["feature_sizes"]),
        sparse_features=tuple(info.get("sparse_features", ())),
        num_classes=info.get("num_classes"),
    )


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
        cols: dict[str, pa.Array] = {
            "id": pa.array([r.id for r in rows], pa.string()),
            "labels": pa.array([np.asarray(r.labels, np.int32) for r in rows], pa.list_(pa.int32())),
            "num_frames": pa.array([r.num_frames for r in rows], pa.int32()),
        }
        for name, size in zip(schema.feature_names, schema.feature_sizes):
            if schema.frame_level:
                cols[name] = pa.array([np.ascontiguousarray(r.features[name], np.uint8).tobytes() for r in rows], pa.large_binary())
            else:
                flat = np.stack([np.asarray(r.features[name], np.float32) for r in rows]).reshape(-1)
                cols[name] = pa.FixedSizeListArray.from_arrays(pa.array(flat), size)
        if schema.frame_level:
            for key, typ in zip(SEGMENT_FIELDS, (pa.int64(), pa.int64(), pa.int32(), pa.float32())):
                cols[key] = pa.array([getattr(r, key) for r in rows], pa.list_(typ))
            for name in schema.sparse_features:
                cols[f"{name}_ids"] = pa.array([r.sparse[name].ids for r in rows], pa.list_(pa.int32()))
                cols[f"{name}_scores"] = pa.array([r.sparse[name].scores for r in rows], pa.list_(pa.float32()))
                cols[f"{name}_offsets"] = pa.array([r.sparse[name].offsets for r in rows], pa.list_(pa.int64()))
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
    """Numpy views of one record batch's columns."""

    def __init__(self, batch: pa.RecordBatch, schema: RecordSchema) -> None:
        self.ids = batch.column("id").to_pylist()
        self.label_offsets, self.label_values = _list_parts(batch.column("labels"))
        self.features = {}
        for name in schema.feature_names:
            col = batch.column(name)
            if schema.frame_level:
                buffers = col.buffers()
                offsets = np.frombuffer(buffers[1], dtype=np.int64, count=len(col) + 1 + col.offset)[col.offset:]
                data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
                self.features[name] = (offsets, data)
            else:
                self.features[name] = col.values.to_numpy().reshape(len(col), -1)
        self.lists = {}
        if schema.frame_level:
            names = list(SEGMENT_FIELDS) + [f"{n}_{p}" for n in schema.sparse_features for p in ("ids", "scores", "offsets")]
            for key in names:
                col = batch.column(key)
                self.lists[key] = (col.is_valid().to_numpy(zero_copy_only=False), *_list_parts(col))


class ShardFile:
    """Random access to the records of one shard (memory-mapped)."""

    def __init__(self, path: str, schema: RecordSchema | None = None) -> None:
        self.path = path
        stored = shard_schema(path)
        self.schema = stored if schema is None else _compatible(stored, schema, path)
        self._source = pa.memory_map(path, "r")
        self._reader = pa.ipc.open_file(self._source)
        self._starts = [0]
        for i in range(self._reader.num_record_batches):
            self._starts.append(self._starts[-1] + self._reader.get_batch(i).num_rows)
        self._cache: tuple[int, _Batch] | None = None

    def __len__(self) -> int:
        return self._starts[-1]

    def _batch(self, b: int) -> _Batch:
        if self._cache is None or self._cache[0] != b:
            self._cache = (b, _Batch(self._reader.get_batch(b), self.schema))
        return self._cache[1]

    def record(self, index: int) -> VideoRecord:
        if not 0 <= index < len(self):
            raise IndexError(f"{self.path}: record {index} out of range [0, {len(self)})")
        b = bisect_right(self._starts, index) - 1
        batch, row = self._batch(b), index - self._starts[b]
        schema = self.schema
        labels = batch.label_values[batch.label_offsets[row] : batch.label_offsets[row + 1]].astype(np.int64)
        features = {}
        for name, size in zip(schema.feature_names, schema.feature_sizes):
            if schema.frame_level:
                offsets, data = batch.features[name]
                features[name] = data[offsets[row] : offsets[row + 1]].reshape(-1, size)
            else:
                features[name] = batch.features[name][row]
        record = VideoRecord(batch.ids[row], labels, features)
        if schema.frame_level:
            lists = {}
            for key, (valid, offsets, values) in batch.lists.items():
                lists[key] = values[offsets[row] : offsets[row + 1]] if valid[row] else None
            if lists["segment_start_times"] is not None:
                for key in SEGMENT_FIELDS:
                    setattr(record, key, lists[key].astype(np.int64) if key != "segment_scores" else lists[key])
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


def is_shard(path: str) -> bool:
    from .paths import open_binary

    with open_binary(path) as f:
        return f.read(6) == ARROW_MAGIC
