"""What the video-level classifiers (logistic, hinge, MoE) share: one vector per video in.

Without a feature transform a model takes the dataset's video-level vectors [B, D] (e.g.
[mean_rgb; mean_audio]) and L2-normalizes them jointly, as the official starter code does.

With `features` set (a `VideoFeatureConfig` or its dict) the model holds a `VideoFeatureTransform`
as `model.feature_transform`: raw uint8 frames [B, T, D] + num_frames -> [mean; std; Top_K] ->
PCA whitening -> L2 (YouTube-8M paper §4.2), and the classifier sees that vector. The transform's
fitted numbers are buffers, so they are saved and loaded with the model's state dict:

    model = create_model("moe", num_classes=C, feature_sizes=(1024, 128), features={"top_k": 5})
    if model.requires_fitting:
        model.fit_features(train_batches)   # iterable of (uint8 frames, num_frames)
    torch.save(model.state_dict(), path)   # the whitening travels with the weights
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch

from ..features.pipeline import Batch, VideoFeatureConfig, VideoFeatureTransform
from .base import VideoModel


@dataclass
class VideoLevelConfig:
    l2: float = 1e-8  # L2 penalty l2·½‖W‖² on the classifier weights (official l2_penalty)
    features: VideoFeatureConfig | None = None  # None: video-level vectors in; else frames -> aggregate/whiten/L2

    def __post_init__(self) -> None:
        if self.features is not None:
            self.features = VideoFeatureConfig.from_options(self.features)


class VideoLevelModel(VideoModel):
    """Base for classifiers on one vector per video; `input_dim` is what `classify` receives."""

    def __init__(self, config: VideoLevelConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        self.feature_transform = None if config.features is None else VideoFeatureTransform(config.features, self.feature_sizes)
        self.input_dim = self.feature_dim if self.feature_transform is None else self.feature_transform.output_dim

    @property
    def expects_frames(self) -> bool:
        """True when the model takes frames [B, T, D] + num_frames rather than vectors [B, D]."""
        return self.feature_transform is not None and self.feature_transform.expects_frames

    @property
    def requires_fitting(self) -> bool:
        """True until the feature whitening has been fitted (or loaded from a state dict)."""
        return self.feature_transform is not None and self.feature_transform.requires_fitting

    def fit_features(self, batches: Iterable[Batch]) -> "VideoLevelModel":
        """Fit the feature whitening on training batches of (features, num_frames)."""
        if self.feature_transform is not None:
            self.feature_transform.fit(batches)
        return self

    def prepare(self, features: torch.Tensor, num_frames: torch.Tensor | None) -> tuple[torch.Tensor, None]:
        if self.feature_transform is not None:
            return self.feature_transform(features, num_frames), None
        if features.dim() != 2:
            raise ValueError(
                f"{self.registry_name!r} without a feature transform takes video-level vectors [batch, dims], "
                f"got shape {tuple(features.shape)}; for frames set features: {{aggregate: mean_std_topk}}"
            )
        return super().prepare(features, num_frames)


__all__ = ["VideoLevelConfig", "VideoLevelModel"]
