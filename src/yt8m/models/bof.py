"""Bag of Frames (seed 002 §4.1, Figure 1).

Max pooling over the valid frames → BN → dropout → FC1 → BN → ReLU → dropout → FC2 → BN → ReLU →
sigmoid classifier. Batch norm after the input, FC1 and FC2; dropout (0.3) on the outputs of
the input and FC1 layers. Seed 002's best run (BoF_4096) used 4096 units in both FC layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .base import VideoModel, masked_max
from .layers.heads import make_head
from .layers.normalization import SLIM_MOMENTUM, MaskedBatchNorm1d
from .registry import register_model


@dataclass
class BofConfig:
    hidden_size: int = 4096  # units in FC1 and FC2 (BoF_4096)
    dropout: float = 0.3  # after the input and FC1
    classifier: str = "logistic"  # sigmoid classifier (paper) | moe
    num_mixtures: int = 2
    l2: float = 1e-8
    bn_momentum: float = SLIM_MOMENTUM


@register_model("bof", config=BofConfig, frame_level=True)
class BofModel(VideoModel):
    """Bag of Frames: max pooling over frames, two FC layers with batch norm and dropout."""

    def __init__(self, config: BofConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        width, momentum = config.hidden_size, config.bn_momentum
        self.input_bn = MaskedBatchNorm1d(self.feature_dim, momentum=momentum)
        self.fc1 = nn.Linear(self.feature_dim, width, bias=False)
        self.fc1_bn = MaskedBatchNorm1d(width, momentum=momentum)
        self.fc2 = nn.Linear(width, width, bias=False)
        self.fc2_bn = MaskedBatchNorm1d(width, momentum=momentum)
        self.dropout = nn.Dropout(config.dropout)
        self.head = make_head(config.classifier, width, num_classes, num_mixtures=config.num_mixtures, l2=config.l2)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.dropout(self.input_bn(masked_max(x, mask)))  # [B, D]
        hidden = self.dropout(torch.relu(self.fc1_bn(self.fc1(pooled))))
        hidden = torch.relu(self.fc2_bn(self.fc2(hidden)))
        return self.head(hidden)
