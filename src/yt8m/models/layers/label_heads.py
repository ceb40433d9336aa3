"""Output layers for very large label sets, one interface for the sparse LSTM (seed 000 §4).

Every head maps hidden states x [N, H] to
- `position_loss(x, rows, targets, pair_weights)` -> [N]: the training loss of each position, given
  its (row, label) pairs;
- `probabilities(x)` -> [N, C]: exact scores of every class (small label sets, and the reference);
- `top_k(x, k)` -> (classes [N, k], scores [N, k]): the k best labels, best first.

Multi-label targets: the softmax-type heads (hierarchical, full, adaptive) are trained against the
target distribution spread uniformly over the video's labels, i.e. each (position, label) pair adds
−log p(label | x) with weight 1 / (number of labels); the sigmoid head is the independent per-class
logistic baseline (binary cross-entropy summed over classes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .hierarchical_softmax import HierarchicalSoftmax, frequency_tree, random_tree

HEADS = ("hsm", "softmax", "sigmoid", "adaptive")
TREES = ("random", "frequency")


def label_frequencies(num_classes: int, vocabulary: str | None = None) -> np.ndarray:
    """Training counts per class: TrainVideoCount of a vocabulary.csv, else Zipf weights on the class
    id (YouTube-8M and the synthetic vocabularies number classes by popularity)."""
    if vocabulary is None:
        return 1.0 / (np.arange(num_classes) + 3.0)
    from ...data.vocabulary import read_vocabulary

    counts = read_vocabulary(Path(vocabulary)).train_video_count.astype(np.float64)
    if len(counts) != num_classes:
        raise ValueError(f"{vocabulary}: {len(counts)} classes, the model has {num_classes}")
    return counts + 0.5  # unseen classes still get a (long) path


def _scatter_pairs(loss: torch.Tensor, rows: torch.Tensor, pair_weights: torch.Tensor, n: int) -> torch.Tensor:
    return loss.new_zeros(n).index_add_(0, rows, loss * pair_weights)


class HsmHead(HierarchicalSoftmax):
    """Hierarchical softmax; top-k by beam search down the tree (`beam` ≥ k nodes kept per level)."""

    def __init__(self, in_features: int, num_classes: int, *, tree: str = "random", branching: int = 10, seed: int = 0,
                 vocabulary: str | None = None, beam: int = 20) -> None:
        if tree not in TREES:
            raise ValueError(f"unknown tree {tree!r}: use one of {', '.join(TREES)}")
        built = random_tree(num_classes, branching, seed) if tree == "random" else frequency_tree(label_frequencies(num_classes, vocabulary), branching)
        super().__init__(in_features, built)
        self.beam = beam

    def position_loss(self, x, rows, targets, pair_weights):
        return _scatter_pairs(self.nll(x, rows, targets), rows, pair_weights, x.shape[0])

    def probabilities(self, x):
        return self.log_prob_all(x).exp()

    def top_k(self, x, k, beam=None):
        classes, logp = super().top_k(x, k, beam or self.beam)
        return classes, logp.exp()


class SoftmaxHead(nn.Module):
    """Full softmax over all C classes: the baseline cost the hierarchical softmax avoids."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)

    def position_loss(self, x, rows, targets, pair_weights):
        logp = torch.log_softmax(self.fc(x), dim=-1)
        return _scatter_pairs(-logp[rows, targets], rows, pair_weights, x.shape[0])

    def probabilities(self, x):
        return torch.softmax(self.fc(x), dim=-1)

    def top_k(self, x, k):
        best = self.probabilities(x).topk(min(k, self.fc.out_features), dim=-1)
        return best.indices, best.values


class SigmoidHead(nn.Module):
    """Independent logistic regressions (multi-label by construction), binary cross-entropy."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)

    def position_loss(self, x, rows, targets, pair_weights):
        logits = self.fc(x)
        y = torch.zeros_like(logits)
        y[rows, targets] = 1.0
        return F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(-1)

    def probabilities(self, x):
        return torch.sigmoid(self.fc(x))

    def top_k(self, x, k):
        best = self.probabilities(x).topk(min(k, self.fc.out_features), dim=-1)
        return best.indices, best.values


class AdaptiveHead(nn.Module):
    """nn.AdaptiveLogSoftmaxWithLoss (Grave et al.) on classes ranked by frequency; cutoffs are
    fractions of C (default 5 % and 20 %: head, then two tails with 4× smaller projections)."""

    def __init__(self, in_features: int, num_classes: int, *, cutoffs: tuple[float, ...] = (0.05, 0.2),
                 vocabulary: str | None = None, div_value: float = 4.0) -> None:
        super().__init__()
        bounds = sorted({int(round(f * num_classes)) for f in cutoffs} - {0, num_classes})
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(in_features, num_classes, [b for b in bounds if 0 < b < num_classes], div_value=div_value)
        order = np.argsort(-label_frequencies(num_classes, vocabulary), kind="stable")
        rank = np.empty(num_classes, dtype=np.int64)
        rank[order] = np.arange(num_classes)
        self.register_buffer("rank_of_class", torch.from_numpy(rank), persistent=False)

    def position_loss(self, x, rows, targets, pair_weights):
        out = self.adaptive(x[rows], self.rank_of_class[targets]).output
        return _scatter_pairs(-out, rows, pair_weights, x.shape[0])

    def probabilities(self, x):
        return self.adaptive.log_prob(x)[:, self.rank_of_class].exp()

    def top_k(self, x, k):
        best = self.probabilities(x).topk(min(k, len(self.rank_of_class)), dim=-1)
        return best.indices, best.values


def make_label_head(kind: str, in_features: int, num_classes: int, *, tree: str = "random", branching: int = 10, seed: int = 0,
                    vocabulary: str | None = None, beam: int = 20, cutoffs: tuple[float, ...] = (0.05, 0.2)) -> nn.Module:
    if kind == "hsm":
        return HsmHead(in_features, num_classes, tree=tree, branching=branching, seed=seed, vocabulary=vocabulary, beam=beam)
    if kind == "softmax":
        return SoftmaxHead(in_features, num_classes)
    if kind == "sigmoid":
        return SigmoidHead(in_features, num_classes)
    if kind == "adaptive":
        return AdaptiveHead(in_features, num_classes, cutoffs=tuple(cutoffs), vocabulary=vocabulary)
    raise ValueError(f"unknown output {kind!r}: use one of {', '.join(HEADS)}")
