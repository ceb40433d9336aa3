"""Gated NetVLAD with late fusion (WILLOW, 1st place YouTube-8M 2017: Miech, Laptev, Sivic).

Video and audio frames are pooled by separate NetVLAD layers (256 and 128 clusters), then FC to
1024 with batch norm, Context Gating, and an MoE head whose probabilities are context-gated too.
Defaults are WILLOW's best single model (batch 80, lr 2e-4 decayed ×0.8, moe_l2 1e-6, all frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from .layers.learnable_pooling import LearnablePoolingConfig, WillowModel
from .layers.vlad import NetVLADCore
from .registry import register_model


@dataclass
class NetVladConfig(LearnablePoolingConfig):
    cluster_size: int = 256
    audio_cluster_size: int = 128


@register_model("netvlad", config=NetVladConfig, frame_level=True)
class NetVladModel(WillowModel):
    """NetVLAD pooling per stream, FC, Context Gating, gated MoE head (WILLOW)."""

    def make_core(self, feature_size: int, clusters: int) -> nn.Module:
        return NetVLADCore(feature_size, clusters, batch_norm=self.config.batch_norm, bn_momentum=self.config.bn_momentum)
