"""Label losses: `make_loss(name, **options)` -> module `loss(outputs, labels, label_weights=None)`.

Each loss takes the model's output dict and picks what it needs: cross-entropy the probabilities
("predictions"), hinge the raw "scores", softmax the "predictions" (or "logits"). Labels are
multi-hot [B, C] (bool or float). All return a scalar: summed over classes, averaged over the batch,
as the official losses.py. The L2 penalty is separate: the trainer adds
`regularization_penalty · model.regularization_loss()`.

- cross_entropy: official CrossEntropyLoss, −[y·log(p + ε) + (1 − y)·log(1 − p + ε)], ε = 1e-5.
  A model trained per frame (frame_logistic's `training: per_frame`) also returns
  "frame_predictions" [N, C] with "frame_video" [N]: then every frame is one example carrying its
  video's labels, and the loss is averaged over frames.
  With `class_penalized` the positive term of class c is weighted by max_c' n_c' / n_c, n_c = the
  class's positive count in the training set ("Deep learning methods for YouTube-8M", §5: penalize
  false negatives with a coefficient inversely proportional to the label count). The paper gives
  no normalization; dividing by the largest count leaves the most frequent class at weight 1, so
  only minority classes get extra cost, which is what the paper describes.
- hinge: YouTube-8M paper eq. 4, max(0, b − (2y − 1)·ŷ) on raw "scores"; a model without scores
  falls back to "predictions" as the official HingeLoss does (it expects values in [−1, 1]).
- softmax: official SoftmaxLoss: labels L1-normalized by max(Σ y, ε) with ε = 1e-7, then
  −Σ ŷ·log softmax(p). Official applies the softmax to the probabilities; `use_logits` takes the
  model's "logits" instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models.registry import build_config


def _pick(outputs: dict[str, torch.Tensor], key: str, loss: str) -> torch.Tensor:
    if key not in outputs:
        raise KeyError(f"{loss} loss needs model output {key!r}; the model returned {', '.join(sorted(outputs))}")
    return outputs[key]


def _weighted(elementwise: torch.Tensor, label_weights: torch.Tensor | None) -> torch.Tensor:
    """Sum over classes, mean over the batch; label_weights [B, C] (segment training) scale each term."""
    if label_weights is not None:
        elementwise = elementwise * label_weights.to(elementwise.dtype)
    return elementwise.sum(dim=1).mean()


def class_penalty_weights(class_counts: np.ndarray | torch.Tensor | list[int]) -> torch.Tensor:
    """Positive-term weights max(n) / n_c (classes never seen count as 1, i.e. get the largest weight)."""
    counts = torch.as_tensor(np.asarray(class_counts), dtype=torch.float64)
    if counts.dim() != 1 or counts.numel() == 0:
        raise ValueError(f"class_counts must be a non-empty vector [num_classes], got shape {tuple(counts.shape)}")
    if (counts < 0).any():
        raise ValueError("class_counts must be non-negative")
    counts = counts.clamp(min=1.0)
    return (counts.max() / counts).float()


def count_positive_labels(label_batches: Iterable[np.ndarray | torch.Tensor]) -> np.ndarray:
    """Per-class positive counts [C] over multi-hot label batches [B, C] (for `class_penalized`)."""
    total = None
    for labels in label_batches:
        counts = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(bool).sum(axis=0, dtype=np.int64)
        total = counts if total is None else total + counts
    if total is None:
        raise ValueError("count_positive_labels got no label batches")
    return total


@dataclass
class CrossEntropyLossConfig:
    epsilon: float = 1e-5  # inside both logs (official CrossEntropyLoss)
    class_penalized: bool = False  # weight positives by max_count / count_c (needs class_counts from the train set)
    # seed 004's future work: + timing_weight · mean over positively rated segments of −log(the share of the
    # whole video's attention inside the segment); needs "segment_attention_mass" (attention on whole-video segment data)
    timing_weight: float = 0.0


class CrossEntropyLoss(nn.Module):
    """Official sigmoid cross-entropy on probabilities, optionally class-penalized."""

    def __init__(self, config: CrossEntropyLossConfig, *, class_counts=None) -> None:
        super().__init__()
        self.config = config
        if config.class_penalized and class_counts is None:
            raise ValueError("class_penalized cross_entropy needs class_counts: positive label counts over the training set")
        if class_counts is not None and not config.class_penalized:
            raise ValueError("class_counts given but class_penalized is false")
        self.register_buffer("positive_weight", None if class_counts is None else class_penalty_weights(class_counts))

    def forward(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor, label_weights: torch.Tensor | None = None) -> torch.Tensor:
        if "frame_predictions" in outputs:  # per-frame training: each frame an example with its video's labels
            rows = outputs["frame_video"].long()  # the trainer casts every output to float
            p = outputs["frame_predictions"].float()
            labels = labels[rows]
            label_weights = None if label_weights is None else label_weights[rows]
        else:
            p = _pick(outputs, "predictions", "cross_entropy").float()
        y = labels.to(p.dtype)
        eps = self.config.epsilon
        positive = y * torch.log(p + eps)
        if self.positive_weight is not None:
            if self.positive_weight.shape[0] != p.shape[1]:
                raise ValueError(f"class_counts has {self.positive_weight.shape[0]} classes, predictions have {p.shape[1]}")
            positive = positive * self.positive_weight
        loss = _weighted(-(positive + (1 - y) * torch.log(1 - p + eps)), label_weights)
        if self.config.timing_weight > 0:
            loss = loss + self.config.timing_weight * timing_loss(outputs, labels, label_weights)
        return loss


def timing_loss(outputs: dict[str, torch.Tensor], labels: torch.Tensor, label_weights: torch.Tensor | None) -> torch.Tensor:
    """Mean over the batch of −log(attention mass inside the segment) for segments rated positive for some
    class (0 for the others): the attention learns where the rated moments start."""
    mass = _pick(outputs, "segment_attention_mass", "timing (cross_entropy timing_weight)").float()
    rated = labels > 0 if label_weights is None else (labels > 0) & (label_weights >= 1)
    positive = rated.any(1).to(mass.dtype)
    return -(positive * torch.log(mass + 1e-6)).mean()


@dataclass
class HingeLossConfig:
    margin: float = 1.0  # b in eq. 4 of the YouTube-8M paper (official HingeLoss(b=1.0))


class HingeLoss(nn.Module):
    """max(0, b − (2y − 1)·score), summed over classes, averaged over the batch."""

    def __init__(self, config: HingeLossConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor, label_weights: torch.Tensor | None = None) -> torch.Tensor:
        scores = outputs["scores"] if "scores" in outputs else _pick(outputs, "predictions", "hinge")
        signs = 2 * labels.to(scores.dtype) - 1  # y± = 2y − 1
        return _weighted(F.relu(self.config.margin - signs * scores.float()), label_weights)


@dataclass
class SoftmaxLossConfig:
    epsilon: float = 1e-7  # floor on the label sum before L1-normalizing (official 10e-8)
    use_logits: bool = False  # False: softmax over "predictions" as official; True: over "logits"


class SoftmaxLoss(nn.Module):
    """−Σ_c ŷ_c log softmax(p)_c with ŷ = y / max(Σ y, ε), averaged over the batch (official SoftmaxLoss)."""

    def __init__(self, config: SoftmaxLossConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor, label_weights: torch.Tensor | None = None) -> torch.Tensor:
        if label_weights is not None:
            raise ValueError("softmax loss takes no label_weights (the official SoftmaxLoss has none)")
        p = _pick(outputs, "logits" if self.config.use_logits else "predictions", "softmax").float()
        y = labels.to(p.dtype)
        y = y / y.sum(dim=1, keepdim=True).clamp(min=self.config.epsilon)
        return -(y * torch.log_softmax(p, dim=1)).sum(dim=1).mean()


_LOSSES: dict[str, tuple[type, type[nn.Module]]] = {
    "cross_entropy": (CrossEntropyLossConfig, CrossEntropyLoss),
    "hinge": (HingeLossConfig, HingeLoss),
    "softmax": (SoftmaxLossConfig, SoftmaxLoss),
}


def list_losses() -> list[str]:
    return sorted(_LOSSES)


def make_loss(name: str, *, class_counts=None, **options) -> nn.Module:
    """Build a loss by name; options fill its config dataclass. class_counts: train-set positives per class."""
    if name not in _LOSSES:
        raise KeyError(f"unknown loss {name!r}; available losses: {', '.join(list_losses())}")
    config_cls, loss_cls = _LOSSES[name]
    config = build_config(config_cls, options, what=f"loss {name!r}")
    if loss_cls is CrossEntropyLoss:
        return CrossEntropyLoss(config, class_counts=class_counts)
    if class_counts is not None:
        raise ValueError(f"class_counts only apply to cross_entropy with class_penalized, not to {name!r}")
    return loss_cls(config)


__all__ = [
    "CrossEntropyLossConfig",
    "CrossEntropyLoss",
    "HingeLossConfig",
    "HingeLoss",
    "SoftmaxLossConfig",
    "SoftmaxLoss",
    "class_penalty_weights",
    "count_positive_labels",
    "list_losses",
    "make_loss",
]
