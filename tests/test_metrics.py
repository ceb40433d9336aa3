"""Video-level metrics: hand-computed cases from the definitions, edge cases, and agreement with a slow
re-implementation of the official algorithm (benchmarks/official_metrics_reference.py) on tie-free data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import official_metrics_reference as official
from yt8m.evaluation import (
    average_precision_buckets,
    gap,
    hit_at_k,
    mean_average_precision,
    per_class_average_precision,
    per_class_average_precision_buckets,
    perr,
    top_k_classes,
)
from yt8m.evaluation.metrics import bucket_index

# ----------------------------------------------------------------------------------------------
# Hit@k


def test_hit_at_1_is_the_label_at_the_argmax_with_ties_to_the_lowest_class():
    predictions = np.array([[0.1, 0.9, 0.3], [0.8, 0.2, 0.5], [0.4, 0.4, 0.1]])
    labels = np.array([[0, 1, 0], [0, 0, 1], [0, 1, 0]])
    # row 0: argmax 1 -> label 1; row 1: argmax 0 -> 0; row 2: tie 0.4/0.4 -> class 0 -> 0.  1/3
    assert hit_at_k(predictions, labels, 1) == pytest.approx(1 / 3)


def test_hit_at_1_with_float_labels_is_the_label_value():
    predictions = np.array([[0.2, 0.7], [0.9, 0.1]])
    labels = np.array([[0.0, 0.5], [0.25, 1.0]])
    # row 0: argmax 1 -> 0.5; row 1: argmax 0 -> 0.25.  (0.5 + 0.25) / 2
    assert hit_at_k(predictions, labels, 1) == pytest.approx(0.375)


def test_hit_at_k_counts_any_positive_in_the_top_k():
    predictions = np.array([[0.9, 0.8, 0.1, 0.7], [0.6, 0.5, 0.4, 0.3], [0.1, 0.2, 0.3, 0.4]])
    labels = np.array([[0, 0, 0, 1], [0, 0, 0, 1], [1, 0, 0, 0]])
    # top-2: row 0 {0, 1} miss; row 1 {0, 1} miss; row 2 {3, 2} miss -> 0
    # top-3: row 0 {0, 1, 3} hit; row 1 {0, 1, 2} miss; row 2 {3, 2, 1} miss -> 1/3
    assert hit_at_k(predictions, labels, 2) == 0.0
    assert hit_at_k(predictions, labels, 3) == pytest.approx(1 / 3)
    assert hit_at_k(predictions, labels, 4) == 1.0


def test_hit_at_k_matches_eq_11_written_with_ranks():
    rng = np.random.default_rng(3)
    predictions = rng.random((40, 12))
    labels = rng.random((40, 12)) < 0.15
    for k in (1, 2, 5):
        ranks = (-predictions).argsort(axis=1).argsort(axis=1) + 1  # rank_{v,e}, best = 1
        expected = np.mean([(ranks[v][labels[v]] <= k).any() for v in range(40)])
        assert hit_at_k(predictions, labels, k) == pytest.approx(expected)


# ----------------------------------------------------------------------------------------------
# PERR


def test_perr_by_hand_with_unlabeled_rows_and_non_positive_predictions():
    predictions = np.array(
        [
            [0.9, 0.8, 0.7, 0.1],  # labels {0, 2}: top-2 {0, 1} -> 1 hit / 2
            [0.9, 0.8, 0.7, 0.1],  # no labels: counts 0 and stays in the denominator
            [-0.5, -0.2, -0.9, -0.1],  # labels {3}: top-1 is class 3 but its prediction <= 0 -> 0
            [0.5, 0.4, 0.3, 0.2],  # labels {1, 2, 3}: top-3 {0, 1, 2} -> 2 / 3
        ]
    )
    labels = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 1, 1]], dtype=np.float32)
    expected = (1 / 2 + 0 + 0 + 2 / 3) / 4  # = 7/24
    assert perr(predictions, labels) == pytest.approx(expected)
    assert official.precision_at_equal_recall_rate(predictions, labels) == pytest.approx(expected)


def test_perr_zero_prediction_is_not_counted():
    # official: labels count only where prediction > 0, so an exact 0 at the top is a miss
    assert perr(np.array([[0.0, -1.0]]), np.array([[1, 0]])) == 0.0
    assert perr(np.array([[1e-9, -1.0]]), np.array([[1, 0]])) == 1.0


def test_perr_truncates_fractional_label_sums_like_int():
    predictions = np.array([[0.9, 0.1, 0.5]])
    labels = np.array([[0.0, 0.9, 0.9]])  # int(1.8) = 1: top-1 is class 0, label 0 -> 0
    assert perr(predictions, labels) == 0.0
    labels = np.array([[0.0, 0.6, 0.9]])  # int(1.5) = 1 -> top-1 is class 0 again
    assert perr(predictions, labels) == 0.0
    labels = np.array([[0.7, 0.6, 0.9]])  # int(2.2) = 2: top-2 {0, 2} -> (0.7 + 0.9) / 2
    assert perr(predictions, labels) == pytest.approx(0.8)


# ----------------------------------------------------------------------------------------------
# GAP and the official top-k mAP, on one small case (top_k = 2)

# 4 videos x 4 classes; class 3 has no positives and never reaches a top 2.
CASE_PREDICTIONS = np.array(
    [
        [0.9, 0.5, 0.1, 0.001],
        [0.3, 0.8, 0.6, 0.001],
        [0.7, 0.2, 0.4, 0.001],
        [0.95, 0.05, 0.01, 0.001],
    ]
)
CASE_LABELS = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
# top-2 triplets: v0 (c0 .9 +) (c1 .5 -); v1 (c1 .8 +) (c2 .6 -); v2 (c0 .7 -) (c2 .4 -); v3 (c0 .95 -) (c1 .05 -)
# positives: c0 1, c1 2 (v2's is outside its top 2), c2 1 (v0's is outside), c3 0; total 4


def test_gap_by_hand_counts_positives_outside_the_top_k():
    # all 8 retained, by score: .95- .9+ .8+ .7- .6- .5- .4- .05-  -> hits at ranks 2 and 3
    expected = (1 / 2 + 2 / 3) / 4  # = 7/24; the denominator counts all 4 positives
    assert gap(CASE_PREDICTIONS, CASE_LABELS, top_k=2) == pytest.approx(expected)
    assert official.calculate_gap(CASE_PREDICTIONS, CASE_LABELS, top_k=2) == pytest.approx(expected)


def test_per_class_ap_and_map_by_hand():
    aps = per_class_average_precision(CASE_PREDICTIONS, CASE_LABELS, top_k=2)
    # c0: .95- .9+ .7-  -> (1/2) / 1 = 0.5
    # c1: .8+ .5- .05-  -> (1/1) / 2 = 0.5 (one positive never retained)
    # c2: .6- .4-       -> 0 / 1 = 0
    # c3: no positives  -> NaN, left out of the mean
    np.testing.assert_allclose(aps[:3], [0.5, 0.5, 0.0])
    assert np.isnan(aps[3])
    assert mean_average_precision(CASE_PREDICTIONS, CASE_LABELS, top_k=2) == pytest.approx(1 / 3)


def test_gap_with_top_k_covering_all_classes_is_plain_average_precision():
    # top_k = 4 keeps all 16 entries: .95- .9+ .8+ .7- .6- .5- .4- .3- .2+ .1+ .05- .01- .001- x4
    expected = (1 / 2 + 2 / 3 + 3 / 9 + 4 / 10) / 4
    assert gap(CASE_PREDICTIONS, CASE_LABELS, top_k=4) == pytest.approx(expected)


def test_documented_tie_order():
    # within a video: equal scores keep the lower class first (and the lower class survives the cut-off)
    np.testing.assert_array_equal(top_k_classes(np.array([[0.5, 0.9, 0.5, 0.5]]), 2), [[1, 0]])
    np.testing.assert_array_equal(top_k_classes(np.array([[0.5, 0.9, 0.5, 0.5]]), 3), [[1, 0, 2]])
    np.testing.assert_array_equal(top_k_classes(np.zeros((1, 5)), 2), [[0, 1]])
    # within a class: the earlier video ranks first. v0 (0.5, negative) before v1 (0.5, positive): AP = 1/2
    aps = per_class_average_precision(np.array([[0.5], [0.5]]), np.array([[0], [1]]), top_k=1)
    assert aps[0] == pytest.approx(0.5)
    aps = per_class_average_precision(np.array([[0.5], [0.5]]), np.array([[1], [0]]), top_k=1)
    assert aps[0] == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["continuous", "rounded", "mostly_zero", "minus_inf", "float16"])
def test_top_k_classes_equals_a_full_sort_by_score_then_class(kind):
    # wide rows take the two-stage (block) path, narrow ones the direct one; both must follow the tie rule
    rng = np.random.default_rng(len(kind))
    for num_classes, k in [(900, 20), (700, 5), (64, 20), (300, 1)]:
        p = rng.random((40, num_classes))
        if kind == "rounded":
            p = np.round(p, 2)
        elif kind == "mostly_zero":
            p[rng.random(p.shape) < 0.97] = 0.0
        elif kind == "minus_inf":
            p[:, ::2] = -np.inf
            p[:3, :] = -np.inf
        elif kind == "float16":
            p = rng.integers(0, 3, p.shape).astype(np.float16)
        expected = np.array([np.lexsort((np.arange(num_classes), -row))[:k] for row in p])
        np.testing.assert_array_equal(top_k_classes(p, k), expected)


def test_no_positives_at_all_gives_zero():
    predictions = np.array([[0.2, 0.1], [0.3, 0.4]])
    labels = np.zeros((2, 2))
    assert gap(predictions, labels) == 0.0
    assert mean_average_precision(predictions, labels) == 0.0
    assert np.isnan(per_class_average_precision(predictions, labels)).all()


# ----------------------------------------------------------------------------------------------
# the paper's bucketed mAP (eqs. 8-10)


def test_bucket_rounding():
    scores = np.array([0.12344, 0.12346, 0.00004, 0.00006, 1.0, 1.5, -0.2], dtype=np.float64)
    np.testing.assert_array_equal(bucket_index(scores), [1234, 1235, 0, 1, 10000, 10000, 0])


def test_bucketed_ap_by_hand():
    scores = np.array([[0.9, 0.2], [0.8, 0.3], [0.80004, 0.1], [0.3, 0.4], [0.00001, 0.5]])
    labels = np.array([[1, 0], [0, 0], [1, 0], [0, 0], [1, 0]])
    # class 0 buckets: 9000+, 8000-, 8000+ (0.80004 rounds into 8000), 3000-, 0+ (never retrieved)
    # tau = 0.9: P = 1/1, R jumps by 1/3;  tau = 0.8: P = 2/3, R jumps by 1/3;  AP = (1 + 2/3) / 3 = 5/9
    # class 1 has no positives: NaN and not averaged
    aps = per_class_average_precision_buckets(scores, labels)
    assert aps[0] == pytest.approx(5 / 9)
    assert np.isnan(aps[1])
    assert average_precision_buckets(scores, labels) == pytest.approx(5 / 9)


def slow_bucketed_aps(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Eqs. 8-10 literally: P and R at every tau_j = j / 10^4, AP = sum_j P(tau_j) (R(tau_j) - R(tau_j+1))."""
    taus = np.arange(1, 10_002)  # tau_10001 closes the last recall step (R = 0 there)
    aps = np.full(predictions.shape[1], np.nan)
    for c in range(predictions.shape[1]):
        g = labels[:, c].astype(np.float64)
        if g.sum() == 0:
            continue
        y = np.clip(np.floor(predictions[:, c] * 10_000 + 0.5), 0, 10_000)  # score in units of 1e-4
        above = y[None, :] >= taus[:, None]
        retrieved = above.sum(axis=1)
        precision = np.where(retrieved > 0, (above * g).sum(axis=1) / np.maximum(retrieved, 1), 0.0)
        recall = (above * g).sum(axis=1) / g.sum()
        aps[c] = np.sum(precision[:-1] * (recall[:-1] - recall[1:]))
    return aps


