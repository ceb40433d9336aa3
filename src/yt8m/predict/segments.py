"""Segment retrieval: the 2019 Kaggle submission `Class,Segments` from a video-level model.

As the official inference: each video is cut into 5-frame segments starting at 0, 5, 10, …
(the last may be partial), the model scores every segment, predictions outside the rated
classes (segment_label_ids.csv) are zeroed, the top 20 classes of each segment are candidates,
and each class keeps its `max_per_class` best segments (100000), written best first as
`<class>,<vid>:<start> <vid>:<start> …`. Classes are written in ascending id order; equal scores
keep the order in which segments were read. Memory stays bounded by classes × max_per_class.
The file is written with the csv module (a field with commas, quotes or newlines is quoted); a video id
with whitespace is refused, because the format separates segment ids with spaces.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from ..data.loader import collate
from ..io.paths import expand_paths
from ..io.reader import read_records
from ..io.records import SEGMENT_SIZE
from ..progress import Progress
from .loaded import LoadedModel
from .totals import count_videos
from .writers import top_k


def segment_windows(record, feature_names: tuple[str, ...], max_frames: int = 300, context: int = 0) -> Iterator[dict]:
    """Examples for every 5-frame segment of a video (official get_segments), each widened by `context`
    frames per side where the video has them (the run's data.segment_context, as in training)."""
    n = min(record.num_frames, max_frames)
    for start in range(0, n, SEGMENT_SIZE):
        lo, hi = max(0, start - context), min(n, start + SEGMENT_SIZE + context)  # official: the last may be partial
        yield {
            "id": f"{record.id}:{start}",
            "features": [record.features[name][lo:hi] for name in feature_names],
            "num_frames": hi - lo,
            "labels": np.zeros(0, np.int64),
        }


class _TopSegments:
    """Per-class best (score, order) candidates, pruned to `cap` per class in vectorized passes."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.classes: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.order: list[np.ndarray] = []
        self.size = 0

    def add(self, classes: np.ndarray, scores: np.ndarray, order: np.ndarray) -> None:
        self.classes.append(classes)
        self.scores.append(scores)
        self.order.append(order)
        self.size += len(classes)
        if self.size > 4 * self.cap + 1_000_000:
            self._prune()

    def _prune(self) -> None:
        classes, scores, order = (np.concatenate(x) for x in (self.classes, self.scores, self.order))
        sort = np.lexsort((order, -scores, classes))
        classes, scores, order = classes[sort], scores[sort], order[sort]
        starts = np.searchsorted(classes, classes, side="left")
        keep = (np.arange(len(classes)) - starts) < self.cap
        self.classes, self.scores, self.order = [classes[keep]], [scores[keep]], [order[keep]]
        self.size = int(keep.sum())

    def result(self) -> Iterator[tuple[int, np.ndarray]]:
        if not self.classes:
            return
        self._prune()
        classes, order = self.classes[0], self.order[0]
        bounds = np.flatnonzero(np.diff(classes)) + 1
        for chunk_classes, chunk_order in zip(np.split(classes, bounds), np.split(order, bounds)):
            yield int(chunk_classes[0]), chunk_order


def predict_segments(model: LoadedModel, data, out: str | Path, whitelist: np.ndarray, *, top_per_segment: int = 20, max_per_class: int = 100_000, batch_size: int = 512, progress: bool = False) -> dict:
    """Write the segment submission CSV for every video of `data`; returns counts."""
    files = expand_paths(data)
    cfg = dataclasses.replace(model.data.for_evaluation(), segment_labels=False)  # every window, ratings or not (a phase-2 run reads rated data)
    mask = np.zeros(model.num_classes, np.float32)
    mask[np.asarray(whitelist, np.int64)] = 1.0
    best = _TopSegments(max_per_class)
    segment_ids: list[str] = []
    pending: list[dict] = []

    def flush() -> None:
        batch = collate(pending, cfg)
        scores = model.predict(batch["features"].numpy(), batch["num_frames"].numpy(), select_frames=False) * mask
        classes, values = top_k(scores, top_per_segment)
        first = len(segment_ids)
        segment_ids.extend(batch["ids"])
        order = np.repeat(np.arange(first, first + len(pending)), classes.shape[1])
        keep = mask[classes.ravel()] > 0
        best.add(classes.ravel()[keep], values.ravel()[keep], order[keep])
        pending.clear()

    videos = 0
    with Progress("segments", total=count_videos(files) if progress else None, unit="videos", enabled=progress) as bar:
        for record in read_records(files, cfg.schema):
            if any(c.isspace() for c in record.id):
                raise ValueError(f"video {record.id!r} (record {videos} of {', '.join(files)}): its id holds a space or other whitespace, "
                                 "but the segment CSV separates segment ids with spaces; rename the video")
            videos += 1
            for example in segment_windows(record, cfg.feature_names, cfg.max_frames, cfg.segment_context):
                pending.append(example)
                if len(pending) == batch_size:
                    flush()
            bar.advance(1)
        if pending:
            flush()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    classes_written = 0
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["Class", "Segments"])
        for cls, order in best.result():
            writer.writerow([cls, " ".join(segment_ids[i] for i in order)])
            classes_written += 1
    os.replace(tmp, out)
    return {"videos": videos, "segments": len(segment_ids), "classes": classes_written, "out": str(out)}
