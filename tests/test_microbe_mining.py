"""Hard negative mining (§3.2–3.3): eq. 4, the priority queues, and the pruned scan giving exactly
the brute-force queues with fewer p(e|f) evaluations."""

import heapq

import numpy as np
import pytest

from microbe_toy import calibrated_toy
from yt8m.microbe.maxcal import MaxCalibrationModel
from yt8m.microbe.mining import (
    HardNegativeMiner, RandomNegativeSampler, TopKQueues, default_k, expected_recovered, merge_partials, mined_labels,
    popular_rates, random_training_sets, top_m,
)


@pytest.fixture(scope="module")
def toy():
    return calibrated_toy()


def test_expected_recovered_matches_the_paper_and_the_rule_for_k():
    assert round(expected_recovered(40, 4000, 80000), 4) == 79999.8126
    assert default_k(80000, 4000) == 40
    assert expected_recovered(5, 3, 5) == 5.0


def test_expected_recovered_matches_simulation():
    rng = np.random.default_rng(0)
    k, W, M = 3, 4, 12
    trials = 20000
    workers = rng.integers(W, size=(trials, M))  # worker of the i-th best example
    kept = np.zeros(trials)
    for i in range(M):
        ahead = (workers[:, :i] == workers[:, i : i + 1]).sum(axis=1)
        kept += ahead < k
    assert kept.mean() == pytest.approx(expected_recovered(k, W, M), abs=0.05)


def test_queues_keep_the_k_best_with_uid_tie_break():
    rng = np.random.default_rng(1)
    q = TopKQueues(num_labels=3, k=4)
    reference = {e: [] for e in range(3)}
    uid = 0
    for _ in range(10):
        n = 7
        labels = rng.integers(3, size=n)
        scores = np.round(rng.random(n), 1)  # many ties
        uids = np.arange(uid, uid + n)
        uid += n
        q.push(labels, scores, uids)
        for e, s, u in zip(labels, scores, uids):
            reference[int(e)].append((-s, u))
    for e in range(3):
        best = heapq.nsmallest(4, reference[e])
        assert q.scores[e].tolist() == [-s for s, _ in best]
        assert q.uids[e].tolist() == [u for _, u in best]
    assert np.all(q.q_min() == q.scores[:, -1])


def run_miner(ex, table, *, prune, batch, k=15, rates=None):
    miner = HardNegativeMiner(table, k, prune=prune, rates=rates, seed=3)
    for start in range(0, len(ex), batch):
        miner.add(ex.take(np.arange(start, min(start + batch, len(ex)))))
    return miner.result(), miner


@pytest.mark.parametrize("batch", [1, 37, 10_000])
def test_pruned_scan_equals_brute_force_with_fewer_evaluations(toy, batch):
    ex, table = toy
    ex = ex.take(np.arange(400)) if batch == 1 else ex
    pruned, miner = run_miner(ex, table, prune=True, batch=batch)
    brute, _ = run_miner(ex, table, prune=False, batch=batch)
    assert np.array_equal(pruned.uids, brute.uids) and np.array_equal(pruned.scores, brute.scores)
    assert brute.evaluations == pruned.brute_force_evaluations
    # 10,000 > the worker's 960 examples: one batch, which used to mean no pruning at all
    assert pruned.evaluations < 0.8 * brute.evaluations
    assert miner.inverse_list_sizes() < len(table)  # E_f(w) shrank


def test_a_worker_whose_queues_never_fill_cannot_prune_and_says_so(toy):
    ex, table = toy
    pruned, miner = run_miner(ex, table, prune=True, batch=64, k=len(ex) + 1)
    assert miner.full_queues() == 0 and pruned.evaluations == pruned.brute_force_evaluations
    assert run_miner(ex, table, prune=True, batch=64)[1].full_queues() > 0


def test_queue_scores_are_max_calibration_scores(toy):
    ex, table = toy
    result, _ = run_miner(ex, table, prune=True, batch=64)
    dense = MaxCalibrationModel(table).predict(ex.X)
    row_of = {int(u): i for i, u in enumerate(ex.uid)}
    for e in range(12):
        valid = result.uids[e] != np.iinfo(np.int64).max
        rows = [row_of[int(u)] for u in result.uids[e][valid]]
        assert np.allclose(dense[rows, e], result.scores[e][valid])
        assert np.all(dense[:, e][np.setdiff1d(np.arange(len(ex)), rows)] <= result.scores[e][valid].min() + 1e-12)


