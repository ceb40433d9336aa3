"""Second-order models per label (§3.4–3.5): logistic regression and a mixture of experts.

MoE (eq. 6): p(y=1|x) = Σ_{h=1..H} p(h|x) σ(u_hᵀx), with p(h|x) a softmax over H + 1 gates whose
last (dummy) state has weight 0 and always says "absent". Both models minimize the weighted log-loss
with L2 (eq. 7–8), Σ_i w_i L(p(x_i), g_i) + λ/2 (‖w‖² + ‖u‖²), by L-BFGS with analytic gradients.
The log-likelihood is evaluated in log space (log-sum-exp over the states), which gives the paper's
gradients without dividing by p(1−p). The offsets (the constant feature) are not penalized: with a
free gate offset a one-expert mixture contains the logistic regression, which is what makes the
paper's remark "the likelihood of the trained MoE model is at least as much as the one obtained from
the logistic regression" hold; H = 1 therefore also starts from exactly that logistic model.

Initialization: H = 1 takes the experts from the logistic solution and zero gates (and, as a second
start, the logistic model itself); H > 1 takes the
gates from H positives drawn by k-means++ (offset 0) and zero experts, with random restarts keeping
the best objective. λ: from 1e-2, doubling, logistic regression trained on one video-disjoint half
and scored on the other, until the held-out loss rises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp

FTOL = 1e-6  # "until the relative change in the objective ceases to exceed 1e-6"
GATE_OPEN = 12.0  # gate offset for which p(h=1|x) = σ(12) ≈ 1 − 6e-6 (H = 1 start from the logistic model)


def with_bias(X: sparse.spmatrix) -> sparse.csr_matrix:
    """[n, d+1]: the features and a constant 1 (the offset term)."""
    X = sparse.csr_matrix(X, dtype=np.float64)
    return sparse.hstack([X, np.ones((X.shape[0], 1))], format="csr")


# ----------------------------------------------------------------------------------------------
# objectives


def _penalized(weights: np.ndarray) -> np.ndarray:
    """The weights under the L2 penalty: all but the offset (last row), which is left free."""
    out = weights.copy()
    out[-1] = 0.0
    return out


def logistic_objective(u: np.ndarray, X: sparse.csr_matrix, y: np.ndarray, w: np.ndarray, lam: float) -> tuple[float, np.ndarray]:
    """Σ w_i L(σ(uᵀx_i), y_i) + λ/2 ‖u‖² (offset excluded) and its gradient."""
    z = X @ u
    loss = w * (np.logaddexp(0.0, z) - y * z)
    ur = _penalized(u)
    grad = X.T @ (w * (expit(z) - y)) + lam * ur
    return float(loss.sum() + 0.5 * lam * ur @ ur), np.asarray(grad).ravel()


def moe_log_probs(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """From gate logits A [n,H] and expert logits B [n,H]: log p(h|x) [n,H+1] (dummy last),
    log σ(B), log(1−σ(B)), and (log p, log(1−p))."""
    n, H = A.shape
    logits = np.hstack([A, np.zeros((n, 1))])
    log_gate = logits - logsumexp(logits, axis=1, keepdims=True)
    log_q, log_not_q = log_expit(B), log_expit(-B)
    log_p = logsumexp(log_gate[:, :H] + log_q, axis=1)
    log_not_p = logsumexp(np.hstack([log_gate[:, :H] + log_not_q, log_gate[:, H:]]), axis=1)
    return log_gate, log_q, log_not_q, np.stack([log_p, log_not_p], axis=1)


def moe_objective(params: np.ndarray, X: sparse.csr_matrix, y: np.ndarray, w: np.ndarray, lam: float, H: int) -> tuple[float, np.ndarray]:
    """Eq. 7 for the mixture: params = [gates W (d×H) ravelled, experts U (d×H) ravelled]."""
    d = X.shape[1]
    W = params[: d * H].reshape(d, H)
    U = params[d * H :].reshape(d, H)
    A, B = X @ W, X @ U
    log_gate, log_q, log_not_q, logs = moe_log_probs(A, B)
    log_p, log_not_p = logs[:, 0], logs[:, 1]
    loss = -(w * (y * log_p + (1 - y) * log_not_p)).sum()
    gate = np.exp(log_gate[:, :H])
    r = np.exp(log_gate[:, :H] + log_q - log_p[:, None])  # p(h | x, y=1)
    s = np.exp(log_gate[:, :H] + log_not_q - log_not_p[:, None])  # p(h | x, y=0)
    q = np.exp(log_q)
    yy = y[:, None]
    dA = gate - (yy * r + (1 - yy) * s)  # = ∂L/∂(w_hᵀx): p_h|x (p_y|h,x − p_y|x)(p_y|x − g) / (p(1−p))
    dB = -yy * r * (1 - q) + (1 - yy) * s * q  # = ∂L/∂(u_hᵀx): p_h|x p_y|h,x (1−p_y|h,x)(p_y|x − g) / (p(1−p))
    Wr, Ur = _penalized(W), _penalized(U)
    gW = X.T @ (w[:, None] * dA) + lam * Wr
    gU = X.T @ (w[:, None] * dB) + lam * Ur
    value = loss + 0.5 * lam * ((Wr * Wr).sum() + (Ur * Ur).sum())
    return float(value), np.concatenate([np.asarray(gW).ravel(), np.asarray(gU).ravel()])


def moe_predict(X: sparse.csr_matrix, W: np.ndarray, U: np.ndarray) -> np.ndarray:
    _, _, _, logs = moe_log_probs(X @ W, X @ U)
    return np.exp(logs[:, 0])


def log_loss(p: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    """Mean weighted log-loss (eq. 8)."""
    p = np.clip(p, 1e-15, 1 - 1e-15)
    w = np.ones_like(p) if w is None else w
    return float((w * -(y * np.log(p) + (1 - y) * np.log(1 - p))).sum() / max(w.sum(), 1e-300))


# ----------------------------------------------------------------------------------------------
# fitting


def _lbfgs(fun, x0: np.ndarray, args, max_iter: int) -> tuple[np.ndarray, float]:
    result = minimize(fun, x0, args=args, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "ftol": FTOL, "gtol": 1e-8})
    return result.x, float(result.fun)


def fit_logistic(X: sparse.csr_matrix, y: np.ndarray, w: np.ndarray, lam: float, *, max_iter: int = 500) -> tuple[np.ndarray, float]:
    """(u [d], objective) of the L2-regularized weighted logistic regression (X holds the bias)."""
    return _lbfgs(logistic_objective, np.zeros(X.shape[1]), (X, y.astype(np.float64), w, lam), max_iter)


def kmeans_pp(X: sparse.csr_matrix, H: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of H rows drawn by k-means++ (D² sampling; duplicates only when rows run out)."""
    n = X.shape[0]
    norms = np.asarray(X.multiply(X).sum(axis=1)).ravel()
    chosen = [int(rng.integers(n))]
    dist = np.full(n, np.inf)
    for _ in range(1, H):
        c = chosen[-1]
        d = norms + norms[c] - 2.0 * np.asarray((X @ X[c].T).todense()).ravel()
        dist = np.minimum(dist, np.maximum(d, 0.0))
        total = dist.sum()
        chosen.append(int(rng.choice(n, p=dist / total)) if total > 0 else int(rng.integers(n)))
    return np.array(chosen)


