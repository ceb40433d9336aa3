"""Streaming evaluation: add predictions batch by batch, read all video-level metrics at the end.

Memory does not grow with the class count times N: per video only the top-k (class, score, label)
triplets and three per-video numbers (Hit@1, Hit@5, PERR) are kept, plus per-class positive counts and,
for the paper's bucketed mAP, two [C, 10001] histograms whose size is independent of N. The numbers are
exactly those of the one-shot functions in `metrics` on the concatenated batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import metrics

HIT_AT_5 = 5


@dataclass
class EvaluationResult:
    """Video-level metrics of one pass. APs are per class, NaN for classes without positives."""

    gap: float
    hit_at_1: float
    hit_at_5: float
    perr: float
    map: float  # official: per-class AP over each video's top-k entries
    map_buckets: float | None  # the paper's mAP over all scores in 1e-4 buckets (None if disabled)
    average_precisions: np.ndarray
    average_precisions_buckets: np.ndarray | None
    num_videos: int
    num_classes_with_positives: int

    def as_dict(self) -> dict[str, float | int | None]:
        """The scalar metrics, for logs and JSON."""
        return {
            "gap": self.gap,
            "hit_at_1": self.hit_at_1,
            "hit_at_5": self.hit_at_5,
            "perr": self.perr,
            "map": self.map,
            "map_buckets": self.map_buckets,
            "num_videos": self.num_videos,
            "num_classes_with_positives": self.num_classes_with_positives,
        }


class Evaluator:
    """Accumulates GAP, Hit@1, Hit@5, PERR, mAP (official top-k) and the bucketed mAP over batches.

    `bucket_map=False` skips the bucketed mAP (it costs two [C, 10001] histograms and most of the time).
    For segment-level evaluation pass `weights` (1 for rated (segment, class) pairs, 0 elsewhere) to
    `add`: predictions are multiplied by them first, as the official eval does with `label_weights`.
    """

    def __init__(self, num_classes: int, top_k: int = metrics.TOP_K, bucket_map: bool = True) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.num_classes = num_classes
        self.top_k = min(top_k, num_classes)
        self.bucket_map = bucket_map
        self.reset()

    def reset(self) -> None:
        """Forget everything added so far."""
        self.num_videos = 0
        self._classes: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._hit_at_1: list[np.ndarray] = []
        self._hit_at_5: list[np.ndarray] = []
        self._perr: list[np.ndarray] = []
        self._num_positives = np.zeros(self.num_classes, dtype=np.float64)
        self._buckets = metrics.BucketHistogram(self.num_classes) if self.bucket_map else None

    def add(self, predictions, labels, weights=None) -> None:
        """Add one batch: predictions [B, C], labels [B, C], optional label weights [B, C]."""
        p, y = metrics.check_pair(predictions, labels)
        if p.shape[1] != self.num_classes:
            raise ValueError(f"batch has {p.shape[1]} classes, the evaluator {self.num_classes}")
        if weights is not None:
            w = metrics.as_matrix(weights, "weights")
            if w.shape != p.shape:
                raise ValueError(f"weights {w.shape} and predictions {p.shape} differ in shape")
            p = p * w
        for rows in metrics.row_chunks(p.shape[0], p.shape[1]):
            self._add_chunk(p[rows], y[rows])

    def _add_chunk(self, p: np.ndarray, y: np.ndarray) -> None:
        metrics.check_predictions(p, self.num_videos)
        entries = metrics.label_entries(y, self.num_videos)
        top = metrics.top_k_classes(p, max(self.top_k, HIT_AT_5))
        for part, out in zip(metrics.triplets(p, y, top[:, : self.top_k]), (self._classes, self._scores, self._labels)):
            out.append(part)
        self._hit_at_1.append(metrics.hit_rows(y, top, 1))
        self._hit_at_5.append(metrics.hit_rows(y, top, HIT_AT_5))
        self._perr.append(metrics.perr_rows(p, y, entries, top))
        metrics.add_positives(self._num_positives, entries)
        if self._buckets is not None:
            self._buckets.add(p, entries)
        self.num_videos += p.shape[0]

    def merge(self, other: "Evaluator") -> "Evaluator":
        """Add everything `other` saw, as if its batches had been added here after ours: the state of
        one pass over files A then B equals A's merged with B's (integer counts, lists in order), so
        shards evaluated apart (ranks, Dask tasks) give the single-process metrics exactly."""
        if (other.num_classes, other.top_k, other.bucket_map) != (self.num_classes, self.top_k, self.bucket_map):
            raise ValueError("evaluators with different classes, top_k or bucket_map cannot be merged")
        for mine, theirs in ((self._classes, other._classes), (self._scores, other._scores), (self._labels, other._labels),
                             (self._hit_at_1, other._hit_at_1), (self._hit_at_5, other._hit_at_5), (self._perr, other._perr)):
            mine.extend(theirs)
        self._num_positives += other._num_positives
        if self._buckets is not None:
            self._buckets.merge(other._buckets)
        self.num_videos += other.num_videos
        return self

    def result(self) -> EvaluationResult:
        """All metrics over everything added since the last reset."""
        if self.num_videos == 0:
            raise ValueError("no videos were added to the evaluator")
        classes, labels = metrics.rank_triplets(
            *(np.concatenate(parts) for parts in (self._classes, self._scores, self._labels))
        )
        aps = metrics.class_aps_from_ranked(classes, labels, self._num_positives)
        bucket_aps = None if self._buckets is None else self._buckets.average_precisions(self._num_positives)
        return EvaluationResult(
            gap=metrics.gap_from_ranked(labels, self._num_positives),
            hit_at_1=float(np.concatenate(self._hit_at_1).sum() / self.num_videos),
            hit_at_5=float(np.concatenate(self._hit_at_5).sum() / self.num_videos),
            perr=float(np.concatenate(self._perr).sum() / self.num_videos),
            map=metrics.mean_of_defined(aps),
            map_buckets=None if bucket_aps is None else metrics.mean_of_defined(bucket_aps),
            average_precisions=aps,
            average_precisions_buckets=bucket_aps,
            num_videos=self.num_videos,
            num_classes_with_positives=int(np.count_nonzero(self._num_positives > 0)),
        )
