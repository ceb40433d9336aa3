"""Calibration (§3.1): the curve, eq. 2's exact derivatives, the constrained Newton fit, the
bucketed statistics and the top-K selection."""

import numpy as np
import pytest
from scipy.optimize import minimize

from microbe_toy import toy_examples
from yt8m.microbe.calibration import (
    BlockResult, CalibrationProblem, CalibrationStats, _Segments, _top_constraint, calibrate, choose_lambda,
    fit_calibration, heldout_split, select_top_features,
)
from yt8m.microbe.curves import calibration_curve, inverse_calibration
from yt8m.microbe.features import SparseExamples
from scipy import sparse


def random_problem(rng, pairs=6):
    lengths = rng.integers(3, 25, pairs)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    x = rng.random(starts[-1])
    x_max = np.array([x[a:b].max() for a, b in zip(starts[:-1], starts[1:])])
    return CalibrationProblem(np.arange(pairs), np.arange(pairs), starts, x, rng.integers(1, 20, starts[-1]).astype(float), rng.random(starts[-1]), x_max)


def test_curve_is_zero_at_zero_increasing_and_inverted():
    a, b, c = 0.8, 6.0, -2.0
    x = np.linspace(0, 1, 101)
    p = calibration_curve(a, b, c, x)
    assert p[0] == 0 and np.all(np.diff(p) > 0)
    assert np.allclose(inverse_calibration(a, b, c, p[1:]), x[1:], atol=1e-9)
    assert inverse_calibration(a, b, c, 0.0) == 0.0
    assert np.isinf(inverse_calibration(a, b, c, a * (1 - 1 / (1 + np.exp(-c))) + 1e-3))  # above the plateau


def test_gradient_and_hessian_of_eq2_match_finite_differences():
    rng = np.random.default_rng(1)
    seg = _Segments.of(random_problem(rng))
    theta = np.column_stack([rng.random(6) + 0.2, rng.random(6) * 5 + 0.1, rng.normal(size=6)])
    obj, grad, H = seg.gradient_hessian(theta, 0.3)
    assert np.allclose(obj, seg.objective(theta, 0.3))
    eps = 1e-6
    for i in range(3):
        up, down = theta.copy(), theta.copy()
        up[:, i] += eps
        down[:, i] -= eps
        assert np.allclose((seg.objective(up, 0.3) - seg.objective(down, 0.3)) / (2 * eps), grad[:, i], rtol=1e-6, atol=1e-6)
        assert np.allclose((seg.gradient_hessian(up, 0.3)[1] - seg.gradient_hessian(down, 0.3)[1]) / (2 * eps), H[:, :, i], rtol=1e-5, atol=1e-5)


def test_top_constraint_derivatives():
    rng = np.random.default_rng(2)
    theta = np.column_stack([rng.random(4) + 0.5, rng.random(4) * 4, rng.normal(size=4)])
    x_max = rng.random(4) + 0.5
    value, grad, hess = _top_constraint(theta, x_max)
    assert np.allclose(value, calibration_curve(theta[:, 0], theta[:, 1], theta[:, 2], x_max) - 1)
    eps = 1e-6
    for i in range(3):
        up, down = theta.copy(), theta.copy()
        up[:, i] += eps
        down[:, i] -= eps
        assert np.allclose((_top_constraint(up, x_max)[0] - _top_constraint(down, x_max)[0]) / (2 * eps), grad[:, i], atol=1e-6)
        assert np.allclose((_top_constraint(up, x_max)[1] - _top_constraint(down, x_max)[1]) / (2 * eps), hess[:, :, i], atol=1e-5)


def test_fit_recovers_a_curve_from_bucket_means():
    x = np.linspace(0.01, 1.0, 100)
    truth = (0.7, 8.0, -3.0)
    problem = CalibrationProblem(np.zeros(1, int), np.zeros(1, int), np.array([0, 100]), x, np.full(100, 50.0),
                                 calibration_curve(*truth, x), np.array([1.0]))
    fit = fit_calibration(problem, 1e-8)
    assert np.allclose(fit.params[0], truth, rtol=1e-3)


def test_fit_respects_constraints_and_matches_a_general_solver():
    rng = np.random.default_rng(3)
    problem = random_problem(rng, pairs=8)
    lam = 0.5
    fit = fit_calibration(problem, lam)
    a, b, c = fit.params.T
    assert np.all(a >= 0) and np.all(b >= 0)
    assert np.all(calibration_curve(a, b, c, problem.x_max) <= 1 + 1e-9)
    seg = _Segments.of(problem)
    for i in range(len(problem)):
        one = seg.restrict(np.array([i]))
        f = lambda t: float(one.objective(t[None, :], lam)[0])
        cons = [{"type": "ineq", "fun": lambda t: 1 - calibration_curve(t[0], t[1], t[2], problem.x_max[i])}]
        best = min((minimize(f, x0, method="SLSQP", bounds=[(0, None), (0, None), (None, None)], constraints=cons, options={"ftol": 1e-12})
                    for x0 in ([0.5, 2.0, -1.0], [1.0, 8.0, -3.0], [0.2, 1.0, 0.0])), key=lambda r: r.fun)
        assert fit.objective[i] <= best.fun + 1e-6 * (1 + abs(best.fun))