def test_popular_sampling_is_the_same_in_both_scans_and_thins_popular_labels(toy):
    ex, table = toy
    rates = popular_rates(np.bincount(ex.label_ids, minlength=12), M=40)
    assert np.all(rates <= 1) and rates.min() < 1
    pruned, _ = run_miner(ex, table, prune=True, batch=50, rates=rates)
    brute, _ = run_miner(ex, table, prune=False, batch=50, rates=rates)
    assert np.array_equal(pruned.uids, brute.uids)
    plain, _ = run_miner(ex, table, prune=True, batch=50)
    assert not np.array_equal(plain.uids, pruned.uids)


def test_reduce_of_worker_queues_is_the_global_top_m_when_k_is_large(toy):
    ex, table = toy
    M = 20
    whole, _ = run_miner(ex, table, prune=True, batch=64, k=M)
    parts = [run_miner(ex.take(np.arange(w, len(ex), 3)), table, prune=True, batch=64, k=M)[0] for w in range(3)]
    assert [a.tolist() for a in top_m(parts, M)] == [a.tolist() for a in top_m([whole], M)]
    merged = merge_partials(parts[:2], M)
    assert [a.tolist() for a in top_m([merged, parts[2]], M)] == [a.tolist() for a in top_m(parts, M)]
    mined = mined_labels(parts, table, M)
    e = next(iter(mined))
    m = mined[e]
    assert len(m) == M and m.X.shape == (M, len(m.pair_rows))
    assert np.array_equal(table.label[m.pair_rows], np.full(len(m.pair_rows), e))
    row = {int(u): i for i, u in enumerate(ex.uid)}[int(m.uid[0])]
    assert m.y[0] == int(e in ex.labels(row))
    assert np.allclose(m.X[0].toarray().ravel(), ex.X[row].toarray().ravel()[table.feature[m.pair_rows]])
    blocks = [parts[0].label_block(b, 2) for b in range(2)]
    assert sorted(np.concatenate([b.labels for b in blocks]).tolist()) == list(range(12))


def candidate_truth(ex, table):
    """Per example and label: does some feature of F_e fire (a candidate), and is it a positive."""
    fires = MaxCalibrationModel(table).predict(ex.X) > 0
    return fires, ex.label_matrix(12).toarray() > 0


def test_random_negatives_keep_positives_at_their_natural_rate(toy):
    """Defect: the baseline trained on M/2 positives (far above the natural rate)."""
    ex, table = toy
    M = 60
    sampler = RandomNegativeSampler(table, M, seed=1)
    sampler.add(ex)
    sets = random_training_sets(tuple([g] for g in sampler.result()), table, M)
    fires, truth = candidate_truth(ex, table)
    natural = np.array([(truth[:, e] & fires[:, e]).sum() / fires[:, e].sum() for e in sets])
    sizes = np.array([len(sets[e]) for e in sets])
    positives = sum(sets[e].positives for e in sets)
    expected, se = (sizes * natural).sum(), np.sqrt((sizes * natural * (1 - natural)).sum())
    assert abs(positives - expected) < 4 * se  # a uniform sample: positives at the natural rate
    assert natural.mean() < 0.35  # so the test tells it from a balanced set
    balanced = RandomNegativeSampler(table, M, seed=1, balanced=True)
    balanced.add(ex)
    halves = random_training_sets(tuple([g] for g in balanced.result()), table, M)
    assert all(m.positives <= M // 2 for m in halves.values())
    assert sum(m.positives for m in halves.values()) > expected + 4 * se  # the old baseline: far above it


def test_random_negative_sets(toy):
    ex, table = toy
    dense = MaxCalibrationModel(table).predict(ex.X)
    row = {int(u): i for i, u in enumerate(ex.uid)}
    for balanced in (False, True):
        sampler = RandomNegativeSampler(table, 30, seed=1, balanced=balanced)
        sampler.add(ex)
        sets = random_training_sets(tuple([g] for g in sampler.result()), table, 30)
        for e, m in sets.items():
            assert len(m) <= 30 and (m.positives <= 15 or not balanced)
            assert np.all(np.asarray(m.X.sum(axis=1)).ravel() > 0)  # some feature of F_e fires
            assert np.allclose(m.score, dense[[row[int(u)] for u in m.uid], e])  # max-calibration scores (for τ_e)
