"""Stacked LSTM (YouTube-8M paper §4.1.3; official LstmModel).

2 × 1024 LSTM layers run over the valid frames only (packed sequences, TF's forget bias 1); the
top layer's output at the video's last frame (the official choice) or the outputs averaged
with the paper's linearly increasing weights 1/N … 1 feed an MoE head. The official docs ask
for learning rate 0.001 with this model. On a short budget it needs `input_bn` (L2-normalized
frames give the gates ~0.03 per dimension) and `train.output_bias` (BENCHMARKS.md, frame zoo).
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
class LstmConfig:
    hidden_size: int = 1024  # cells per layer (official --lstm_cells)
    num_layers: int = 2  # official --lstm_layers
    output: str = "last"  # last (final state of the top layer) | linear_weighted (weights 1/N … 1) | last_all_layers
    dropout: float = 0.0  # after each layer (official: none)
    input_bn: bool = False  # batch norm on the input frames (not in the official model; see seed 002)
    bn_momentum: float = SLIM_MOMENTUM
    classifier: str = "moe"  # moe | logistic
    num_mixtures: int = 2
    l2: float = 1e-8


@register_model("lstm", config=LstmConfig, frame_level=True)
class LstmModel(VideoModel):
    """Stacked LSTM over the frames; final state (or linearly weighted outputs) to an MoE head."""

    cell = "lstm"

    def __init__(self, config: LstmConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        self.encoder = RecurrentEncoder(
            self.cell, self.feature_dim, config.hidden_size, config.num_layers, output=config.output, dropout=config.dropout,
            input_bn=config.input_bn, bn_momentum=config.bn_momentum,
        )
        self.head = make_head(config.classifier, self.encoder.out_features, num_classes, num_mixtures=config.num_mixtures, l2=config.l2)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head(self.encoder(x, mask))
