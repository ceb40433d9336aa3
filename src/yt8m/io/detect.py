"""Find the RecordSchema of a run of files from its first valid records.

Shards store their schema. For TFRecords each of the first records proposes a schema (kind,
feature names, bytes per frame, sparse lists) and counts only if it also decodes under it; the
most common proposal of the first valid records wins. So an empty file, a record that is not a
protobuf or one with a frame of the wrong length is a bad record, never the schema.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from . import example_pb
from .errors import RecordError
from .paths import expand_paths
from .reader import file_format
from .records import SEGMENT_FIELDS, RecordSchema, decode_record
from .shards import shard_schema
from .tfrecord import iter_tfrecord

VOTES = 8  # valid records that vote
MAX_SCANNED = 1000  # records examined before giving up


def detect_schema(paths, num_classes: int | None = None) -> RecordSchema:
    """The schema of the files, globs or URLs in `paths` (see the module docstring)."""
    files = expand_paths(paths)
    votes: Counter = Counter()
    scanned, problems = 0, []

    def note(error: RecordError, _size=None) -> None:
        if len(problems) < 3:
            problems.append(str(error))

    for path in files:
        if file_format(path) == "shard":
            schema = shard_schema(path)
            return schema if num_classes is None else schema.replace(num_classes=num_classes)
        for index, offset, data in iter_tfrecord(path, on_skip=note, on_stop=note):
            scanned += 1
            try:
                candidate = _propose(data)
                decode_record(data, candidate)
            except RecordError as err:
                note(err.located(path=path, index=index, offset=offset))
            else:
                votes[candidate] += 1
            if sum(votes.values()) >= VOTES or scanned >= MAX_SCANNED:
                break
        if sum(votes.values()) >= VOTES or scanned >= MAX_SCANNED:
            break
    if not votes:
        where = f"{len(files)} file(s) starting with {files[0]}"
        detail = ("; first problems: " + " | ".join(problems)) if problems else " (the files are empty)"
        raise RecordError(f"no valid record to detect the format from in {where}{detail}")
    schema = votes.most_common(1)[0][0]  # ties: the earliest proposal (Counter keeps insertion order)
    return schema.replace(num_classes=num_classes)


def _most_common_length(values) -> int:
    lengths = np.fromiter((len(v) for v in values), dtype=np.int64)
    return int(np.bincount(lengths).argmax())


def _propose(data: bytes) -> RecordSchema:
    """The schema one serialized record suggests (labels unchecked); RecordError if it suggests none."""
    seq = example_pb.SequenceExample()
    try:
        seq.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError
        raise RecordError(f"not a tf.train.Example or SequenceExample: {exc}") from None
    lists = seq.feature_lists.feature_list
    if lists:
        names, sizes, sparse = [], [], []
        for name in sorted(lists, key=lambda n: (n not in ("rgb", "audio"), n != "rgb", n)):
            feats = lists[name].feature
            if not feats:
                continue
            kind = feats[0].WhichOneof("kind")
            if kind == "bytes_list":
                names.append(name)
                sizes.append(_most_common_length(f.bytes_list.value[0] if f.bytes_list.value else b"" for f in feats))
            elif name.endswith("_ids") and name[:-4] + "_scores" in lists:
                sparse.append(name[:-4])
        if not names:
            raise RecordError("a SequenceExample without byte feature lists")
        context = seq.context.feature
        kind = "segment" if any(k in context for k in SEGMENT_FIELDS) else "frame"
        id_keys = ("id", "video_id") if "id" in context or "video_id" not in context else ("video_id", "id")
        return RecordSchema(kind=kind, feature_names=tuple(names), feature_sizes=tuple(sizes), sparse_features=tuple(sorted(sparse)), id_keys=id_keys, num_classes=None)
    example = example_pb.Example()
    example.ParseFromString(data)
    context = example.features.feature
    names = [k for k in sorted(context, key=lambda n: (n not in ("mean_rgb", "mean_audio"), n != "mean_rgb", n)) if context[k].WhichOneof("kind") == "float_list"]
    if not names:
        raise RecordError("an Example without float features")
    sizes = [len(context[k].float_list.value) for k in names]
    id_keys = ("id", "video_id") if "id" in context or "video_id" not in context else ("video_id", "id")
    return RecordSchema(kind="video", feature_names=tuple(names), feature_sizes=tuple(sizes), id_keys=id_keys, num_classes=None)
