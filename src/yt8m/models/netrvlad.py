"""Gated NetRVLAD (WILLOW's "lightvlad"): NetVLAD without cluster centres, Σ_t a_k(x_t) x_t.

Same network as `netvlad` (256 / 128 clusters, FC 1024, Context Gating, gated MoE head).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from .layers.learnable_pooling import LearnablePoolingConfig, WillowModel
from .layers.vlad import NetRVLADCore
from .registry import register_model


@dataclass
class NetRvladConfig(LearnablePoolingConfig):
    cluster_size: int = 256
    audio_cluster_size: int = 128


@register_model("netrvlad", config=NetRvladConfig, frame_level=True)
class NetRvladModel(WillowModel):
    """Residual-less NetVLAD pooling per stream, FC, Context Gating, gated MoE head (WILLOW)."""

    def make_core(self, feature_size: int, clusters: int) -> nn.Module:
        return NetRVLADCore(feature_size, clusters, batch_norm=self.config.batch_norm, bn_momentum=self.config.bn_momentum)
