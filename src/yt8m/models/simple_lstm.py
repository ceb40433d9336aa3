"""Simple_LSTM (seed 002 §4.2, Figure 2).

Batch norm on the input frames, N stacked LSTM layers with dropout 0.4 after each (optionally
with residual connections), and the weighted sum of the top layer's outputs with w_i = i / N
(eq. 1–2; normalized by Σ w so every video length gives the same scale) into a sigmoid
classifier. Seed 002's best run: 3 layers of 2048 (Simple_LSTM_l3_2048); the default here is its
2 × 1024 residual configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import VideoModel
from .layers.heads import make_head
from .layers.normalization import SLIM_MOMENTUM
from .layers.recurrent import RecurrentEncoder
from .registry import register_model


@dataclass
class SimpleLstmConfig:
    hidden_size: int = 1024  # seed 002 tried 1024 and 2048
    num_layers: int = 2  # seed 002 tried 2 and 3
    dropout: float = 0.4  # after each LSTM layer
    residual: bool = True  # Simple_LSTM_residual
    classifier: str = "logistic"  # sigmoid classifier | moe
    num_mixtures: int = 2
    l2: float = 1e-8
    bn_momentum: float = SLIM_MOMENTUM


@register_model("simple_lstm", config=SimpleLstmConfig, frame_level=True)
class SimpleLstmModel(VideoModel):
    """Input BN, stacked LSTMs with dropout (and residuals), linearly weighted sum of outputs."""

    def __init__(self, config: SimpleLstmConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        self.encoder = RecurrentEncoder(
            "lstm", self.feature_dim, config.hidden_size, config.num_layers, output="linear_weighted",
            dropout=config.dropout, residual=config.residual, input_bn=True, bn_momentum=config.bn_momentum,
        )
        self.head = make_head(config.classifier, config.hidden_size, num_classes, num_mixtures=config.num_mixtures, l2=config.l2)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head(self.encoder(x, mask))