def test_bucketed_ap_matches_the_equations_on_random_data():
    rng = np.random.default_rng(5)
    predictions = rng.random((60, 9)) ** 3  # many small scores, some in bucket 0
    predictions[:, :5] = np.round(predictions[:, :5], 2)  # and many ties
    labels = (rng.random((60, 9)) < 0.2).astype(np.float32)
    labels[:, 4] = 0
    np.testing.assert_allclose(
        per_class_average_precision_buckets(predictions, labels), slow_bucketed_aps(predictions, labels), rtol=1e-12
    )


# ----------------------------------------------------------------------------------------------
# agreement with the official algorithm on tie-free data


@pytest.mark.parametrize("num_videos,num_classes,batch", [(150, 40, 32), (64, 7, 64), (33, 25, 8)])
def test_agrees_with_the_official_algorithm_without_ties(num_videos, num_classes, batch):
    rng = np.random.default_rng(num_videos)
    labels = (rng.random((num_videos, num_classes)) < 0.08).astype(np.float64)
    labels[:3] = 0  # unlabeled videos
    predictions = 1 / (1 + np.exp(-(rng.normal(size=labels.shape) + 2 * labels - 2)))  # float64: no ties
    reference = official.EvaluationMetrics(num_classes, top_k=20)
    for start in range(0, num_videos, batch):
        reference.accumulate(predictions[start : start + batch], labels[start : start + batch])
    expected = reference.get()

    assert hit_at_k(predictions, labels, 1) == pytest.approx(expected["avg_hit_at_one"], rel=1e-12)
    assert perr(predictions, labels) == pytest.approx(expected["avg_perr"], rel=1e-12)
    assert gap(predictions, labels) == expected["gap"]  # same sequential sums: bit for bit
    assert mean_average_precision(predictions, labels) == expected["map"]
    aps = per_class_average_precision(predictions, labels)
    np.testing.assert_array_equal(aps[~np.isnan(aps)], expected["aps"])
    assert np.count_nonzero(~np.isnan(aps)) == expected["num_classes"]


