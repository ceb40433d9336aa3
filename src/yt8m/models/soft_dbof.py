"""Gated Soft-DBoF (WILLOW): soft cluster assignments summed over frames, per stream.

Video 8000 clusters, audio 1000 (WILLOW's DBoF layouts give audio cluster_size / 8), optional
max pooling alongside the sum, then FC 1024, Context Gating, gated MoE head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import VideoModel
from .layers.learnable_pooling import LearnablePoolingConfig, stream_clusters, willow_network
from .layers.vlad import SoftDBoFCore
from .registry import register_model


@dataclass
class SoftDbofConfig(LearnablePoolingConfig):
    cluster_size: int = 8000
    audio_cluster_size: int = 1000
    max_pool: bool = False  # also the L2-normalized max of the assignments (WILLOW --softdbof_maxpool)


@register_model("soft_dbof", config=SoftDbofConfig, frame_level=True)
class SoftDbofModel(VideoModel):
    """Soft-assignment bag of frames per stream, FC, Context Gating, gated MoE head (WILLOW)."""

    def __init__(self, config: SoftDbofConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        cores = [
            SoftDBoFCore(size, k, batch_norm=config.batch_norm, bn_momentum=config.bn_momentum, max_pool=config.max_pool)
            for size, k in zip(self.feature_sizes, stream_clusters(config, self.feature_sizes))
        ]
        self.network = willow_network(cores, config, self.feature_sizes, num_classes)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.network(x, mask)
