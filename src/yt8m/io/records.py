"""The three record kinds of YouTube-8M and their official encodings.

- video-level: tf.train.Example with `id`, `labels`, `mean_rgb` [1024] and `mean_audio` [128] floats;
- frame-level: tf.train.SequenceExample, context `id`, `labels`; feature lists `rgb` (1024 bytes per
  frame) and `audio` (128 bytes per frame);
- segment-rated: frame-level plus context lists `segment_start_times`, `segment_end_times`,
  `segment_labels`, `segment_scores`.

Frame-level records may also carry sparse per-frame base-classifier outputs (MiCRObE, see
docs/synthetic.md): for a sparse feature `im`, feature lists `im_ids` (Int64List per frame) and
`im_scores` (FloatList per frame).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from . import example_pb
from .errors import RecordError
from .wire import frames_from_span, split_sequence_example

KINDS = ("video", "frame", "segment")
SEGMENT_FIELDS = ("segment_start_times", "segment_end_times", "segment_labels", "segment_scores")
DEFAULT_NUM_CLASSES = 3862
SEGMENT_SIZE = 5


@dataclass
class SparseFrames:
    """Sparse per-frame scores: frame t owns ids[offsets[t]:offsets[t+1]] and the matching scores."""

    ids: np.ndarray  # int32 [nnz]
    scores: np.ndarray  # float32 [nnz]
    offsets: np.ndarray  # int64 [frames + 1]

    @property
    def num_frames(self) -> int:
        return len(self.offsets) - 1

    def frame(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.offsets[t], self.offsets[t + 1]
        return self.ids[lo:hi], self.scores[lo:hi]

    @classmethod
    def from_lists(cls, ids: Sequence[Sequence[int]], scores: Sequence[Sequence[float]]) -> "SparseFrames":
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(x) for x in ids])
        flat_ids = np.concatenate([np.asarray(x, dtype=np.int32) for x in ids]) if ids else np.zeros(0, np.int32)
        flat_scores = np.concatenate([np.asarray(x, dtype=np.float32) for x in scores]) if scores else np.zeros(0, np.float32)
        return cls(flat_ids, flat_scores, offsets)


@dataclass
class VideoRecord:
    """One video. Frame-level features are uint8 [frames, dim]; video-level ones float32 [dim].

    `labels` is empty for unlabeled (test) records. Segment fields are None unless present.
    """

    id: str
    labels: np.ndarray
    features: dict[str, np.ndarray]
    segment_start_times: np.ndarray | None = None
    segment_end_times: np.ndarray | None = None
    segment_labels: np.ndarray | None = None
    segment_scores: np.ndarray | None = None
    sparse: dict[str, SparseFrames] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        """Frames of the first feature (the official reader's rule); 1 for video-level records."""
        first = next(iter(self.features.values()), None)
        return 1 if first is None or first.ndim == 1 else int(first.shape[0])

    @property
    def has_segments(self) -> bool:
        return self.segment_start_times is not None


@dataclass(frozen=True)
class RecordSchema:
    """What to read or write: kind, feature names and sizes, id keys, vocabulary size.

    Defaults follow the official readers (v2/v3 data). `num_classes=None` disables the label
    range check; `id_keys` are tried in order (v1 data uses `video_id`).
    """

    kind: str = "frame"
    feature_names: tuple[str, ...] = ("rgb", "audio")
    feature_sizes: tuple[int, ...] = (1024, 128)
    num_classes: int | None = DEFAULT_NUM_CLASSES
    id_keys: tuple[str, ...] = ("id", "video_id")
    labels_key: str = "labels"
    sparse_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown record kind {self.kind!r}: expected one of {', '.join(KINDS)}")
        if len(self.feature_names) != len(self.feature_sizes):
            raise ValueError(f"feature_names {self.feature_names} and feature_sizes {self.feature_sizes} differ in length")

    @property
    def frame_level(self) -> bool:
        return self.kind != "video"

    @property
    def feature_dim(self) -> int:
        return int(sum(self.feature_sizes))

    @classmethod
    def for_kind(cls, kind: str, **overrides) -> "RecordSchema":
        """The official defaults for a kind: `mean_rgb`/`mean_audio` for video, `rgb`/`audio` otherwise."""
        if kind == "video":
            overrides.setdefault("feature_names", ("mean_rgb", "mean_audio"))
        overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        return cls(kind=kind, **overrides)

    def replace(self, **changes) -> "RecordSchema":
        return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------------------------
# decoding


def _context_id(features, schema: RecordSchema) -> str:
    for key in schema.id_keys:
        if key in features:
            values = features[key].bytes_list.value
            if len(values) != 1:
                raise RecordError(f"expected exactly one id, found {len(values)}", field=key)
            try:
                return values[0].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordError(f"id is not UTF-8: {values[0]!r}", field=key) from exc
    raise RecordError(f"missing video id (looked for {' or '.join(schema.id_keys)})", field=schema.id_keys[0])


def label_range_error(label: int, schema: RecordSchema) -> RecordError:
    """The error for a label outside the vocabulary, the same from every reader."""
    return RecordError(f"label {label} outside [0, {schema.num_classes})", field=schema.labels_key)


def _labels(features, schema: RecordSchema) -> np.ndarray:
    if schema.labels_key not in features:
        return np.zeros(0, dtype=np.int64)
    feature = features[schema.labels_key]
    kind = feature.WhichOneof("kind")
    if kind not in ("int64_list", None):  # None: an empty Feature, i.e. no labels
        raise RecordError(f"labels are stored as {kind}, the official format uses int64_list", field=schema.labels_key)
    labels = np.asarray(feature.int64_list.value, dtype=np.int64)
    if labels.size:
        bad = (labels < 0) | (labels >= schema.num_classes) if schema.num_classes else labels < 0
        if bad.any():
            raise label_range_error(int(labels[bad][0]), schema)
    return labels


def _int_list(features, key: str) -> np.ndarray | None:
    return np.asarray(features[key].int64_list.value, dtype=np.int64) if key in features else None


def _segments(context, schema: RecordSchema) -> dict[str, np.ndarray | None]:
    present = [key for key in SEGMENT_FIELDS if key in context]
    if not present:
        return {}
    missing = [key for key in SEGMENT_FIELDS if key not in context and key != "segment_end_times"]
    if missing:
        raise RecordError("segment fields come together; this record lacks " + ", ".join(missing), field=missing[0])
    out = {
        "segment_start_times": _int_list(context, "segment_start_times"),
        "segment_end_times": _int_list(context, "segment_end_times"),
        "segment_labels": _int_list(context, "segment_labels"),
        "segment_scores": np.asarray(context["segment_scores"].float_list.value, dtype=np.float32),
    }
    n = len(out["segment_start_times"])
    for key, values in out.items():
        if values is not None and len(values) != n:
            raise RecordError(f"{len(values)} values but {n} segment_start_times", field=key)
    labels = out["segment_labels"]
    if schema.num_classes and labels.size and ((labels < 0) | (labels >= schema.num_classes)).any():
        raise RecordError(f"segment label outside [0, {schema.num_classes})", field="segment_labels")
    return out


def _frames(feature_lists, name: str, size: int) -> np.ndarray:
    if name not in feature_lists:
        raise RecordError("missing frame feature list", field=name)
    frames = feature_lists[name].feature
    try:
        data = b"".join([f.bytes_list.value[0] for f in frames])
    except IndexError:
        bad = next(t for t, f in enumerate(frames) if len(f.bytes_list.value) != 1)
        raise RecordError(f"frame {bad} holds {len(frames[bad].bytes_list.value)} byte strings, expected 1", field=name) from None
    if len(data) != len(frames) * size:
        bad = next(t for t, f in enumerate(frames) if len(f.bytes_list.value[0]) != size)
        raise RecordError(f"frame {bad} has {len(frames[bad].bytes_list.value[0])} bytes, expected {size}", field=name)
    return np.frombuffer(data, dtype=np.uint8).reshape(len(frames), size)


def _sparse(feature_lists, name: str, num_classes_hint: int | None = None) -> SparseFrames:
    ids_key, scores_key = f"{name}_ids", f"{name}_scores"
    for key in (ids_key, scores_key):
        if key not in feature_lists:
            raise RecordError("missing sparse feature list", field=key)
    id_frames, score_frames = feature_lists[ids_key].feature, feature_lists[scores_key].feature
    if len(id_frames) != len(score_frames):
        raise RecordError(f"{len(id_frames)} id frames but {len(score_frames)} score frames", field=scores_key)
    counts = np.fromiter((len(f.int64_list.value) for f in id_frames), dtype=np.int64, count=len(id_frames))
    ids = np.fromiter((v for f in id_frames for v in f.int64_list.value), dtype=np.int64, count=int(counts.sum()))
    scores = np.fromiter((v for f in score_frames for v in f.float_list.value), dtype=np.float32)
    if scores.size != ids.size:
        raise RecordError(f"{scores.size} scores for {ids.size} ids", field=scores_key)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return SparseFrames(ids.astype(np.int32), scores, offsets)


def decode_record(data: bytes, schema: RecordSchema) -> VideoRecord:
    """Parse one serialized Example (video) or SequenceExample (frame, segment)."""
    if schema.kind == "video":
        msg = example_pb.Example()
        try:
            msg.ParseFromString(data)
        except Exception as exc:  # protobuf raises DecodeError
            raise RecordError(f"not a tf.train.Example: {exc}") from exc
        context = msg.features.feature
        features = {}
        for name, size in zip(schema.feature_names, schema.feature_sizes):
            if name not in context:
                raise RecordError("missing video-level feature", field=name)
            values = np.asarray(context[name].float_list.value, dtype=np.float32)
            if values.size != size:
                raise RecordError(f"{values.size} floats, expected {size}", field=name)
            features[name] = values
        return VideoRecord(_context_id(context, schema), _labels(context, schema), features)
    fast = _decode_plain_frames(data, schema)
    if fast is not None:
        return fast
    msg = example_pb.SequenceExample()
    try:
        msg.ParseFromString(data)
    except Exception as exc:
        raise RecordError(f"not a tf.train.SequenceExample: {exc}") from exc
    context = msg.context.feature
    lists = msg.feature_lists.feature_list
    if not lists and any(feature.WhichOneof("kind") == "float_list" for feature in context.values()):
        raise RecordError("no frame features but video-level float features: read it with kind='video'", field=schema.feature_names[0])
    features = {name: _frames(lists, name, size) for name, size in zip(schema.feature_names, schema.feature_sizes)}
    sparse = {name: _sparse(lists, name) for name in schema.sparse_features}
    return VideoRecord(
        _context_id(context, schema), _labels(context, schema), features, sparse=sparse, **_segments(context, schema)
    )


def _decode_plain_frames(data: bytes, schema: RecordSchema) -> VideoRecord | None:
    """The fast path (see wire.py) for records laid out as the official writer lays them out."""
    if schema.sparse_features:
        return None
    split = split_sequence_example(data)
    if split is None or split[0] is None:
        return None
    (c_start, c_stop), lists = split
    features = {}
    for name, size in zip(schema.feature_names, schema.feature_sizes):
        if name not in lists:
            return None
        frames = frames_from_span(data, lists[name], size)
        if frames is None:
            return None
        features[name] = frames
    context_msg = example_pb.Features()
    try:
        context_msg.ParseFromString(data[c_start:c_stop])
    except Exception:
        return None
    context = context_msg.feature
    return VideoRecord(_context_id(context, schema), _labels(context, schema), features, **_segments(context, schema))


# ----------------------------------------------------------------------------------------------
# encoding


def _check_features(record: VideoRecord, schema: RecordSchema) -> None:
    for name, size in zip(schema.feature_names, schema.feature_sizes):
        if name not in record.features:
            raise RecordError(f"record {record.id!r} has no feature", field=name)
        value = record.features[name]
        if schema.kind == "video":
            if value.shape != (size,):
                raise RecordError(f"shape {value.shape}, expected ({size},)", field=name)
        elif value.dtype != np.uint8 or value.ndim != 2 or value.shape[1] != size:
            raise RecordError(f"expected uint8 [frames, {size}], got {value.dtype} {value.shape}", field=name)
    if schema.num_classes and record.labels.size and (
        (record.labels < 0).any() or (record.labels >= schema.num_classes).any()
    ):
        raise RecordError(f"label outside [0, {schema.num_classes})", field=schema.labels_key)


def encode_record(record: VideoRecord, schema: RecordSchema, *, write_labels: bool = True) -> bytes:
    """Serialize a record exactly as the official data holds it (first id key, labels as int64)."""
    _check_features(record, schema)
    id_key = schema.id_keys[0]
    if schema.kind == "video":
        msg = example_pb.Example()
        context = msg.features.feature
        for name in schema.feature_names:
            context[name].float_list.value.extend(np.asarray(record.features[name], dtype=np.float32).tolist())
    else:
        msg = example_pb.SequenceExample()
        context = msg.context.feature
        lists = msg.feature_lists.feature_list
        for name in schema.feature_names:
            frames = np.ascontiguousarray(record.features[name])
            target = lists[name].feature
            for row in frames:
                target.add().bytes_list.value.append(row.tobytes())
        for name in schema.sparse_features:
            sparse = record.sparse[name]
            ids_list, scores_list = lists[f"{name}_ids"].feature, lists[f"{name}_scores"].feature
            for t in range(sparse.num_frames):
                ids, scores = sparse.frame(t)
                ids_list.add().int64_list.value.extend(ids.tolist())
                scores_list.add().float_list.value.extend(scores.tolist())
        if record.segment_start_times is not None:
            starts = np.asarray(record.segment_start_times, dtype=np.int64)
            ends = record.segment_end_times if record.segment_end_times is not None else starts + SEGMENT_SIZE
            context["segment_start_times"].int64_list.value.extend(starts.tolist())
            context["segment_end_times"].int64_list.value.extend(np.asarray(ends, dtype=np.int64).tolist())
            context["segment_labels"].int64_list.value.extend(np.asarray(record.segment_labels, dtype=np.int64).tolist())
            context["segment_scores"].float_list.value.extend(np.asarray(record.segment_scores, dtype=np.float32).tolist())
    context[id_key].bytes_list.value.append(record.id.encode("utf-8"))
    if write_labels:
        context[schema.labels_key].int64_list.value.extend(np.asarray(record.labels, dtype=np.int64).tolist())
    return msg.SerializeToString(deterministic=True)  # map keys sorted: same record, same bytes in every process


def records_equal(a: VideoRecord, b: VideoRecord) -> bool:
    """Field-by-field equality (arrays compared by value)."""
    if a.id != b.id or not np.array_equal(a.labels, b.labels) or a.features.keys() != b.features.keys():
        return False
    if any(not np.array_equal(a.features[k], b.features[k]) for k in a.features):
        return False
    for key in SEGMENT_FIELDS:
        x, y = getattr(a, key), getattr(b, key)
        if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y)):
            return False
    if a.sparse.keys() != b.sparse.keys():
        return False
    return all(
        np.array_equal(a.sparse[k].ids, b.sparse[k].ids)
        and np.array_equal(a.sparse[k].scores, b.sparse[k].scores)
        and np.array_equal(a.sparse[k].offsets, b.sparse[k].offsets)
        for k in a.sparse
    )


def iter_encoded(records: Iterable[VideoRecord], schema: RecordSchema) -> Iterable[bytes]:
    for record in records:
        yield encode_record(record, schema)
