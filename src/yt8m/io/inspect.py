"""`yt8m inspect`: what is inside a file, one line per record plus summary counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .detect import detect_schema
from .paths import expand_paths
from .quantization import dequantize
from .reader import ReadStats, read_file
from .records import DEFAULT_NUM_CLASSES, RecordSchema, VideoRecord


def describe_record(record: VideoRecord, frame_level: bool) -> dict:
    """id, labels, frames, feature shapes and the mean of each (dequantized) feature."""
    features = {}
    for name, value in record.features.items():
        mean = float(dequantize(value).mean()) if frame_level and value.size else float(np.mean(value)) if value.size else float("nan")
        features[name] = {"shape": list(value.shape), "mean": round(mean, 6)}
    info = {"id": record.id, "labels": record.labels.tolist(), "num_frames": record.num_frames if frame_level else None, "features": features}
    if record.has_segments:
        info["segments"] = {
            "start_times": record.segment_start_times.tolist(),
            "labels": record.segment_labels.tolist(),
            "scores": record.segment_scores.tolist(),
        }
    for name, sparse in record.sparse.items():
        info.setdefault("sparse", {})[name] = {"frames": sparse.num_frames, "nonzeros": int(sparse.ids.size)}
    return info


@dataclass
class InspectSummary:
    records: int = 0
    without_labels: int = 0
    label_counts: Counter = field(default_factory=Counter)
    frames: list[int] = field(default_factory=list)
    stats: ReadStats = field(default_factory=ReadStats)
    num_classes: int | None = DEFAULT_NUM_CLASSES  # the label bound checked

    def as_dict(self) -> dict:
        frames = np.asarray(self.frames) if self.frames else None
        return {
            "records": self.records,
            "videos_without_labels": self.without_labels,
            "top_labels": [[int(k), int(v)] for k, v in self.label_counts.most_common(10)],
            "frames": None if frames is None else {"min": int(frames.min()), "mean": round(float(frames.mean()), 2), "max": int(frames.max())},
            "num_classes": self.num_classes,
            "skipped_records": len(self.stats.skipped),
            "unread_tails": len(self.stats.unread),
            "skipped_by_reason": self.stats.by_reason(),
            "errors": self.stats.messages()[:100],
        }


def inspect_records(
    paths,
    schema: RecordSchema | None = None,
    *,
    skip_corrupt: bool = False,
    limit: int | None = None,
    num_classes: int | None = DEFAULT_NUM_CLASSES,
    compression: str | None = None,
) -> tuple[Iterator[dict], InspectSummary]:
    """(per-record descriptions, summary filled while the iterator runs).

    The schema is detected from the first valid records if None; labels are checked against
    `num_classes` (the official 3862 unless told otherwise; None: no check).
    """
    files = expand_paths(paths)
    schema = schema or detect_schema(files, num_classes=num_classes)
    summary = InspectSummary(num_classes=schema.num_classes)

    def lines() -> Iterator[dict]:
        for path in files:
            for record in read_file(path, schema, skip_corrupt=skip_corrupt, compression=compression, stats=summary.stats):
                if limit is not None and summary.records >= limit:
                    return
                summary.records += 1
                summary.without_labels += record.labels.size == 0
                summary.label_counts.update(record.labels.tolist())
                if schema.frame_level:
                    summary.frames.append(record.num_frames)
                yield describe_record(record, schema.frame_level)

    return lines(), summary