def test_active_top_constraint_is_met_exactly():
    x = np.linspace(0.05, 1.0, 20)
    problem = CalibrationProblem(np.zeros(1, int), np.zeros(1, int), np.array([0, 20]), x, np.full(20, 100.0),
                                 (x > 0.5).astype(float), np.array([1.0]))  # a step: wants p(x_max) above 1
    fit = fit_calibration(problem, 1e-3)
    a, b, c = fit.params[0]
    assert calibration_curve(a, b, c, 1.0) == pytest.approx(1.0, abs=1e-7)
    assert fit.iterations[0] < 40


def small_examples():
    """3 examples: feature 0 at 0.5 (labels {0}), feature 0 at 0.50004 and feature 1 (labels {0, 1}), feature 1 (labels {})."""
    X = sparse.csr_matrix(np.array([[0.5, 0.0], [0.50004, 0.2], [0.0, 0.7]], dtype=np.float32))
    return SparseExamples(X, np.array([0, 1, 3, 3]), np.array([0, 0, 1]), np.arange(3), np.arange(3), np.arange(3))


def test_statistics_bucket_counts_by_hand():
    stats = CalibrationStats(num_features=2, num_labels=2)
    stats.add(small_examples(), np.zeros(3, int))
    labels, features = stats.candidate_pairs((0,))
    assert sorted(zip(labels.tolist(), features.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    problem = stats.problem(np.array([0, 1]), np.array([0, 1]), (0,))
    # (e=0, f=0): one bucket [0.5, 0.5001) with 2 examples, both labeled 0
    assert problem.starts.tolist() == [0, 1, 3]
    assert problem.weight[:1].tolist() == [2.0] and problem.target[:1].tolist() == [1.0]
    assert problem.x[0] == pytest.approx(0.50005)
    # (e=1, f=1): buckets 0.2 (labeled 1) and 0.7 (not)
    assert problem.weight[1:].tolist() == [1.0, 1.0] and problem.target[1:].tolist() == [1.0, 0.0]
    assert problem.x_max[1] == pytest.approx(0.69995)  # float32 0.7 is 0.69999999: bucket [0.6999, 0.7)


def test_statistics_merge_and_blocks_equal_the_whole():
    ex = toy_examples(videos=60, frames=4)
    split = heldout_split(ex.video_hash, 0.3)
    whole = CalibrationStats(60, 12)
    whole.add(ex, split)
    half = len(ex) // 2
    a, b = CalibrationStats(60, 12), CalibrationStats(60, 12)
    a.add(ex.take(np.arange(half)), split[:half])
    b.add(ex.take(np.arange(half, len(ex))), split[half:])
    merged = a.merge(b).compact()
    whole.compact()
    assert np.array_equal(merged.efb.keys, whole.efb.keys) and np.array_equal(merged.efb.counts, whole.efb.counts)
    blocks = whole.split_blocks(3)
    assert sum(len(bl.efb.keys) for bl in blocks) == len(whole.efb.keys)
    assert np.array_equal(np.sort(np.concatenate([bl.fb.keys for bl in blocks])), whole.fb.keys)
    assert 0 < split.mean() < 0.7


def test_top_k_selection_by_p_max():
    params = np.array([[0.9, 5, -2], [0.3, 5, -2], [0.6, 5, -2], [0.8, 5, -2]])
    block = BlockResult(np.array([0, 0, 0, 1]), np.array([3, 1, 2, 0]), params, np.ones(4), 4, 0)
    table = select_top_features([block], top_k=2, num_features=4, num_labels=2)
    assert sorted(zip(table.label.tolist(), table.feature.tolist())) == [(0, 2), (0, 3), (1, 0)]
    assert np.all(np.diff(table.feature) >= 0)  # sorted by feature: rows of f are E_f


def test_calibrate_chooses_lambda_on_heldout_and_finds_signatures():
    ex = toy_examples(videos=150, frames=6)
    stats = CalibrationStats(60, 12)
    stats.add(ex, heldout_split(ex.video_hash, 0.3))
    table, report = calibrate(stats, lambdas=(0.1, 10.0, 1000.0), top_k=3, n_blocks=2)
    assert report.lam == (0.1, 10.0, 1000.0)[int(np.argmin(report.heldout_loss_change))]
    world = np.random.default_rng(0)
    signatures = [set(world.choice(60, size=3, replace=False).tolist()) for _ in range(12)]
    found = [set(table.feature[table.label == e].tolist()) for e in range(12)]
    assert np.mean([len(found[e] & signatures[e]) for e in range(12)]) >= 2.5
    assert choose_lambda((1.0, 2.0), np.array([-5.0, -5.0])) == 2.0
