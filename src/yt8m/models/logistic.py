"""Logistic regression on one vector per video (YouTube-8M paper §4.3.1, eq. 3; official LogisticModel).

p(e|x) = σ(w_eᵀx + b_e) for every class e, trained with the log-loss plus λ‖w_e‖². The penalty
uses the official slim convention l2·½‖W‖² with l2 = 1e-8 (`regularization_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .layers.heads import LogisticHead
from .registry import register_model
from .video_level import VideoLevelConfig, VideoLevelModel


@dataclass
class LogisticConfig(VideoLevelConfig):
    pass  # l2 (1e-8) and features (None) come from VideoLevelConfig


@register_model("logistic", config=LogisticConfig, frame_level=False)
class LogisticModel(VideoLevelModel):
    """Logistic regression per class on the video vector (official LogisticModel)."""

    def __init__(self, config: LogisticConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        self.head = LogisticHead(self.input_dim, num_classes, l2=config.l2)

    def classify(self, x: torch.Tensor, mask: None) -> dict[str, torch.Tensor]:
        return self.head(x)  # predictions [B, C] = σ(logits [B, C])
