"""A slow, faithful re-implementation of the official starter code's metrics, for comparisons.

Written from the behavioural description in shared/reference/official-starter-code.md §2 (eval_util.py,
average_precision_calculator.py, mean_average_precision_calculator.py): per-video loops with
argpartition, per-class Python lists, heap-based AP calculators, and AP with the `random.seed(0)`
shuffle followed by a stable descending sort. It keeps the official quirks (arbitrary ties, PERR's
all-classes slice for unlabeled rows, global RNG reseeding). Used by benchmarks/bench_metrics.py and
by tests/test_metrics.py as the ground truth on tie-free data; not part of the yt8m package.
"""

from __future__ import annotations

import heapq
import numbers
import random

import numpy as np


def hit_at_one(predictions: np.ndarray, actuals: np.ndarray) -> float:
    """Mean over videos of the label at the argmax (lowest index on ties)."""
    best = np.argmax(predictions, 1)
    return float(np.average(actuals[np.arange(actuals.shape[0]), best]))


def precision_at_equal_recall_rate(predictions: np.ndarray, actuals: np.ndarray) -> float:
    """Per video: the int(sum(labels)) best classes (argpartition), labels counted where prediction > 0."""
    total = 0.0
    for row in range(actuals.shape[0]):
        num_labels = int(np.sum(actuals[row]))
        chosen = np.argpartition(predictions[row], -num_labels)[-num_labels:]  # [-0:] keeps every class
        precision = 0.0
        for index in chosen:
            if predictions[row][index] > 0:
                precision += actuals[row][index]
        total += precision / chosen.size
    return total / actuals.shape[0]


def top_k_by_class(predictions: np.ndarray, labels: np.ndarray, k: int = 20):
    """Each video's k best (class, prediction, label) regrouped into per-class lists; positives over all videos."""
    num_classes = predictions.shape[1]
    k = min(k, num_classes)
    found = []
    for video in range(predictions.shape[0]):
        chosen = np.argpartition(predictions[video], -k)[-k:]
        found.extend((index, predictions[video][index], labels[video][index]) for index in chosen)
    class_predictions = [[] for _ in range(num_classes)]
    class_labels = [[] for _ in range(num_classes)]
    for index, prediction, label in found:
        class_predictions[index].append(prediction)
        class_labels[index].append(label)
    positives = [np.sum(labels[:, index]) for index in range(num_classes)]
    return class_predictions, class_labels, positives


def ap_at_n(predictions, actuals, n=None, total_num_positives=None) -> float:
    """Non-interpolated AP after a seeded shuffle and a stable descending sort (the official tie rule)."""
    predictions, actuals = np.asarray(predictions), np.asarray(actuals)
    random.seed(0)
    shuffled = random.sample(range(len(predictions)), len(predictions))
    predictions, actuals = predictions[shuffled], actuals[shuffled]
    ranked = sorted(range(len(predictions)), key=lambda i: predictions[i], reverse=True)
    numpos = np.size(np.where(actuals > 0)) if total_num_positives is None else total_num_positives
    if numpos == 0:
        return 0.0
    if n is not None:
        numpos = min(numpos, n)
    delta_recall = 1.0 / numpos
    scanned = len(ranked) if n is None else min(len(ranked), n)
    ap, hits = 0.0, 0.0
    for position in range(scanned):
        if actuals[ranked[position]] > 0:
            hits += 1
            ap += hits / (position + 1) * delta_recall
    return ap


class AveragePrecisionCalculator:
    """Keeps (prediction, label) pairs in a min-heap (all of them when top_n is None)."""

    def __init__(self, top_n: int | None = None) -> None:
        self._top_n = top_n
        self._total_positives = 0
        self._heap: list[tuple] = []

    def accumulate(self, predictions, actuals, num_positives=None) -> None:
        if num_positives is not None:
            if not isinstance(num_positives, numbers.Number) or num_positives < 0:
                raise ValueError("num_positives must be a non-negative number")
            self._total_positives += num_positives
        else:
            self._total_positives += np.size(np.where(np.asarray(actuals) > 1e-5))
        for item in zip(predictions, actuals):
            if self._top_n is None or len(self._heap) < self._top_n:
                heapq.heappush(self._heap, item)
            elif item[0] > self._heap[0][0]:
                heapq.heapreplace(self._heap, item)

    def peek_ap_at_n(self) -> float:
        if not self._heap:
            return 0
        predictions, actuals = np.array(list(zip(*self._heap)))
        return ap_at_n(predictions, actuals, n=self._top_n, total_num_positives=self._total_positives)


class MeanAveragePrecisionCalculator:
    """One AP calculator per class; peek returns the APs of classes with positives."""

    def __init__(self, num_classes: int, top_n: int | None = None) -> None:
        self._calculators = [AveragePrecisionCalculator(top_n) for _ in range(num_classes)]

    def accumulate(self, predictions, actuals, num_positives) -> None:
        for calculator, p, a, n in zip(self._calculators, predictions, actuals, num_positives):
            calculator.accumulate(p, a, n)

    def peek_map_at_n(self) -> list[float]:
        return [c.peek_ap_at_n() for c in self._calculators if c._total_positives > 0]


def flatten(lists):
    return [item for sublist in lists for item in sublist]


def calculate_gap(predictions: np.ndarray, actuals: np.ndarray, top_k: int = 20) -> float:
    calculator = AveragePrecisionCalculator()
    class_predictions, class_labels, positives = top_k_by_class(predictions, actuals, top_k)
    calculator.accumulate(flatten(class_predictions), flatten(class_labels), sum(positives))
    return calculator.peek_ap_at_n()


class EvaluationMetrics:
    """eval.py's accumulator: batch-weighted Hit@1 and PERR, per-class mAP and GAP over the top_k entries."""

    def __init__(self, num_classes: int, top_k: int = 20, top_n: int | None = None) -> None:
        self.top_k = top_k
        self.map_calculator = MeanAveragePrecisionCalculator(num_classes, top_n)
        self.global_ap_calculator = AveragePrecisionCalculator()
        self.sum_hit_at_one = 0.0
        self.sum_perr = 0.0
        self.num_examples = 0

    def accumulate(self, predictions: np.ndarray, labels: np.ndarray) -> None:
        batch_size = labels.shape[0]
        self.sum_hit_at_one += hit_at_one(predictions, labels) * batch_size
        self.sum_perr += precision_at_equal_recall_rate(predictions, labels) * batch_size
        class_predictions, class_labels, positives = top_k_by_class(predictions, labels, self.top_k)
        self.map_calculator.accumulate(class_predictions, class_labels, positives)
        self.global_ap_calculator.accumulate(flatten(class_predictions), flatten(class_labels), sum(positives))
        self.num_examples += batch_size

    def get(self) -> dict:
        if self.num_examples <= 0:
            raise ValueError("total_sample must be positive")
        aps = self.map_calculator.peek_map_at_n()
        return {
            "avg_hit_at_one": self.sum_hit_at_one / self.num_examples,
            "avg_perr": self.sum_perr / self.num_examples,
            "map": float(np.mean(aps)),
            "gap": self.global_ap_calculator.peek_ap_at_n(),
            "aps": aps,
            "num_classes": len(aps),
        }