def fit_moe(X: sparse.csr_matrix, y: np.ndarray, w: np.ndarray, lam: float, H: int, *, logistic: np.ndarray | None = None,
            restarts: int = 3, rng: np.random.Generator | None = None, max_iter: int = 500) -> tuple[np.ndarray, np.ndarray, float]:
    """(gates W [d,H], experts U [d,H], objective) of the best start (see the module doc)."""
    d = X.shape[1]
    yf = y.astype(np.float64)
    starts = []
    if H == 1:
        U0 = (logistic if logistic is not None else fit_logistic(X, y, w, lam)[0]).reshape(d, 1)
        starts.append(np.concatenate([np.zeros(d), U0.ravel()]))  # the paper's start: zero gates
        # and the logistic model itself (gate offset high: p(h=1|x) ≈ 1), so that the result's
        # objective is at most the logistic regression's, as the paper intends
        gate = np.zeros(d)
        gate[-1] = GATE_OPEN
        starts.append(np.concatenate([gate, U0.ravel()]))
    else:
        rng = rng if rng is not None else np.random.default_rng(0)
        positives = np.flatnonzero(y > 0)
        pool = X[positives] if positives.size else X
        for _ in range(max(restarts, 1)):
            W0 = pool[kmeans_pp(pool, H, rng)].toarray().T.copy()  # [d, H]
            W0[-1, :] = 0.0  # the offset term of the gates starts at zero
            starts.append(np.concatenate([W0.ravel(), np.zeros(d * H)]))
    best = None
    for x0 in starts:
        params, value = _lbfgs(moe_objective, x0, (X, yf, w, lam, H), max_iter)
        if best is None or value < best[1]:
            best = (params, value)
    params, value = best
    return params[: d * H].reshape(d, H), params[d * H :].reshape(d, H), value


