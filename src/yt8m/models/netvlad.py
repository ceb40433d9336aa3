"""Gated NetVLAD with late fusion (WILLOW, 1st place YouTube-8M 2017: Miech, Laptev, Sivic).

Video and audio frames are pooled by separate NetVLAD layers (256 and 128 clusters), then FC to
1024 with batch norm, Context Gating, and an MoE head whose probabilities are context-gated too.
Defaults are WILLOW's best single model (batch 80, lr 2e-4 decayed ×0.8, moe_l2 1e-6, all frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import VideoModel
from .layers.learnable_pooling import LearnablePoolingConfig, stream_clusters, willow_network
from .layers.vlad import NetVLADCore
from .registry import register_model


@dataclass
class NetVladConfig(LearnablePoolingConfig):
    cluster_size: int = 256
    audio_cluster_size: int = 128


@register_model("netvlad", config=NetVladConfig, frame_level=True)
class NetVladModel(VideoModel):
    """NetVLAD pooling per stream, FC, Context Gating, gated MoE head (WILLOW)."""

    def __init__(self, config: NetVladConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        cores = [
            NetVLADCore(size, k, batch_norm=config.batch_norm, bn_momentum=config.bn_momentum)
            for size, k in zip(self.feature_sizes, stream_clusters(config, self.feature_sizes))
        ]
        self.network = willow_network(cores, config, self.feature_sizes, num_classes)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.network(x, mask)
