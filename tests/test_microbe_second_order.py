"""Second-order models (§3.4–3.5): analytic gradients of eq. 7–8, the mixture with its dummy
state, the initializations and the λ search."""

import numpy as np
import pytest
from scipy import sparse
from scipy.special import expit

from yt8m.microbe.second_order import (
    MAX_LAMBDA, fit_logistic, fit_moe, kmeans_pp, logistic_objective, moe_objective, moe_predict, select_lambda, train_label,
    with_bias,
)


def data(seed=0, n=80, d=6):
    rng = np.random.default_rng(seed)
    X = with_bias(sparse.random(n, d, density=0.5, random_state=seed))
    return X, (rng.random(n) < 0.4).astype(float), rng.random(n) + 0.5


def central_gradient(f, p, eps=1e-6):
    g = np.zeros_like(p)
    for i in range(len(p)):
        e = np.zeros_like(p)
        e[i] = eps
        g[i] = (f(p + e) - f(p - e)) / (2 * eps)
    return g


@pytest.mark.parametrize("H", [1, 3])
def test_moe_gradient_matches_finite_differences(H):
    X, y, w = data()
    p = np.random.default_rng(H).normal(size=2 * X.shape[1] * H)
    value, grad = moe_objective(p, X, y, w, 0.3, H)
    assert np.allclose(central_gradient(lambda q: moe_objective(q, X, y, w, 0.3, H)[0], p), grad, atol=1e-5)


def test_logistic_gradient_matches_finite_differences():
    X, y, w = data(1)
    u = np.random.default_rng(0).normal(size=X.shape[1])
    assert np.allclose(central_gradient(lambda q: logistic_objective(q, X, y, w, 0.3)[0], u), logistic_objective(u, X, y, w, 0.3)[1], atol=1e-5)


def test_moe_probability_is_eq6_with_a_dummy_state():
    X, _, _ = data(2)
    rng = np.random.default_rng(0)
    d, H = X.shape[1], 3
    W, U = rng.normal(size=(d, H)), rng.normal(size=(d, H))
    logits = np.hstack([X @ W, np.zeros((X.shape[0], 1))])
    gate = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(moe_predict(X, W, U), (gate[:, :H] * expit(X @ U)).sum(axis=1))


def test_one_expert_mixture_is_at_least_as_good_as_the_logistic_regression():
    X, y, w = data(3, n=200)
    u, logistic_value = fit_logistic(X, y, w, 0.5)
    _, _, moe_value = fit_moe(X, y, w, 0.5, 1, logistic=u)
    assert moe_value <= logistic_value * (1 + 1e-5)


def test_mixture_learns_what_one_logistic_cannot():
    """Two positive modes (features 0+1 together, or 2+3 together) and negatives that show one
    feature of each mode: an OR of ANDs."""
    rng = np.random.default_rng(4)
    pos = np.vstack([np.array([[1, 1, 0, 0]] * 60), np.array([[0, 0, 1, 1]] * 60)])
    neg = np.vstack([np.array([[1, 0, 1, 0]] * 60), np.array([[0, 1, 0, 1]] * 60), np.array([[1, 0, 0, 1]] * 60)])
    X = with_bias(sparse.csr_matrix((np.vstack([pos, neg]) + rng.random((300, 4)) * 0.05).astype(float)))
    y = np.r_[np.ones(120), np.zeros(180)]
    w = np.ones(300)
    _, logistic_value = fit_logistic(X, y, w, 0.01)
    _, _, moe_value = fit_moe(X, y, w, 0.01, 2, restarts=3, rng=np.random.default_rng(0))
    assert moe_value < 0.5 * logistic_value


def test_kmeans_pp_draws_far_apart_points():
    X = sparse.csr_matrix(np.vstack([np.tile([1.0, 0.0], (20, 1)), np.tile([0.0, 5.0], (3, 1))]))
    chosen = kmeans_pp(X, 2, np.random.default_rng(0))
    assert {int(i) < 20 for i in chosen} == {True, False}  # one from each cluster: D² sampling


def test_lambda_search_doubles_until_heldout_loss_rises():
    rng = np.random.default_rng(5)
    X = with_bias(sparse.csr_matrix(rng.normal(size=(200, 8))))
    y = (rng.random(200) < 0.3).astype(float)  # features carry no signal: regularization helps
    lam, losses = select_lambda(X, y, np.ones(200), rng.integers(0, 2, 200))
    assert len(losses) >= 2
    k = int(round(np.log2(lam / 1e-2)))
    assert lam == pytest.approx(1e-2 * 2**k)
    if losses[-1] > losses[-2]:
        assert all(a >= b for a, b in zip(losses[:-2], losses[1:-1]))


def test_lambda_search_cannot_run_away_when_the_features_do_not_generalise():
    """Defect: with free offsets the held-out loss keeps falling as the weights shrink to the prior,
    so the doubling ran to ~1e6 and the model became a constant."""
    rng = np.random.default_rng(0)
    n = 400
    X = with_bias(sparse.random(n, 6, density=0.4, random_state=1))
    y = (rng.random(n) < 0.3).astype(float)  # independent of X
    half = rng.integers(0, 2, n)
    lam, losses = select_lambda(X, y, np.ones(n), half)
    assert lam <= MAX_LAMBDA and all(a >= b for a, b in zip(losses[:-1], losses[1:]))  # it stopped at the bound
    model = train_label(X[:, :-1], y, half, 0, np.arange(6), kind="logistic")
    assert model.lam <= MAX_LAMBDA and model.lambda_at_bound  # flagged: the pipeline scores it by max-calibration
    signal = (np.asarray(X[:, 0].todense()).ravel() > 0.5).astype(float)  # a label the first feature predicts
    assert not train_label(X[:, :-1], signal, half, 1, np.arange(6), kind="logistic").lambda_at_bound


def test_train_label_models_predict_probabilities():
    X, y, _ = data(6, n=150)
    half = np.arange(150) % 2
    for kind, H in (("logistic", 1), ("moe", 1), ("moe", 2)):
        model = train_label(X[:, :-1], y, half, 3, np.arange(6), kind=kind, mixtures=H, restarts=2)
        p = model.predict(X[:, :-1])
        assert p.shape == (150,) and np.all((p > 0) & (p < 1))
        assert (model.gates is None) == (kind == "logistic")
