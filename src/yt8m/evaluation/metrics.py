"""Video-level metrics of YouTube-8M: Hit@k, PERR, GAP, mAP (official top-20 and the paper's bucketed mAP).

Every function takes `predictions` [N, C] (scores) and `labels` [N, C] (0/1, bool or float scores), as
numpy arrays or torch tensors. Where the official starter code defines a metric (eval_util.py and the AP
calculators) it is followed exactly, including that a label > 0 is a hit while the recall denominator sums
the label values; the paper (Abu-El-Haija et al. 2016, eqs. 8-11) defines Hit@k for k > 1 and the
bucketed mAP.

Ties. The official code breaks ties arbitrarily (argpartition) or pseudo-randomly (a `random.seed(0)`
shuffle before a stable sort). Here the order is fixed:
- within a video, equal scores rank the lower class first (so Hit@1 is numpy's argmax, and at the
  top-k cut-off the lower classes stay);
- within a class (per-class AP), equal scores rank the earlier video first;
- across classes (GAP), equal scores rank the earlier video first, then the lower class.
With no tied scores every number equals the official code's: GAP and the APs bit for bit (their sums run
in the official loops' sequential order), Hit@1 and PERR up to the last bits of the official per-batch
averaging.

Work is vectorized over row chunks of about 4M entries, so temporaries stay bounded whatever N is. The
`Evaluator` streams the same per-chunk computations, so its numbers equal these functions' exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

TOP_K = 20  # the official per-video sparsification for GAP and mAP (eval.py --top_k)
BUCKETS = 10_001  # the paper's mAP: score buckets of 1e-4, indices 0 .. 10000
_CHUNK_ENTRIES = 1 << 22  # rows per chunk = this / num_classes
_BLOCK = 4  # columns per block in the two-stage top-k
_BUFFER_ENTRIES = 1 << 25  # bucket indices waiting to be counted (uint16: 64 MiB)


# ----------------------------------------------------------------------------------------------
# input checks


def as_matrix(values, name: str) -> np.ndarray:
    """A 2-D numpy array from an array-like or a torch tensor (copied to the CPU if needed)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [videos, classes] array, got shape {array.shape}")
    return array


def check_pair(predictions, labels) -> tuple[np.ndarray, np.ndarray]:
    """Both as 2-D numpy arrays of one shape; predictions as floats."""
    p, y = as_matrix(predictions, "predictions"), as_matrix(labels, "labels")
    if p.shape != y.shape:
        raise ValueError(f"predictions {p.shape} and labels {y.shape} differ in shape")
    if p.dtype.kind not in "fiub" or y.dtype.kind not in "fiub":
        raise ValueError(f"predictions ({p.dtype}) and labels ({y.dtype}) must be numeric")
    return _as_scores(p), y


def _as_scores(p: np.ndarray) -> np.ndarray:
    """Integer or bool scores as float64, so that negating them to sort descending is safe."""
    return p if p.dtype.kind == "f" else p.astype(np.float64)


def check_predictions(p: np.ndarray, first_row: int = 0) -> None:
    """Reject NaN scores (they would rank first everywhere); one fast reduction when there are none."""
    if p.dtype.kind == "f" and p.size and np.isnan(p.max()):
        row, col = np.argwhere(np.isnan(p))[0]
        raise ValueError(f"prediction for video {first_row + row}, class {col} is NaN")


