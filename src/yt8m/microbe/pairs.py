"""The (label, feature) pair table every MiCRObE stage shares.

Calibration produces one row per kept pair (e, f) with its curve p_{e|f}(x) = α(σ(βx+γ) − σ(γ)).
The rows are sorted by feature, so the rows of a feature f are the inverse list E_f, and expanding
a sparse example through the table yields exactly the (example, pair, x_f) triples that eq. 3
(max-calibration), the mining (§3.3), the cascade test (eq. 5) and the second-order models need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .curves import calibration_curve


@dataclass
class PairTable:
    """Kept calibration pairs sorted by (feature, label); row j is pair (label[j], feature[j])."""

    feature: np.ndarray  # int64 [P]
    label: np.ndarray  # int64 [P]
    alpha: np.ndarray  # float64 [P]
    beta: np.ndarray  # float64 [P]
    gamma: np.ndarray  # float64 [P]
    x_max: np.ndarray  # float64 [P]: the largest value of the feature in the calibration data
    num_features: int
    num_labels: int
    indptr: np.ndarray = field(init=False)  # int64 [num_features + 1]: rows of feature f are indptr[f]:indptr[f+1]

    def __post_init__(self) -> None:
        self.feature = np.asarray(self.feature, dtype=np.int64)
        self.label = np.asarray(self.label, dtype=np.int64)
        for name in ("alpha", "beta", "gamma", "x_max"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        order = np.lexsort((self.label, self.feature))
        if not np.array_equal(order, np.arange(len(order))):
            for name in ("feature", "label", "alpha", "beta", "gamma", "x_max"):
                setattr(self, name, getattr(self, name)[order])
        if len(self.feature) and (self.feature.min() < 0 or self.feature.max() >= self.num_features):
            raise ValueError(f"pair features must lie in [0, {self.num_features})")
        if len(self.label) and (self.label.min() < 0 or self.label.max() >= self.num_labels):
            raise ValueError(f"pair labels must lie in [0, {self.num_labels})")
        self.indptr = np.zeros(self.num_features + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.feature, minlength=self.num_features), out=self.indptr[1:])

    def __len__(self) -> int:
        return len(self.feature)

    @property
    def p_max(self) -> np.ndarray:
        """p_{e|f}(x_max): the ranking key of §3.1's top-K feature selection."""
        return calibration_curve(self.alpha, self.beta, self.gamma, self.x_max)

    def curve(self, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
        """p_{e|f}(x) for pair rows `rows` at values `x` (same shape)."""
        return calibration_curve(self.alpha[rows], self.beta[rows], self.gamma[rows], np.asarray(x, dtype=np.float64))

    def subset(self, keep: np.ndarray) -> "PairTable":
        return PairTable(
            self.feature[keep], self.label[keep], self.alpha[keep], self.beta[keep], self.gamma[keep], self.x_max[keep],
            self.num_features, self.num_labels,
        )

    def features_of_label(self) -> tuple[np.ndarray, np.ndarray]:
        """(indptr [L+1], rows): the pair rows of label e, i.e. F_e, are rows[indptr[e]:indptr[e+1]]."""
        rows = np.lexsort((self.feature, self.label))
        indptr = np.zeros(self.num_labels + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.label, minlength=self.num_labels), out=indptr[1:])
        return indptr, rows

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ("feature", "label", "alpha", "beta", "gamma", "x_max")}

    @classmethod
    def from_arrays(cls, arrays, num_features: int, num_labels: int) -> "PairTable":
        return cls(**{k: arrays[k] for k in ("feature", "label", "alpha", "beta", "gamma", "x_max")},
                   num_features=num_features, num_labels=num_labels)


def expand(X: sparse.csr_matrix, indptr: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (example row, pair row, x_f) for the nonzeros of X and the pairs of their feature.

    `indptr` indexes pair rows by feature (PairTable.indptr, or a shrunk inverse list during
    mining); `rows` maps those positions to pair rows (identity when None).
    """
    X = X.tocsr()
    nnz_feature = X.indices.astype(np.int64)
    counts = indptr[nnz_feature + 1] - indptr[nnz_feature]
    total = int(counts.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float64)
    example_of_nnz = np.repeat(np.arange(X.shape[0], dtype=np.int64), np.diff(X.indptr))
    ends = np.cumsum(counts)
    position = np.arange(total, dtype=np.int64) - np.repeat(ends - counts, counts) + np.repeat(indptr[nnz_feature], counts)
    pair = position if rows is None else rows[position]
    return np.repeat(example_of_nnz, counts), pair, np.repeat(X.data.astype(np.float64), counts)
