"""Gated NetFV (WILLOW): learnable Fisher-vector pooling, first and second order statistics.

Video 128 clusters, audio 64 (WILLOW's gated NetFV run: --fv_cluster_size=128, uncoupled
centres), FC 1024, Context Gating, gated MoE head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import VideoModel
from .layers.learnable_pooling import LearnablePoolingConfig, stream_clusters, willow_network
from .layers.vlad import NetFVCore
from .registry import register_model


@dataclass
class NetFvConfig(LearnablePoolingConfig):
    cluster_size: int = 128
    audio_cluster_size: int = 64


@register_model("netfv", config=NetFvConfig, frame_level=True)
class NetFvModel(VideoModel):
    """NetFV pooling per stream, FC, Context Gating, gated MoE head (WILLOW)."""

    def __init__(self, config: NetFvConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        cores = [
            NetFVCore(size, k, batch_norm=config.batch_norm, bn_momentum=config.bn_momentum)
            for size, k in zip(self.feature_sizes, stream_clusters(config, self.feature_sizes))
        ]
        self.network = willow_network(cores, config, self.feature_sizes, num_classes)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.network(x, mask)
