"""The max-calibration model (eq. 3): p_e(x) = max_{f ∈ F_e} p_{e|f}(x_f).

An optimistic first-order predictor: each label takes the most confident of its calibrated
features. At frame level a video's score is the max over its frames (§5.1).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .pairs import PairTable, expand


def group_max(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unique keys, max of values per key)."""
    if keys.size == 0:
        return keys.astype(np.int64), values.astype(np.float64)
    order = np.lexsort((values, keys))
    k, v = keys[order], values[order]
    last = np.flatnonzero(np.append(k[1:] != k[:-1], True))
    return k[last], v[last]


class SparseScorer:
    """Dense outputs from `scores(X) -> (rows, labels, p)`; shared by max-calibration and the cascade."""

    num_labels: int

    def predict(self, X: sparse.csr_matrix) -> np.ndarray:
        """Dense [n, num_labels] scores (0 where nothing fired)."""
        rows, labels, p = self.scores(X)
        out = np.zeros((X.shape[0], self.num_labels))
        out[rows, labels] = p
        return out

    def predict_videos(self, X: sparse.csr_matrix, video: np.ndarray, num_videos: int) -> np.ndarray:
        """[num_videos, num_labels]: per-frame scores max-aggregated to the video (§5.1)."""
        rows, labels, p = self.scores(X)
        out = np.zeros((num_videos, self.num_labels))
        np.maximum.at(out, (np.asarray(video)[rows], labels), p)
        return out


class MaxCalibrationModel(SparseScorer):
    """Eq. 3 over a PairTable (the kept pairs, top K per label)."""

    def __init__(self, pairs: PairTable) -> None:
        self.pairs_ = pairs

    @property
    def num_labels(self) -> int:
        return self.pairs_.num_labels

    def scores(self, X: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nonzero scores as (example row, label, p_e(x)) triples, one per (row, label)."""
        rows, pair, x = expand(X, self.pairs_.indptr)
        p = self.pairs_.curve(pair, x)
        keys, best = group_max(rows * self.num_labels + self.pairs_.label[pair], p)
        return keys // self.num_labels, keys % self.num_labels, best

