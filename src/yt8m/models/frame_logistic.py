"""Frame-level logistic regression averaged over frames (YouTube-8M paper §4.1.1, eq. 1).

Every frame is scored by one shared logistic layer per class and the video's probability is the
mean over its valid frames: p_v(e) = 1/F_v Σ_j σ(w_eᵀ x_j + b_e). (The official
FrameLevelLogisticModel averages the *features* instead; the paper averages the predictions.)
The model is trained end to end on the averaged probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import VideoModel, masked_mean
from .layers.heads import LogisticHead
from .registry import register_model


@dataclass
class FrameLogisticConfig:
    l2: float = 1e-8  # L2 penalty l2·½‖W‖² on the weights (official l2_penalty)


@register_model("frame_logistic", config=FrameLogisticConfig, frame_level=True)
class FrameLogisticModel(VideoModel):
    """Per-frame logistic regression, probabilities averaged over the video's frames (eq. 1)."""

    def __init__(self, config: FrameLogisticConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        self.head = LogisticHead(self.feature_dim, num_classes, l2=config.l2)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        frame_predictions = self.head(x)["predictions"]  # [B, T, C]
        return {"predictions": masked_mean(frame_predictions, mask)}
