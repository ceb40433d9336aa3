"""Gating: Context Gating (WILLOW), SE-style gating (NeXtVLAD), and a head with gated predictions.

Context Gating (Miech et al. 2017): y = x ⊙ σ(W x + b), with batch norm in place of b when the
model uses batch norm. Applied to a hidden layer it re-weights features; applied to the
classifier's probabilities ("gated MoE") it lets classes suppress or boost each other.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .heads import make_head
from .normalization import SLIM_MOMENTUM, MaskedBatchNorm1d


class ContextGating(nn.Module):
    """y = x ⊙ σ(BN(W x)) (batch_norm) or x ⊙ σ(W x + b)."""

    def __init__(self, features: int, *, batch_norm: bool = True, bn_momentum: float = SLIM_MOMENTUM) -> None:
        super().__init__()
        self.fc = nn.Linear(features, features, bias=not batch_norm)
        self.bn = MaskedBatchNorm1d(features, momentum=bn_momentum) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gates = self.fc(x)
        if self.bn is not None:
            gates = self.bn(gates)
        return x * torch.sigmoid(gates)


class SqueezeExcitationGating(nn.Module):
    """NeXtVLAD's gating: y = x ⊙ σ(W₂ ReLU(BN(W₁ x))), W₁ reducing the width by `reduction`."""

    def __init__(self, features: int, *, reduction: int = 8, bn_momentum: float = SLIM_MOMENTUM) -> None:
        super().__init__()
        squeezed = max(1, features // reduction)
        self.squeeze = nn.Linear(features, squeezed, bias=False)
        self.bn = MaskedBatchNorm1d(squeezed, momentum=bn_momentum)
        self.excite = nn.Linear(squeezed, features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.excite(torch.relu(self.bn(self.squeeze(x)))))


class GatedHead(nn.Module):
    """A classifier head whose probabilities pass through Context Gating (WILLOW's gated MoE)."""

    def __init__(self, head: nn.Module, num_classes: int, *, bn_momentum: float = SLIM_MOMENTUM) -> None:
        super().__init__()
        self.head = head
        self.gating = ContextGating(num_classes, batch_norm=True, bn_momentum=bn_momentum)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"predictions": self.gating(self.head(x)["predictions"])}


def make_classifier(
    kind: str,
    in_features: int,
    num_classes: int,
    *,
    num_mixtures: int = 2,
    l2: float = 1e-8,
    gate_predictions: bool = False,
    bn_momentum: float = SLIM_MOMENTUM,
) -> nn.Module:
    """`make_head` ('logistic' | 'moe'), optionally followed by Context Gating on the probabilities."""
    head = make_head(kind, in_features, num_classes, num_mixtures=num_mixtures, l2=l2)
    return GatedHead(head, num_classes, bn_momentum=bn_momentum) if gate_predictions else head