class LabelEntries(NamedTuple):
    """The non-zero labels of a chunk, row by row: row index, class index, value (float64)."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray


def label_entries(y: np.ndarray, first_row: int = 0) -> LabelEntries:
    """The non-zero labels of a chunk; negative labels are an error (`first_row` numbers it)."""
    flat = np.flatnonzero(y != 0)
    rows, cols = np.divmod(flat, y.shape[1])
    values = y[rows, cols].astype(np.float64)
    if (values < 0).any():
        bad = np.flatnonzero(values < 0)[0]
        raise ValueError(f"label for video {first_row + rows[bad]}, class {cols[bad]} is negative ({values[bad]})")
    return LabelEntries(rows, cols, values)


def row_chunks(num_rows: int, num_classes: int, entries: int = _CHUNK_ENTRIES):
    """Slices of consecutive rows holding about `entries` entries each."""
    step = max(1, entries // max(num_classes, 1))
    for start in range(0, num_rows, step):
        yield slice(start, min(start + step, num_rows))


def _chunks(p: np.ndarray, y: np.ndarray, entries: int = _CHUNK_ENTRIES):
    """(predictions chunk, labels chunk, its non-zero labels), checked."""
    if p.shape[0] == 0:
        raise ValueError("no videos: predictions and labels have 0 rows")
    for rows in row_chunks(p.shape[0], p.shape[1], entries):
        pc, yc = p[rows], y[rows]
        check_predictions(pc, rows.start)
        yield pc, yc, label_entries(yc, rows.start)


# ----------------------------------------------------------------------------------------------
# per-video ranking: Hit@k and PERR


def top_k_classes(predictions, k: int) -> np.ndarray:
    """Each row's k best class indices [N, min(k, C)], best first; equal scores: lower class first."""
    p = _as_scores(as_matrix(predictions, "predictions"))
    n, c = p.shape
    k = min(k, c)
    if k <= 0:
        return np.zeros((n, 0), dtype=np.intp)
    if k == c:
        return np.argsort(-p, axis=1, kind="stable")
    if c // _BLOCK >= 4 * k:
        chosen, scores, unsure = _top_k_by_blocks(p, k)
        if unsure.size:
            chosen[unsure], scores[unsure] = _top_k_exact(p[unsure], k)
    else:
        chosen, scores = _top_k_exact(p, k)
    by_class = np.argsort(chosen, axis=1)
    chosen = np.take_along_axis(chosen, by_class, axis=1)
    scores = np.take_along_axis(scores, by_class, axis=1)
    return np.take_along_axis(chosen, np.argsort(-scores, axis=1, kind="stable"), axis=1)


