"""The calibration curve of eq. 1, p(x) = α(σ(βx+γ) − σ(γ)), and its inverse (used by eq. 5)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit


def calibration_curve(alpha, beta, gamma, x) -> np.ndarray:
    """p(x); 0 at x = 0 and non-decreasing in x for α, β ≥ 0."""
    alpha, beta, gamma, x = (np.asarray(v, dtype=np.float64) for v in (alpha, beta, gamma, x))
    return alpha * (expit(beta * x + gamma) - expit(gamma))


def inverse_calibration(alpha, beta, gamma, p) -> np.ndarray:
    """The smallest x ≥ 0 with p(x) ≥ p: 0 for p ≤ 0, +inf when the curve never reaches p."""
    alpha, beta, gamma, p = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (alpha, beta, gamma, p)))
    out = np.full(p.shape, np.inf)
    out[p <= 0] = 0.0
    live = (p > 0) & (alpha > 0) & (beta > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = p[live] / alpha[live] + expit(gamma[live])
        x = np.where(level < 1.0, (logit(np.minimum(level, 1.0)) - gamma[live]) / beta[live], np.inf)
    out[live] = np.maximum(x, 0.0)
    return out
