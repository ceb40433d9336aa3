"""Gated NetRVLAD (WILLOW's "lightvlad"): NetVLAD without cluster centres, Σ_t a_k(x_t) x_t.

Same network as `netvlad` (256 / 128 clusters, FC 1024, Context Gating, gated MoE head).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import VideoModel
from .layers.learnable_pooling import LearnablePoolingConfig, stream_clusters, willow_network
from .layers.vlad import NetRVLADCore
from .registry import register_model


@dataclass
class NetRvladConfig(LearnablePoolingConfig):
    cluster_size: int = 256
    audio_cluster_size: int = 128


@register_model("netrvlad", config=NetRvladConfig, frame_level=True)
class NetRvladModel(VideoModel):
    """Residual-less NetVLAD pooling per stream, FC, Context Gating, gated MoE head (WILLOW)."""

    def __init__(self, config: NetRvladConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        cores = [
            NetRVLADCore(size, k, batch_norm=config.batch_norm, bn_momentum=config.bn_momentum)
            for size, k in zip(self.feature_sizes, stream_clusters(config, self.feature_sizes))
        ]
        self.network = willow_network(cores, config, self.feature_sizes, num_classes)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.network(x, mask)