def test_agrees_with_official_hit_and_perr_on_many_labels_per_video():
    # videos with more labels than the top-20: PERR must rank beyond it
    rng = np.random.default_rng(11)
    labels = (rng.random((20, 60)) < 0.5).astype(np.float64)
    predictions = rng.random((20, 60))
    assert perr(predictions, labels) == pytest.approx(official.precision_at_equal_recall_rate(predictions, labels))
    assert hit_at_k(predictions, labels) == pytest.approx(official.hit_at_one(predictions, labels))


# ----------------------------------------------------------------------------------------------
# inputs


def test_accepts_torch_tensors_and_bool_labels():
    predictions = torch.tensor(CASE_PREDICTIONS, dtype=torch.float32)
    labels = torch.tensor(CASE_LABELS, dtype=torch.bool)
    assert gap(predictions, labels, top_k=2) == pytest.approx(7 / 24)


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match="differ in shape"):
        gap(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        perr(np.zeros(3), np.zeros(3))
    bad = np.full((3, 4), 0.5)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="video 2, class 1 is NaN"):
        hit_at_k(bad, np.zeros((3, 4)))
    negative = np.zeros((3, 4))
    negative[1, 3] = -1
    with pytest.raises(ValueError, match="video 1, class 3 is negative"):
        mean_average_precision(np.full((3, 4), 0.5), negative)
    with pytest.raises(ValueError, match="0 rows"):
        gap(np.zeros((0, 4)), np.zeros((0, 4)))
    with pytest.raises(ValueError, match="top_k"):
        gap(np.zeros((1, 4)), np.zeros((1, 4)), top_k=0)
