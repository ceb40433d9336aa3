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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..data.loader import DataConfig, collate, whole_video_segment
from ..io.paths import expand_paths
from ..io.reader import read_records
from ..io.records import SEGMENT_SIZE
from ..progress import Progress
from .loaded import LoadedModel
from .totals import count_videos
from .writers import top_k


def segment_windows(record, cfg: DataConfig) -> Iterator[dict]:
    """Examples for every 5-frame segment of a video (official get_segments), each widened by the run's
    data.segment_context frames per side where the video has them, as in training; with
    data.segment_whole_video each example holds the whole video and its segment's range."""
    n = min(record.num_frames, cfg.max_frames)
    parts = [record.features[name] for name in cfg.feature_names]
    for start in range(0, n, SEGMENT_SIZE):
        lo, hi = max(0, start - cfg.segment_context), min(n, start + SEGMENT_SIZE + cfg.segment_context)  # official: the last may be partial
        example = {"id": f"{record.id}:{start}", "labels": np.zeros(0, np.int64)}
        if cfg.segment_whole_video:
            example.update(whole_video_segment(parts, lo, hi, cfg.max_frames))
        else:
            example.update(features=[part[lo:hi] for part in parts], num_frames=hi - lo)
        yield example


class _TopSegments:
    """Per-class best (score, tiebreak) candidates, pruned to `cap` per class in vectorized passes."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.classes: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.tiebreak: list[np.ndarray] = []
        self.order: list[np.ndarray] = []
        self.size = 0

    def add(self, classes: np.ndarray, scores: np.ndarray, tiebreak: np.ndarray, order: np.ndarray) -> None:
        self.classes.append(classes)
        self.scores.append(scores)
        self.tiebreak.append(tiebreak)
        self.order.append(order)
        self.size += len(classes)
        if self.size > 4 * self.cap + 1_000_000:
            self._prune()

    def _prune(self) -> None:
        classes, scores, tiebreak, order = (np.concatenate(x) for x in (self.classes, self.scores, self.tiebreak, self.order))
        sort = np.lexsort((tiebreak, -scores, classes))
        classes, scores, tiebreak, order = classes[sort], scores[sort], tiebreak[sort], order[sort]
        starts = np.searchsorted(classes, classes, side="left")
        keep = (np.arange(len(classes)) - starts) < self.cap
        self.classes, self.scores, self.tiebreak, self.order = [classes[keep]], [scores[keep]], [tiebreak[keep]], [order[keep]]
        self.size = int(keep.sum())

    def result(self) -> Iterator[tuple[int, np.ndarray]]:
        if not self.classes:
            return
        self._prune()
        classes, order = self.classes[0], self.order[0]
        bounds = np.flatnonzero(np.diff(classes)) + 1
        for chunk_classes, chunk_order in zip(np.split(classes, bounds), np.split(order, bounds)):
            yield int(chunk_classes[0]), chunk_order


@dataclass
class SegmentOptions:
    """How the submission is made from the scores (defaults: the official inference)."""

    top_per_segment: int = 20  # classes per segment that become candidates (official --top_k)
    max_per_class: int = 100_000  # segments per class (K of MAP@K)
    exclude_first: int = 0  # segments at the start of every video never submitted (the 2019 raters skipped 6)
    exclude_last: int = 0  # ... and at its end (2); on data whose edges are rated this only loses hits
    bucket: float = 0.0  # > 0: scores floored to multiples of this, ties in random (seeded) order
    seed: int = 0  # of the tie order when bucketing

    def __post_init__(self) -> None:
        if self.top_per_segment < 1 or self.max_per_class < 1 or self.exclude_first < 0 or self.exclude_last < 0 or not 0 <= self.bucket < 1:
            raise ValueError(f"segment options out of range: {self}")


def predict_segments(model, data, out: str | Path, whitelist: np.ndarray, *, options: SegmentOptions | None = None, batch_size: int = 512, progress: bool = False) -> dict:
    """Write the segment submission CSV for every video of `data`; returns counts.

    `model`: a LoadedModel, or an ensemble [(LoadedModel, weight), ...] whose segment scores are
    averaged with those weights (each run reads the windows its own data config asks for).
    Memory: the candidates (at most classes × max_per_class after each pruning pass) plus 8 bytes per
    segment read and one id per video (BENCHMARKS.md, "The 2019 segment task").
    Bucketing (`options.bucket`) replaces the reading order of equal scores by a random one, so the
    order of a submission's ties says nothing about the order of the files.
    """
    options = options or SegmentOptions()
    files = expand_paths(data)
    members = [(model, 1.0)] if isinstance(model, LoadedModel) else [(m, float(w)) for m, w in model]
    # every window, ratings or not (a phase-2 run reads rated data); whole videos only for the models whose
    # segment score reads them (an attention run trained on whole videos scores a segment from its own frames)
    configs = [dataclasses.replace(m.data.for_evaluation(), segment_labels=False, segment_whole_video=m.data.segment_whole_video and getattr(m.model, "needs_whole_video", False))
               for m, _ in members]
    cfg = configs[0]
    for (m, _), other in zip(members, configs):
        if (other.feature_names, other.num_classes) != (cfg.feature_names, cfg.num_classes):
            raise ValueError(f"ensemble members must read the same features and classes: {m.checkpoint} has {other.feature_names}, {other.num_classes} classes")
    mask = np.zeros(cfg.num_classes, np.float32)
    mask[np.asarray(whitelist, np.int64)] = 1.0
    best = _TopSegments(options.max_per_class)
    rng = np.random.default_rng(options.seed)
    video_ids: list[str] = []
    segment_video: list[np.ndarray] = []  # per segment read: index into video_ids, its start time
    segment_start: list[np.ndarray] = []
    pending: list[list[dict]] = [[] for _ in members]
    read = 0

    def flush() -> None:
        nonlocal read
        scores = 0.0
        for (member, weight), member_cfg, examples in zip(members, configs, pending):
            batch = collate(examples, member_cfg)
            segments = batch["segments"].numpy() if "segments" in batch else None
            scores = scores + weight * member.predict(batch["features"].numpy(), batch["num_frames"].numpy(), select_frames=False, segments=segments)
        first = pending[0]
        classes, values = top_k(scores * mask, options.top_per_segment)
        segment_video.append(np.array([e["video"] for e in first], np.int32))
        segment_start.append(np.array([e["start"] for e in first], np.int32))
        order = np.repeat(np.arange(read, read + len(first)), classes.shape[1])
        values = values.ravel()
        if options.bucket:
            values = np.floor(values / options.bucket)
            tiebreak = rng.random(len(first))[order - read]
        else:
            tiebreak = order
        keep = mask[classes.ravel()] > 0
        best.add(classes.ravel()[keep], values[keep], tiebreak[keep], order[keep])
        read += len(first)
        for examples in pending:
            examples.clear()

    with Progress("segments", total=count_videos(files) if progress else None, unit="videos", enabled=progress) as bar:
        for record in read_records(files, cfg.schema):
            if any(c.isspace() for c in record.id):
                raise ValueError(f"video {record.id!r} (record {len(video_ids)} of {', '.join(files)}): its id holds a space or other whitespace, "
                                 "but the segment CSV separates segment ids with spaces; rename the video")
            windows = [list(segment_windows(record, member_cfg)) for member_cfg in configs]
            kept = range(options.exclude_first, len(windows[0]) - options.exclude_last)
            for index in kept:
                for examples, member_windows in zip(pending, windows):
                    examples.append(member_windows[index])
                pending[0][-1]["video"], pending[0][-1]["start"] = len(video_ids), index * SEGMENT_SIZE
                if len(pending[0]) == batch_size:
                    flush()
            video_ids.append(record.id)
            bar.advance(1)
        if pending[0]:
            flush()
    videos = np.concatenate(segment_video) if segment_video else np.zeros(0, np.int32)
    starts = np.concatenate(segment_start) if segment_start else np.zeros(0, np.int32)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    classes_written = 0
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["Class", "Segments"])
        for cls, order in best.result():
            writer.writerow([cls, " ".join(f"{video_ids[v]}:{t}" for v, t in zip(videos[order].tolist(), starts[order].tolist()))])
            classes_written += 1
    os.replace(tmp, out)
    return {"videos": len(video_ids), "segments": read, "classes": classes_written, "out": str(out)}
