"""MiCRObE inputs: sparse base-classifier scores turned into sparse examples (§5.1).

- frame level: one example per frame, the scores averaged over a ±2 s window (±2 frames at 1 fps);
  mining draws 10 random frames per video;
- video level: one example per video; each base feature f expands into six statistics over the
  video's frames: its mean (absent frames count 0) and its 1st…5th highest score
  ("TM:Soccer:Mean", "TM:Soccer:1", …, "TM:Soccer:5").

The sources (e.g. "im", "tm") are stacked into one feature space: source s, class c is feature
offset[s] + c (frame level) or 6·(offset[s] + c) + statistic (video level).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy import sparse

from yt8m.io import RecordError, SparseFrames, VideoRecord

LEVELS = ("frame", "video")
VIDEO_STATISTICS = ("Mean", "1", "2", "3", "4", "5")
FRAME_BITS = 16  # uid = video key << FRAME_BITS | frame


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranges [starts[i], starts[i] + lengths[i]) laid end to end: (offsets [n+1], element indices)."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])

@dataclass(frozen=True)
class FeatureSpace:
    """Which sparse sources feed MiCRObE, their vocabulary sizes, and the level (frame or video)."""

    sources: tuple[str, ...] = ("im", "tm")
    sizes: tuple[int, ...] = (1000, 1000)
    level: str = "frame"
    window: int = 2  # frame level: average over frames t-window..t+window

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r}: use one of {', '.join(LEVELS)}")
        if len(self.sources) != len(self.sizes) or not self.sources:
            raise ValueError(f"sources {self.sources} and sizes {self.sizes} must be non-empty and of equal length")

    @property
    def offsets(self) -> tuple[int, ...]:
        return tuple(int(x) for x in np.concatenate([[0], np.cumsum(self.sizes)[:-1]]))

    @property
    def num_base_features(self) -> int:
        return int(sum(self.sizes))

    @property
    def num_features(self) -> int:
        return self.num_base_features * (len(VIDEO_STATISTICS) if self.level == "video" else 1)

    def feature_name(self, feature: int, vocabularies: dict[str, Sequence[str]] | None = None) -> str:
        """'TM:Soccer' (frame level) or 'TM:Soccer:Mean' / 'TM:Soccer:3' (video level)."""
        base, stat = (divmod(feature, len(VIDEO_STATISTICS)) if self.level == "video" else (feature, None))
        s = int(np.searchsorted(np.asarray(self.offsets), base, side="right") - 1)
        source, cls = self.sources[s], base - self.offsets[s]
        vocab = (vocabularies or {}).get(source)
        name = f"{source.upper()}:{vocab[cls] if vocab is not None else cls}"
        return name if stat is None else f"{name}:{VIDEO_STATISTICS[stat]}"


@dataclass
class SparseExamples:
    """A batch of sparse examples with their video-level labels (the frames' ground truth, §3.1)."""

    X: sparse.csr_matrix  # [n, num_features] float32
    label_indptr: np.ndarray  # int64 [n + 1]
    label_ids: np.ndarray  # int64 [total labels]
    uid: np.ndarray  # int64 [n]: unique example key (video key << 16 | frame), the mining tie-breaker
    video_hash: np.ndarray  # int64 [n]: crc32 of the video id, for video-disjoint splits
    video: np.ndarray  # int64 [n]: index of the example's video within this batch

    def __len__(self) -> int:
        return self.X.shape[0]

    def labels(self, i: int) -> np.ndarray:
        return self.label_ids[self.label_indptr[i] : self.label_indptr[i + 1]]

    def label_matrix(self, num_labels: int) -> sparse.csr_matrix:
        """[n, num_labels] 0/1 ground truth."""
        data = np.ones(len(self.label_ids), dtype=np.float32)
        return sparse.csr_matrix((data, self.label_ids, self.label_indptr), shape=(len(self), num_labels))

    def take(self, rows: np.ndarray) -> "SparseExamples":
        rows = np.asarray(rows, dtype=np.int64)
        indptr, take = concat_ranges(self.label_indptr[rows], self.label_indptr[rows + 1] - self.label_indptr[rows])
        return SparseExamples(self.X[rows], indptr, self.label_ids[take], self.uid[rows], self.video_hash[rows], self.video[rows])

    @staticmethod
    def concat(parts: Sequence["SparseExamples"], num_features: int) -> "SparseExamples":
        parts = [p for p in parts if len(p)]
        if not parts:
            return empty_examples(num_features)
        indptr = [np.zeros(1, dtype=np.int64)]
        base, video_base, videos = 0, 0, []
        for p in parts:
            indptr.append(p.label_indptr[1:] + base)
            base += int(p.label_indptr[-1])
            videos.append(p.video + video_base)
            video_base += int(p.video.max()) + 1 if len(p) else 0
        return SparseExamples(
            sparse.vstack([p.X for p in parts], format="csr"),
            np.concatenate(indptr),
            np.concatenate([p.label_ids for p in parts]),
            np.concatenate([p.uid for p in parts]),
            np.concatenate([p.video_hash for p in parts]),
            np.concatenate(videos),
        )


def empty_examples(num_features: int) -> SparseExamples:
    zero = np.zeros(0, dtype=np.int64)
    return SparseExamples(sparse.csr_matrix((0, num_features), dtype=np.float32), np.zeros(1, np.int64), zero, zero, zero, zero)


def video_hash(video_id: str) -> int:
    """Stable 32-bit hash of a video id (crc32): video-disjoint splits and per-video random streams."""
    return zlib.crc32(video_id.encode("utf-8"))


def video_key(file_index: int, record_index: int) -> int:
    """A global video number from its position (file, record); with the frame it makes the uid."""
    if not 0 <= file_index < 2**15 or not 0 <= record_index < 2**31:
        raise ValueError(f"file index {file_index} or record index {record_index} too large for a uid")
    return (file_index << 31) | record_index


# ----------------------------------------------------------------------------------------------
# per-video sparse matrices


def frame_matrix(record: VideoRecord, space: FeatureSpace) -> sparse.csr_matrix:
    """[frames, num_base_features] raw base-classifier scores of one video (all sources stacked)."""
    blocks = []
    frames = None
    for source, size, offset in zip(space.sources, space.sizes, space.offsets):
        if source not in record.sparse:
            raise RecordError(f"video {record.id!r} has no sparse feature {source!r}", field=f"{source}_ids")
        sf: SparseFrames = record.sparse[source]
        if frames is None:
            frames = sf.num_frames
        elif sf.num_frames != frames:
            raise RecordError(f"video {record.id!r}: {sf.num_frames} frames of {source!r} but {frames} of {space.sources[0]!r}", field=f"{source}_ids")
        ids = np.asarray(sf.ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= size):
            raise RecordError(f"video {record.id!r}: class id {int(ids.max() if ids.max() >= size else ids.min())} outside [0, {size})", field=f"{source}_ids")
        blocks.append(sparse.csr_matrix((np.asarray(sf.scores, np.float32), ids + offset, np.asarray(sf.offsets, np.int64)), shape=(frames, space.num_base_features)))
    matrix = blocks[0]
    for block in blocks[1:]:
        matrix = matrix + block
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix.tocsr()


def window_average(frames: sparse.csr_matrix, window: int) -> sparse.csr_matrix:
    """Each frame's features averaged over frames t-window..t+window (clipped at the ends)."""
    T = frames.shape[0]
    if window <= 0 or T == 0:
        return frames.astype(np.float32)
    t = np.arange(T)
    lo, hi = np.maximum(t - window, 0), np.minimum(t + window, T - 1)
    counts = hi - lo + 1
    rows = np.repeat(t, counts)
    cols = np.repeat(lo, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    averaging = sparse.csr_matrix((np.repeat(1.0 / counts, counts), (rows, cols)), shape=(T, T))
    out = (averaging @ frames.astype(np.float64)).tocsr()
    out.data = out.data.astype(np.float32)
    return out


def video_statistics(frames: sparse.csr_matrix, space: FeatureSpace) -> sparse.csr_matrix:
    """[1, 6 · num_base_features]: per base feature its mean over the video and its top-1…5 scores."""
    T = frames.shape[0]
    n_stats = len(VIDEO_STATISTICS)
    coo = frames.tocoo()
    col, val = coo.col.astype(np.int64), coo.data.astype(np.float64)
    if T == 0 or col.size == 0:
        return sparse.csr_matrix((1, space.num_base_features * n_stats), dtype=np.float32)
    features, inverse = np.unique(col, return_inverse=True)
    mean = np.bincount(inverse, weights=val) / T
    order = np.lexsort((-val, col))
    col_sorted = col[order]
    starts = np.searchsorted(col_sorted, col_sorted, side="left")
    rank = np.arange(len(order)) - starts
    top = rank < n_stats - 1
    ids = np.concatenate([features * n_stats, col_sorted[top] * n_stats + 1 + rank[top]])
    values = np.concatenate([mean, val[order][top]])
    keep = values > 0
    out = sparse.csr_matrix((values[keep].astype(np.float32), (np.zeros(keep.sum(), np.int64), ids[keep])), shape=(1, space.num_base_features * n_stats))
    out.sum_duplicates()
    return out


def mining_frames(num_frames: int, count: int, vhash: int, seed: int) -> np.ndarray:
    """`count` distinct random frames of a video (all when shorter), fixed by (seed, video)."""
    if num_frames <= count:
        return np.arange(num_frames)
    rng = np.random.default_rng([seed, vhash])
    return np.sort(rng.choice(num_frames, size=count, replace=False))


def video_examples(record: VideoRecord, space: FeatureSpace, key: int, *, frames: str = "all", mining_count: int = 10, seed: int = 0) -> SparseExamples:
    """The examples of one video: every windowed frame ("all"), `mining_count` random windowed
    frames ("mining"), or the video-level statistics (level "video", `frames` ignored)."""
    raw = frame_matrix(record, space)
    vhash = video_hash(record.id)
    if space.level == "video":
        X = video_statistics(raw, space)
        chosen = np.zeros(1, dtype=np.int64)
    else:
        X = window_average(raw, space.window)
        chosen = np.arange(X.shape[0]) if frames == "all" else mining_frames(X.shape[0], mining_count, vhash, seed)
        X = X[chosen]
    if chosen.size and chosen.max() >= 2**FRAME_BITS:
        raise RecordError(f"video {record.id!r} has more than {2**FRAME_BITS} frames", field=space.sources[0] + "_ids")
    n = len(chosen)
    labels = np.unique(np.asarray(record.labels, dtype=np.int64))
    indptr = np.arange(n + 1, dtype=np.int64) * len(labels)
    return SparseExamples(
        X.tocsr(), indptr, np.tile(labels, n), (np.int64(key) << FRAME_BITS) | chosen.astype(np.int64),
        np.full(n, vhash, dtype=np.int64), np.zeros(n, dtype=np.int64),
    )


def batches(
    indexed_records: Iterable[tuple[int, VideoRecord]], space: FeatureSpace, *, frames: str = "all", mining_count: int = 10,
    seed: int = 0, batch_examples: int = 4096,
) -> Iterable[tuple[SparseExamples, list[VideoRecord]]]:
    """Stream (examples, their videos) in batches of about `batch_examples` examples.

    `indexed_records` yields (video key, record); `examples.video` indexes the batch's video list.
    """
    parts: list[SparseExamples] = []
    videos: list[VideoRecord] = []
    size = 0
    for key, record in indexed_records:
        part = video_examples(record, space, key, frames=frames, mining_count=mining_count, seed=seed)
        part.video[:] = len(videos)
        parts.append(part)
        videos.append(record)
        size += len(part)
        if size >= batch_examples:
            yield _join(parts, space), videos
            parts, videos, size = [], [], 0
    if videos:
        yield _join(parts, space), videos


def _join(parts: list[SparseExamples], space: FeatureSpace) -> SparseExamples:
    """Concatenate per-video parts whose `video` already holds the batch index."""
    joined = SparseExamples.concat(parts, space.num_features)
    joined.video = np.concatenate([p.video for p in parts]) if parts else joined.video
    return joined