MAX_LAMBDA = 1e3  # bound of the λ search (see the module doc)


def select_lambda(X: sparse.csr_matrix, y: np.ndarray, w: np.ndarray, half: np.ndarray, *, start: float = 1e-2, factor: float = 2.0,
                  max_lambda: float = MAX_LAMBDA) -> tuple[float, list[float]]:
    """λ by the paper's search: train on half 0, held-out log-loss on half 1, stop when it rises
    (or when the next λ would exceed `max_lambda`: free offsets let the loss fall forever when the
    features do not generalise).

    Returns (λ, held-out losses tried); λ = `start` when a half lacks positives or negatives.
    """
    if factor <= 1.0 or max_lambda < start:
        raise ValueError(f"λ search needs factor > 1 and max_lambda ≥ start, got factor={factor}, start={start}, max_lambda={max_lambda}")
    a, b = half == 0, half == 1
    if min(y[a].sum(), (1 - y[a]).sum(), y[b].sum(), (1 - y[b]).sum()) == 0:
        return start, []
    Xa, Xb = X[a], X[b]
    losses: list[float] = []
    lam = start
    while lam <= max_lambda:
        u, _ = fit_logistic(Xa, y[a], w[a], lam)
        losses.append(log_loss(expit(Xb @ u), y[b], w[b]))
        if len(losses) > 1 and losses[-1] > losses[-2]:
            return lam / factor, losses
        lam *= factor
    return lam / factor, losses


# ----------------------------------------------------------------------------------------------
# one label


MODEL_KINDS = ("logistic", "moe")


@dataclass
class LabelModel:
    """A trained second-order model of one label: gates/experts over its F_e features + offset.

    Logistic regression is stored as experts U [d+1, 1] with `gates` None.
    """

    label: int
    pair_rows: np.ndarray  # [d] PairTable rows of the label's features F_e (the columns of X)
    lam: float
    gates: np.ndarray | None  # [d+1, H]
    experts: np.ndarray  # [d+1, H]
    objective: float
    train_examples: int
    train_positives: int
    lambda_at_bound: bool = False  # the held-out loss was still falling at λ_max: the data prefers a constant


    def predict(self, X: sparse.spmatrix) -> np.ndarray:
        Xb = with_bias(X)
        if self.gates is None:
            return expit(Xb @ self.experts[:, 0])
        return moe_predict(Xb, self.gates, self.experts)

    def spread(self, X: sparse.spmatrix) -> float:
        """max − min of the model's probability over examples X: near 0, the model is a constant
        and ranks nothing (the pipeline then falls back to max-calibration for the label)."""
        if X.shape[0] == 0:
            return 0.0
        p = self.predict(X)
        return float(p.max() - p.min())


def train_label(X: sparse.spmatrix, y: np.ndarray, half: np.ndarray, label: int, pair_rows: np.ndarray, *, kind: str = "moe", mixtures: int = 1,
                restarts: int = 3, seed: int = 0, lambda_start: float = 1e-2, lambda_factor: float = 2.0,
                lambda_max: float = MAX_LAMBDA, weights: np.ndarray | None = None) -> LabelModel:
    """λ search, then logistic regression (kind="logistic") or the H-mixture MoE on all examples."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown second-order model {kind!r}: use one of {', '.join(MODEL_KINDS)}")
    Xb = with_bias(X)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    lam, losses = select_lambda(Xb, y, w, np.asarray(half), start=lambda_start, factor=lambda_factor, max_lambda=lambda_max)
    at_bound = bool(losses) and (len(losses) == 1 or losses[-1] <= losses[-2])  # the search never saw the loss rise
    u, value = fit_logistic(Xb, y, w, lam)
    if kind == "logistic":
        return LabelModel(label, pair_rows, lam, None, u[:, None], value, len(y), int(y.sum()), at_bound)
    rng = np.random.default_rng([seed, label])
    W, U, value = fit_moe(Xb, y, w, lam, mixtures, logistic=u, restarts=restarts, rng=rng)
    return LabelModel(label, pair_rows, lam, W, U, value, len(y), int(y.sum()), at_bound)
