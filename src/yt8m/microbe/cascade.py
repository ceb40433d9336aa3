"""The MiCRObE cascade (§3.4, eq. 5): max-calibration as a filter, the second-order model behind it.

τ_e is the lowest max-calibration score of any positive among label e's mined examples. Since every
p_{e|f} is increasing, max_f p_{e|f}(x_f) ≥ τ_e exactly when some x_f ≥ η_{e|f} = p_{e|f}⁻¹(τ_e),
so inference compares feature values with precomputed η and runs Q_e only where one passes;
everywhere else P_e(x) = 0. Labels marked `fallback` (no usable second-order model: constant, or no
mined positive) are scored by max-calibration (eq. 3) instead.

All labels' models are stored aligned with the pair table: pair row j = (e, f) holds the weights of
feature f in label e's gates and experts, so one expansion of a sparse batch through the table
computes every needed dot product at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import expit

from .curves import inverse_calibration
from .maxcal import SparseScorer, group_max
from .mining import MinedLabel
from .pairs import PairTable, expand
from .second_order import LabelModel, moe_log_probs


def label_thresholds(mined: dict[int, MinedLabel], num_labels: int) -> np.ndarray:
    """τ_e: min max-calibration score over the mined positives of e (+inf: no positive mined)."""
    tau = np.full(num_labels, np.inf)
    for e, m in mined.items():
        if m.positives:
            tau[e] = float(m.score[m.y > 0].min())
    return tau


def feature_thresholds(pairs: PairTable, tau: np.ndarray) -> np.ndarray:
    """η_{e|f} = p_{e|f}⁻¹(τ_e) per pair row (+inf where the curve never reaches τ_e), lowered by
    a relative 1e-12 so that the positive that set τ_e passes despite rounding in the inverse."""
    return inverse_calibration(pairs.alpha, pairs.beta, pairs.gamma, tau[pairs.label]) * (1.0 - 1e-12)


@dataclass
class CascadeModel(SparseScorer):
    """P_e(x) = Q_e(x) if some x_f ≥ η_{e|f}, else 0; Q_e logistic ("logistic") or MoE ("moe");
    P_e(x) = max_f p_{e|f}(x_f) for the fallback labels."""

    pairs: PairTable
    eta: np.ndarray  # [P]
    kind: str
    gate_weights: np.ndarray  # [P, H] (unused for logistic)
    expert_weights: np.ndarray  # [P, H]
    gate_bias: np.ndarray  # [L, H]
    expert_bias: np.ndarray  # [L, H]
    has_model: np.ndarray  # [L] bool
    fallback: np.ndarray | None = None  # [L] bool: scored by max-calibration; None: none

    def __post_init__(self) -> None:
        L = self.pairs.num_labels
        self.fallback = np.zeros(L, dtype=bool) if self.fallback is None else np.asarray(self.fallback, dtype=bool)
        if self.fallback.shape != (L,) or np.any(self.fallback & self.has_model):
            raise ValueError("fallback must be a [num_labels] mask of labels without a second-order model")

    @property
    def num_labels(self) -> int:
        return self.pairs.num_labels

    @property
    def mixtures(self) -> int:
        return self.expert_weights.shape[1]

    @classmethod
    def assemble(cls, pairs: PairTable, models: dict[int, LabelModel], kind: str, tau: np.ndarray,
                 fallback: np.ndarray | None = None) -> "CascadeModel":
        """Scatter the per-label models into pair-aligned arrays and precompute η."""
        H = max((m.experts.shape[1] for m in models.values()), default=1)
        P, L = len(pairs), pairs.num_labels
        gw, ew = np.zeros((P, H)), np.zeros((P, H))
        gb, eb = np.zeros((L, H)), np.zeros((L, H))
        has = np.zeros(L, dtype=bool)
        for e, m in models.items():
            ew[m.pair_rows] = m.experts[:-1]
            eb[e] = m.experts[-1]
            if m.gates is not None:
                gw[m.pair_rows] = m.gates[:-1]
                gb[e] = m.gates[-1]
            has[e] = True
        tau = np.where(has, tau, np.inf)
        return cls(pairs, feature_thresholds(pairs, tau), kind, gw, ew, gb, eb, has, fallback)

    def scores(self, X: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nonzero outputs as (row, label, P_e(x)): the cascade where eq. 5 passes, max-calibration
        for the fallback labels."""
        rows, pair, x = expand(X, self.pairs.indptr)
        fallback = self.fallback[self.pairs.label[pair]]
        cascade = self._cascade_scores(rows[~fallback], pair[~fallback], x[~fallback])
        if not fallback.any():
            return cascade
        L = self.num_labels
        keys, best = group_max(rows[fallback] * L + self.pairs.label[pair[fallback]], self.pairs.curve(pair[fallback], x[fallback]))
        fired = best > 0
        keys, best = keys[fired], best[fired]
        return tuple(np.concatenate([a, b]) for a, b in zip(cascade, (keys // L, keys % L, best)))

    def _cascade_scores(self, rows: np.ndarray, pair: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        L = self.num_labels
        labels = self.pairs.label[pair]
        keys = rows * L + labels
        passed = np.unique(keys[x >= self.eta[pair]])
        if passed.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        at = np.searchsorted(passed, keys)
        inside = (at < len(passed)) & (passed[np.minimum(at, len(passed) - 1)] == keys)
        slot, pair, x = at[inside], pair[inside], x[inside]
        out_rows, out_labels = passed // L, passed % L
        H = self.mixtures
        B = self.expert_bias[out_labels].copy()
        for h in range(H):
            B[:, h] += np.bincount(slot, weights=x * self.expert_weights[pair, h], minlength=len(passed))
        if self.kind == "logistic":
            return out_rows, out_labels, expit(B[:, 0])
        A = self.gate_bias[out_labels].copy()
        for h in range(H):
            A[:, h] += np.bincount(slot, weights=x * self.gate_weights[pair, h], minlength=len(passed))
        _, _, _, logs = moe_log_probs(A, B)
        return out_rows, out_labels, np.exp(logs[:, 0])