def _top_k_exact(p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(classes, scores) of each row's k best, unordered; at a tie on the cut-off the lower classes stay."""
    c = p.shape[1]
    chosen = np.ascontiguousarray(np.argpartition(p, c - k, axis=1)[:, c - k :])
    scores = np.take_along_axis(p, chosen, axis=1)
    kth = scores.min(axis=1, keepdims=True)
    tied = np.flatnonzero(np.count_nonzero(p >= kth, axis=1) > k)
    if tied.size:
        rows, cut = p[tied], kth[tied]
        above, at = rows > cut, rows == cut
        room = k - np.count_nonzero(above, axis=1)
        keep = above | (at & (np.cumsum(at, axis=1) <= room[:, None]))
        chosen[tied] = np.nonzero(keep)[1].reshape(len(tied), k)
        scores[tied] = np.take_along_axis(rows, chosen[tied], axis=1)
    return chosen, scores


def _top_k_by_blocks(p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-stage top-k: the k best elements lie in the k blocks with the best maxima, so only those
    blocks' elements are partitioned. Block b holds columns b, b + B, b + 2B, ... (B blocks), so block
    maxima are a fast strided reduction. Also returns the rows where a tie could make the answer
    differ from `_top_k_exact` (a score equal to the cut-off elsewhere): the caller redoes those."""
    n, c = p.shape
    blocks = c // _BLOCK
    block_max = p[:, : _BLOCK * blocks].reshape(n, _BLOCK, blocks).max(axis=1)
    extra = c - _BLOCK * blocks  # leftover columns join blocks 0 .. extra - 1
    if extra:
        np.maximum(block_max[:, :extra], p[:, _BLOCK * blocks :], out=block_max[:, :extra])
    order = np.argpartition(block_max, blocks - k - 1, axis=1)
    runner_up = np.take_along_axis(block_max, order[:, blocks - k - 1 : blocks - k], axis=1)
    members = (order[:, blocks - k :, None] + np.arange(_BLOCK + 1) * blocks).reshape(n, -1)
    real = members < c
    members = np.minimum(members, c - 1)
    values = np.take_along_axis(p, members, axis=1)
    values[~real] = -np.inf
    pick = np.argpartition(values, values.shape[1] - k, axis=1)[:, -k:]
    chosen, scores = np.take_along_axis(members, pick, axis=1), np.take_along_axis(values, pick, axis=1)
    kth = scores.min(axis=1, keepdims=True)
    unsure = (runner_up[:, 0] >= kth[:, 0]) | (np.count_nonzero(values >= kth, axis=1) > k)
    return chosen, scores, np.flatnonzero(unsure)


def hit_rows(y: np.ndarray, top: np.ndarray, k: int) -> np.ndarray:
    """k = 1: the label of the best class (official Hit@1); k > 1: 1 if a positive is in the top k (eq. 11)."""
    if k == 1:
        return np.take_along_axis(y, top[:, :1], axis=1)[:, 0].astype(np.float64)
    return (np.take_along_axis(y, top[:, :k], axis=1) > 0).any(axis=1).astype(np.float64)


def perr_rows(p: np.ndarray, y: np.ndarray, entries: LabelEntries, top: np.ndarray | None = None) -> np.ndarray:
    """Official PERR per video: k = int(sum of labels); labels of the k best classes that score > 0, / k.

    `top` is an ordered top list of any width (e.g. the top-20 already computed); rows whose k exceeds it
    are ranked again. Rows with k = 0 get 0. Sums run sequentially so the width does not change them.
    """
    n, c = p.shape
    label_sums = np.bincount(entries.rows, weights=entries.values, minlength=n)
    want = np.minimum(label_sums.astype(np.int64), c)  # int() truncation, as the official code
    width = 0 if top is None else top.shape[1]
    result = np.zeros(n, dtype=np.float64)
    deep = np.flatnonzero(want > width)
    groups = [(deep, top_k_classes(p[deep], int(want[deep].max(initial=0))))]
    if top is not None:
        shallow = np.flatnonzero((want > 0) & (want <= width))
        groups.append((shallow, top[shallow]))
    for rows, ranked in groups:
        if rows.size == 0:
            continue
        k = want[rows]
        ranked = ranked[:, : k.max()]
        used = (np.arange(ranked.shape[1]) < k[:, None]) & (p[rows[:, None], ranked] > 0)
        hits = np.where(used, y[rows[:, None], ranked].astype(np.float64), 0.0)
        result[rows] = np.cumsum(hits, axis=1)[:, -1] / k
    return result


def hit_at_k(predictions, labels, k: int = 1) -> float:
    """Hit@k. k = 1 is the official Hit@1 (label value at the argmax, ties to the lowest index);
    k > 1 is the paper's eq. 11: fraction of videos with a positive label among their k best classes."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    p, y = check_pair(predictions, labels)
    rows = []
    for pc, yc, _ in _chunks(p, y):
        top = np.argmax(pc, axis=1)[:, None] if k == 1 else top_k_classes(pc, k)
        rows.append(hit_rows(yc, top, k))
    return float(np.concatenate(rows).sum() / p.shape[0])


def perr(predictions, labels) -> float:
    """Precision at equal recall rate, as the official code: mean over all videos (unlabeled ones count 0)."""
    p, y = check_pair(predictions, labels)
    rows = [perr_rows(pc, yc, entries) for pc, yc, entries in _chunks(p, y)]
    return float(np.concatenate(rows).sum() / p.shape[0])


# ----------------------------------------------------------------------------------------------
# top-k triplets -> GAP and per-class AP (official: eval_util.top_k_by_class + the AP calculators)


def add_positives(num_positives: np.ndarray, entries: LabelEntries) -> None:
    """num_positives[c] += label values of class c, added one video at a time (so chunking cannot matter)."""
    np.add.at(num_positives, entries.cols, entries.values)


def triplets(p: np.ndarray, y: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class, score, label) of each video's retained classes, flattened video by video, best first."""
    return (
        top.astype(np.int32).ravel(),
        np.take_along_axis(p, top, axis=1).astype(np.float64).ravel(),
        np.take_along_axis(y, top, axis=1).astype(np.float64).ravel(),
    )


def rank_triplets(classes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes, labels) by descending score; a stable sort, so ties keep video order, then class order."""
    order = np.argsort(-scores, kind="stable")
    return classes[order], labels[order]


def gap_from_ranked(labels: np.ndarray, num_positives: np.ndarray) -> float:
    """AP of all retained entries ranked together; recall over every positive label (also unretained ones)."""
    total = float(num_positives.sum())
    if total <= 0:
        return 0.0
    ranks = np.flatnonzero(labels > 0) + 1
    terms = (np.arange(1, len(ranks) + 1) / ranks) * (1.0 / total)
    return float(np.cumsum(terms)[-1]) if terms.size else 0.0  # sequential, like the official loop


def class_aps_from_ranked(classes: np.ndarray, labels: np.ndarray, num_positives: np.ndarray) -> np.ndarray:
    """Per-class AP over the class's retained entries, recall over all its positives; NaN if it has none."""
    num_classes = len(num_positives)
    order = np.argsort(classes, kind="stable")  # still by descending score within each class
    cls, positive = classes[order], labels[order] > 0
    counts = np.bincount(cls, minlength=num_classes)
    starts = np.cumsum(counts) - counts
    hits_before = np.concatenate([[0], np.cumsum(positive)])
    at = np.flatnonzero(positive)
    c = cls[at]
    hits = hits_before[at + 1] - hits_before[starts[c]]
    ranks = at - starts[c] + 1
    terms = (hits / ranks) * (1.0 / num_positives[c])
    aps = np.bincount(c, weights=terms, minlength=num_classes)  # sequential per class, like the official loop
    return np.where(num_positives > 0, aps, np.nan)


def _ranked_top_k(predictions, labels, top_k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    p, y = check_pair(predictions, labels)
    parts: list[tuple] = []
    num_positives = np.zeros(p.shape[1], dtype=np.float64)
    for pc, yc, entries in _chunks(p, y):
        parts.append(triplets(pc, yc, top_k_classes(pc, top_k)))
        add_positives(num_positives, entries)
    classes, scores, found = (np.concatenate(column) for column in zip(*parts))
    return *rank_triplets(classes, scores, found), num_positives


def gap(predictions, labels, top_k: int = TOP_K) -> float:
    """Global average precision (official GAP@top_k): each video's top_k scores, ranked together."""
    _, ranked_labels, num_positives = _ranked_top_k(predictions, labels, top_k)
    return gap_from_ranked(ranked_labels, num_positives)


def per_class_average_precision(predictions, labels, top_k: int = TOP_K) -> np.ndarray:
    """Official per-class AP [C] over the entries that reach each video's top_k; NaN for classes without positives."""
    return class_aps_from_ranked(*_ranked_top_k(predictions, labels, top_k))


def mean_of_defined(aps: np.ndarray) -> float:
    """Mean over classes with positives (official filter_empty_classes); 0 when there are none."""
    defined = aps[~np.isnan(aps)]
    return float(np.mean(defined)) if defined.size else 0.0


def mean_average_precision(predictions, labels, top_k: int = TOP_K) -> float:
    """Official mAP (eval.py): mean of per_class_average_precision over classes with >= 1 positive."""
    return mean_of_defined(per_class_average_precision(predictions, labels, top_k))


# ----------------------------------------------------------------------------------------------
# the paper's mAP: scores rounded to 1e-4 buckets (eqs. 8-10)


def _bucket_floats(scores: np.ndarray) -> np.ndarray:
    """10^4 s + 1/2 in float64 (exact for float32 scores), clipped to [0, 10000.5]: floor = bucket."""
    scaled = np.multiply(scores, 10_000.0, dtype=np.float64)
    scaled += 0.5
    return np.clip(scaled, 0.0, BUCKETS - 0.5, out=scaled)


def bucket_index(scores: np.ndarray) -> np.ndarray:
    """Round scores to 1e-4 buckets: floor(10^4 s + 1/2), clipped to 0 .. 10000. Scores are meant to be
    probabilities; others land in the end buckets."""
    return _bucket_floats(scores).astype(np.uint16)  # truncation = floor for non-negative values


class BucketHistogram:
    """Per-class histograms of scores in 1e-4 buckets: of all scores, and of the positives' label mass.

    Memory: two [C, 10001] arrays plus a bounded buffer of pending bucket indices, whatever N is.
    Why the buffer: counting one class costs a pass over its 10001 counters, which pays only over many
    videos; the buffer is class-major so each class's pending buckets are contiguous. Counts are integers,
    so when the buffer is flushed cannot change them; positives are added one video at a time
    (order-stable float sums).
    """

    def __init__(self, num_classes: int, buffer_entries: int = _BUFFER_ENTRIES) -> None:
        self.counts = np.zeros((num_classes, BUCKETS), dtype=np.int64)
        self.positives = np.zeros((num_classes, BUCKETS), dtype=np.float64)
        rows = min(1 << 16, max(1, buffer_entries // num_classes))
        self._pending = np.zeros((num_classes, rows), dtype=np.uint16)
        self._filled = 0

    def add(self, p: np.ndarray, entries: LabelEntries) -> None:
        np.add.at(self.positives, (entries.cols, bucket_index(p[entries.rows, entries.cols])), entries.values)
        start = 0
        while start < len(p):
            if self._filled == self._pending.shape[1]:
                self.flush()
            take = min(len(p) - start, self._pending.shape[1] - self._filled)
            floats = _bucket_floats(p[start : start + take])
            np.copyto(self._pending[:, self._filled : self._filled + take], floats.T, casting="unsafe")  # floor
            self._filled += take
            start += take

    def merge(self, other: "BucketHistogram") -> None:
        """Add another histogram's counts (integers) and positive mass (sums of 0/1 labels: exact)."""
        self.flush()
        other.flush()
        self.counts += other.counts
        self.positives += other.positives

    def __getstate__(self) -> dict:
        """Pickled (to another process) without the pending buffer: counted first, sent empty."""
        self.flush()
        return {"counts": self.counts, "positives": self.positives, "rows": self._pending.shape[1]}

    def __setstate__(self, state: dict) -> None:
        self.counts, self.positives = state["counts"], state["positives"]
        self._pending = np.zeros((self.counts.shape[0], state["rows"]), dtype=np.uint16)
        self._filled = 0

    def flush(self) -> None:
        """Count the pending bucket indices, one class at a time."""
        if self._filled == 0:
            return
        for counts, pending in zip(self.counts, self._pending[:, : self._filled]):
            counts += np.bincount(pending, minlength=BUCKETS)
        self._filled = 0

    def average_precisions(self, num_positives: np.ndarray) -> np.ndarray:
        """Eq. 10 per class: sum_j P(tau_j) [R(tau_j) - R(tau_j+1)], tau_j = j / 10^4, j = 1 .. 10^4.

        R(tau_j) - R(tau_j+1) is the label mass in bucket j over all positives, so AP =
        sum_j P(tau_j) * positives[j] / num_positives, a sum over the buckets that hold positives.
        Positives in bucket 0 are never retrieved but count in the recall denominator. NaN for classes
        without positives.
        """
        self.flush()
        aps = np.zeros(len(num_positives))
        for first in range(0, len(num_positives), 256):  # blocks bound the [classes, 10001] temporaries
            pos, cnt = self.positives[first : first + 256], self.counts[first : first + 256]
            cls, bucket = np.nonzero(pos[:, 1:] != 0)
            bucket += 1
            below_cnt, below_pos = np.cumsum(cnt, axis=1), np.cumsum(pos, axis=1)
            retrieved = below_cnt[cls, -1] - below_cnt[cls, bucket - 1]  # scores in bucket >= j
            relevant = below_pos[cls, -1] - below_pos[cls, bucket - 1]
            terms = relevant / retrieved * pos[cls, bucket]
            aps[first : first + 256] = np.bincount(cls, weights=terms, minlength=len(pos))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(num_positives > 0, aps / num_positives, np.nan)


def per_class_average_precision_buckets(predictions, labels) -> np.ndarray:
    """The paper's AP per class [C] (eqs. 8-10) over all scores; NaN for classes without positives."""
    p, y = check_pair(predictions, labels)
    histogram = BucketHistogram(p.shape[1])
    num_positives = np.zeros(p.shape[1], dtype=np.float64)
    for pc, yc, entries in _chunks(p, y):
        histogram.add(pc, entries)
        add_positives(num_positives, entries)
    return histogram.average_precisions(num_positives)


def average_precision_buckets(predictions, labels) -> float:
    """The paper's mAP: unweighted mean of the bucketed per-class APs over classes with positives."""
    return mean_of_defined(per_class_average_precision_buckets(predictions, labels))
