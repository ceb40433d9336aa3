"""Guess a file's RecordSchema from its first record (kind, feature names and sizes, sparse lists)."""

from __future__ import annotations

from . import example_pb
from .errors import RecordError
from .reader import file_format
from .records import SEGMENT_FIELDS, RecordSchema
from .shards import shard_schema
from .tfrecord import iter_tfrecord


def detect_schema(path: str, num_classes: int | None = None) -> RecordSchema:
    """The schema of `path`: shards store it; for TFRecords the first record is examined.

    Frame-level records are SequenceExamples with byte feature lists (size = bytes per frame);
    video-level records are Examples with float features. Segment fields make the kind "segment".
    """
    if file_format(path) == "shard":
        schema = shard_schema(path)
        return schema if num_classes is None else schema.replace(num_classes=num_classes)
    first = next(iter_tfrecord(path), None)
    if first is None:
        raise RecordError("empty file: no record to detect the format from", path=path)
    _, _, data = first
    seq = example_pb.SequenceExample()
    seq.ParseFromString(data)
    lists = seq.feature_lists.feature_list
    options = {"num_classes": num_classes}
    if lists:
        names, sizes, sparse = [], [], []
        for name in sorted(lists, key=lambda n: (n not in ("rgb", "audio"), n != "rgb", n)):
            feats = lists[name].feature
            if not feats:
                continue
            kind = feats[0].WhichOneof("kind")
            if kind == "bytes_list":
                names.append(name)
                sizes.append(len(feats[0].bytes_list.value[0]))
            elif name.endswith("_ids") and name[:-4] + "_scores" in lists:
                sparse.append(name[:-4])
        context = seq.context.feature
        kind = "segment" if any(k in context for k in SEGMENT_FIELDS) else "frame"
        id_keys = ("id", "video_id") if "id" in context or "video_id" not in context else ("video_id", "id")
        return RecordSchema(kind=kind, feature_names=tuple(names), feature_sizes=tuple(sizes), sparse_features=tuple(sorted(sparse)), id_keys=id_keys, **options)
    example = example_pb.Example()
    example.ParseFromString(data)
    context = example.features.feature
    names = [k for k in sorted(context, key=lambda n: (n not in ("mean_rgb", "mean_audio"), n != "mean_rgb", n)) if context[k].WhichOneof("kind") == "float_list"]
    sizes = [len(context[k].float_list.value) for k in names]
    id_keys = ("id", "video_id") if "id" in context or "video_id" not in context else ("video_id", "id")
    return RecordSchema(kind="video", feature_names=tuple(names), feature_sizes=tuple(sizes), id_keys=id_keys, **options)
