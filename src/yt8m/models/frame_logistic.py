"""Frame-level logistic regression averaged over frames (YouTube-8M paper §4.1.1, eq. 1).

Every frame is scored by one shared logistic layer per class and the video's probability is the
mean over its valid frames: p_v(e) = 1/F_v Σ_j σ(w_eᵀ x_j + b_e). (The official
FrameLevelLogisticModel averages the *features* instead; the paper averages the predictions.)

Two ways to train it (`training`):
- "video_average" (default): the loss is taken on the averaged probabilities, end to end.
- "per_frame" (the paper, §4.1.1): every frame the loader hands over (the paper samples 20 at
  random, `data.sampling: random`, `data.num_samples: 20`) is a separate training example
  carrying its video's labels; the model also returns "frame_predictions" [N_valid, C] and
  "frame_video" [N_valid] (the video of each row), which the cross-entropy loss then averages
  over frames instead of videos. Inference is the same in both: the average of frame scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import VideoModel, masked_mean
from .layers.heads import LogisticHead
from .registry import register_model

TRAINING_MODES = ("video_average", "per_frame")


@dataclass
class FrameLogisticConfig:
    l2: float = 1e-8  # L2 penalty l2·½‖W‖² on the weights (official l2_penalty)
    training: str = "video_average"  # video_average | per_frame (the paper's; BENCHMARKS.md "published-model options")


@register_model("frame_logistic", config=FrameLogisticConfig, frame_level=True)
class FrameLogisticModel(VideoModel):
    """Per-frame logistic regression, probabilities averaged over the video's frames (eq. 1)."""

    def __init__(self, config: FrameLogisticConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        if config.training not in TRAINING_MODES:
            raise ValueError(f"frame_logistic: unknown training {config.training!r}: use {' or '.join(TRAINING_MODES)}")
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        self.head = LogisticHead(self.feature_dim, num_classes, l2=config.l2)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        frame_predictions = self.head(x)["predictions"]  # [B, T, C]
        outputs = {"predictions": masked_mean(frame_predictions, mask)}
        if self.training and self.config.training == "per_frame":
            outputs["frame_predictions"] = frame_predictions[mask]  # [N_valid, C], one row per frame example
            outputs["frame_video"] = mask.nonzero()[:, 0]  # [N_valid] row -> video in the batch
        return outputs
