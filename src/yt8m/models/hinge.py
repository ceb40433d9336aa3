"""Linear classifier for the hinge loss (YouTube-8M paper §4.3.2, eq. 4): the online-SVM baseline.

The model scores s = xW + b ("scores", any sign); the hinge loss max(0, b − (2y − 1)·s) is taken on
those raw scores (`make_loss("hinge")` picks "scores"). For ranking metrics and prediction files
the model also reports "predictions" = σ(s) in (0, 1): a strictly increasing map shared by every
class, so per-video rankings and the global order behind GAP / mAP / Hit@k / PERR are exactly those
of the raw scores (up to float32 saturation of σ at s ≳ 17, far beyond the margin the hinge loss
asks for), and the SVM decision threshold s = 0 becomes 0.5. They are not calibrated probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import L2Linear
from .registry import register_model
from .video_level import VideoLevelConfig, VideoLevelModel


@dataclass
class HingeConfig(VideoLevelConfig):
    pass  # l2 (1e-8) and features (None) come from VideoLevelConfig; the margin b is a loss option


@register_model("hinge", config=HingeConfig, frame_level=False)
class HingeModel(VideoLevelModel):
    """Linear scores per class for the hinge loss (paper §4.3.2); predictions = σ(score) for ranking."""

    def __init__(self, config: HingeConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        self.fc = L2Linear(self.input_dim, num_classes, l2=config.l2)

    def classify(self, x: torch.Tensor, mask: None) -> dict[str, torch.Tensor]:
        scores = self.fc(x)  # [B, C], signed SVM margins
        return {"scores": scores, "predictions": torch.sigmoid(scores)}
