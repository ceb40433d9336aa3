"""Streaming Evaluator: identical numbers to the one-shot functions, label weights, reset, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yt8m.evaluation import (
    Evaluator,
    average_precision_buckets,
    gap,
    hit_at_k,
    mean_average_precision,
    per_class_average_precision,
    per_class_average_precision_buckets,
    perr,
)
from yt8m.evaluation.metrics import BucketHistogram, label_entries


def random_data(num_videos: int, num_classes: int, seed: int, float_labels: bool = False):
    rng = np.random.default_rng(seed)
    labels = (rng.random((num_videos, num_classes)) < 0.06).astype(np.float32)
    if float_labels:
        labels *= rng.choice([0.25, 0.5, 1.0], size=labels.shape).astype(np.float32)
    labels[rng.random(num_videos) < 0.1] = 0  # some unlabeled videos
    predictions = (1 / (1 + np.exp(-(rng.normal(size=labels.shape) + 2 * labels - 2)))).astype(np.float32)
    predictions[:, 5] = np.round(predictions[:, 5], 1)  # a column with many ties
    return predictions, labels


def stream(predictions, labels, batch_sizes, **kwargs):
    evaluator = Evaluator(predictions.shape[1], **kwargs)
    start = 0
    for size in batch_sizes:
        evaluator.add(predictions[start : start + size], labels[start : start + size])
        start += size
    assert start == len(predictions)
    return evaluator.result()


@pytest.mark.parametrize("float_labels", [False, True])
def test_streaming_equals_one_shot_exactly(float_labels):
    predictions, labels = random_data(700, 90, seed=1, float_labels=float_labels)
    rng = np.random.default_rng(2)
    sizes = []
    while sum(sizes) < 700:
        sizes.append(min(int(rng.integers(1, 60)), 700 - sum(sizes)))
    result = stream(predictions, labels, sizes)

    assert len(sizes) > 20
    assert result.num_videos == 700
    assert result.hit_at_1 == hit_at_k(predictions, labels, 1)
    assert result.hit_at_5 == hit_at_k(predictions, labels, 5)
    assert result.perr == perr(predictions, labels)
    assert result.gap == gap(predictions, labels)
    assert result.map == mean_average_precision(predictions, labels)
    assert result.map_buckets == average_precision_buckets(predictions, labels)
    np.testing.assert_array_equal(result.average_precisions, per_class_average_precision(predictions, labels))
    np.testing.assert_array_equal(
        result.average_precisions_buckets, per_class_average_precision_buckets(predictions, labels)
    )
    assert result.num_classes_with_positives == int((labels.sum(axis=0) > 0).sum())


def test_batch_split_does_not_matter_and_top_k_is_passed_through():
    predictions, labels = random_data(300, 40, seed=3)
    one = stream(predictions, labels, [300], top_k=7)
    many = stream(predictions, labels, [1] * 50 + [250], top_k=7)
    assert one.as_dict() == many.as_dict()
    assert one.gap == gap(predictions, labels, top_k=7)
    assert one.map == mean_average_precision(predictions, labels, top_k=7)


def test_result_mid_stream_then_more_batches():
    predictions, labels = random_data(200, 30, seed=4)
    evaluator = Evaluator(30)
    evaluator.add(predictions[:80], labels[:80])
    partial = evaluator.result()
    assert partial.gap == gap(predictions[:80], labels[:80])
    evaluator.add(predictions[80:], labels[80:])
    assert evaluator.result().map_buckets == average_precision_buckets(predictions, labels)


def test_bucket_histogram_flush_timing_does_not_change_counts():
    predictions, labels = random_data(120, 25, seed=5)
    small, large = BucketHistogram(25, buffer_entries=25 * 7), BucketHistogram(25)
    for start in range(0, 120, 16):
        p, y = predictions[start : start + 16], labels[start : start + 16]
        small.add(p, label_entries(y))
        large.add(p, label_entries(y))
    small.flush()
    large.flush()
    np.testing.assert_array_equal(small.counts, large.counts)
    assert small.counts.sum() == 120 * 25


def test_label_weights_mask_unrated_predictions_like_the_segment_eval():
    # two segments, 4 classes; rated classes keep their scores, unrated ones become 0
    predictions = np.array([[0.9, 0.2, 0.7, 0.1], [0.3, 0.6, 0.1, 0.8]])
    weights = np.array([[0, 1, 1, 0], [0, 1, 0, 0]])  # seg 0 rated for classes 1 and 2, seg 1 for class 1
    labels = np.array([[0, 1, 0, 0], [0, 1, 0, 0]])  # seg 0: class 1 positive, class 2 negative
    evaluator = Evaluator(4, bucket_map=False)
    evaluator.add(predictions, labels, weights)
    result = evaluator.result()
    # masked: seg 0 [0, .2, .7, 0] -> best class 2 (label 0); seg 1 [0, .6, 0, 0] -> best class 1 (label 1)
    assert result.hit_at_1 == 0.5
    assert result.perr == 0.5  # each segment has 1 positive: seg 0 misses, seg 1 hits
    assert result.map_buckets is None and result.average_precisions_buckets is None
    # unweighted, the unrated classes 0 and 3 would win both segments
    assert hit_at_k(predictions, labels) == 0.0
    masked = Evaluator(4, bucket_map=False)
    masked.add(predictions * weights, labels)
    assert masked.result().as_dict() == result.as_dict()


def test_reset_and_empty():
    predictions, labels = random_data(50, 12, seed=6)
    evaluator = Evaluator(12)
    with pytest.raises(ValueError, match="no videos"):
        evaluator.result()
    evaluator.add(predictions[:10] * 0, labels[:10] * 0)
    evaluator.reset()
    evaluator.add(predictions, labels)
    result = evaluator.result()
    assert result.num_videos == 50
    assert result.gap == gap(predictions, labels)


def test_accepts_torch_tensors():
    predictions, labels = random_data(40, 10, seed=7)
    evaluator = Evaluator(10)
    evaluator.add(torch.from_numpy(predictions), torch.from_numpy(labels).bool(), torch.ones(40, 10))
    assert evaluator.result().hit_at_1 == hit_at_k(predictions, labels)


def test_rejects_mismatched_batches():
    evaluator = Evaluator(5)
    with pytest.raises(ValueError, match="5"):
        evaluator.add(np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="weights"):
        evaluator.add(np.zeros((2, 5)), np.zeros((2, 5)), np.ones((2, 4)))
    bad = np.zeros((3, 5))
    bad[1, 2] = np.nan
    evaluator.add(np.zeros((4, 5)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="video 5, class 2"):  # numbered across batches
        evaluator.add(bad, np.zeros((3, 5)))
