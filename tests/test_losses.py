"""Label losses against hand-computed values (official definitions, YouTube-8M paper eq. 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from yt8m.train.losses import class_penalty_weights, count_positive_labels, list_losses, make_loss

PREDICTIONS = torch.tensor([[0.9, 0.2], [0.5, 0.01]])
LABELS = torch.tensor([[True, False], [False, True]])


def test_cross_entropy_matches_official_formula_by_hand():
    eps = 1e-5
    row0 = -math.log(0.9 + eps) - math.log(1 - 0.2 + eps)
    row1 = -math.log(1 - 0.5 + eps) - math.log(0.01 + eps)
    loss = make_loss("cross_entropy")({"predictions": PREDICTIONS}, LABELS)
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_cross_entropy_epsilon_keeps_certain_mistakes_finite():
    loss = make_loss("cross_entropy")({"predictions": torch.tensor([[0.0, 1.0]])}, torch.tensor([[1.0, 0.0]]))
    assert loss.item() == pytest.approx(-2 * math.log(1e-5), rel=1e-6)


def test_cross_entropy_label_weights_scale_each_term():
    eps = 1e-5
    weights = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    expected = (-math.log(0.9 + eps) + 2 * -math.log(0.01 + eps)) / 2
    loss = make_loss("cross_entropy")({"predictions": PREDICTIONS}, LABELS, label_weights=weights)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_class_penalized_cross_entropy_weights_positives_by_inverse_frequency():
    eps = 1e-5
    counts = np.array([100, 10])  # class 1 is 10x rarer -> its positives cost 10x
    row0 = -1.0 * math.log(0.9 + eps) - math.log(1 - 0.2 + eps)
    row1 = -math.log(1 - 0.5 + eps) - 10.0 * math.log(0.01 + eps)
    loss = make_loss("cross_entropy", class_penalized=True, class_counts=counts)({"predictions": PREDICTIONS}, LABELS)
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_class_penalty_weights_and_label_counting():
    counts = count_positive_labels([np.array([[1, 0, 0], [1, 1, 0]]), torch.tensor([[True, False, False]])])
    assert counts.tolist() == [3, 1, 0]
    assert class_penalty_weights(counts).tolist() == [1.0, 3.0, 3.0]  # unseen class counts as 1


def test_class_penalized_needs_counts_and_counts_need_the_option():
    with pytest.raises(ValueError, match="class_counts"):
        make_loss("cross_entropy", class_penalized=True)
    with pytest.raises(ValueError, match="class_penalized is false"):
        make_loss("cross_entropy", class_counts=[1, 2])
    with pytest.raises(ValueError, match="only apply to cross_entropy"):
        make_loss("hinge", class_counts=[1, 2])


def test_hinge_on_raw_scores_by_hand():
    scores = torch.tensor([[2.0, -0.5], [0.3, 0.2]])
    # y±: [[+1, -1], [-1, +1]] -> max(0, b - y±·s)
    loss_b1 = make_loss("hinge")({"scores": scores, "predictions": torch.sigmoid(scores)}, LABELS)
    assert loss_b1.item() == pytest.approx(((0 + 0.5) + (1.3 + 0.8)) / 2)
    loss_b05 = make_loss("hinge", margin=0.5)({"scores": scores}, LABELS)
    assert loss_b05.item() == pytest.approx(((0 + 0.0) + (0.8 + 0.3)) / 2)


def test_hinge_without_scores_uses_predictions_like_official():
    loss = make_loss("hinge")({"predictions": PREDICTIONS}, LABELS)
    assert loss.item() == pytest.approx(((1 - 0.9) + (1 + 0.2) + (1 + 0.5) + (1 - 0.01)) / 2, rel=1e-6)


def test_softmax_normalizes_labels_and_softmaxes_predictions_by_hand():
    p = torch.tensor([[0.9, 0.2, 0.1], [0.3, 0.3, 0.3]])
    y = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])  # second row: no labels -> contributes 0
    log_z = math.log(math.exp(0.9) + math.exp(0.2) + math.exp(0.1))
    row0 = -(0.5 * (0.9 - log_z) + 0.5 * (0.2 - log_z))
    loss = make_loss("softmax")({"predictions": p}, y)
    assert loss.item() == pytest.approx(row0 / 2, rel=1e-6)
    logits_loss = make_loss("softmax", use_logits=True)({"predictions": torch.zeros(2, 3), "logits": p}, y)
    assert logits_loss.item() == pytest.approx(row0 / 2, rel=1e-6)


def test_losses_name_missing_outputs_and_bad_options():
    assert list_losses() == ["cross_entropy", "hinge", "softmax"]
    with pytest.raises(KeyError, match="unknown loss 'focal'"):
        make_loss("focal")
    with pytest.raises(ValueError, match="no option.*'b'.*valid options: margin"):
        make_loss("hinge", b=1.0)
    with pytest.raises(KeyError, match="needs model output 'logits'"):
        make_loss("softmax", use_logits=True)({"predictions": PREDICTIONS}, LABELS)


def test_cross_entropy_gradient_flows_to_predictions():
    p = PREDICTIONS.clone().requires_grad_(True)
    make_loss("cross_entropy", epsilon=0.0)({"predictions": p}, LABELS).backward()
    # d/dp of mean_b Σ_c −[y log p + (1−y) log(1−p)] = (−y/p + (1−y)/(1−p)) / B
    expected = (-LABELS.float() / PREDICTIONS + (1 - LABELS.float()) / (1 - PREDICTIONS)) / 2
    torch.testing.assert_close(p.grad, expected)
