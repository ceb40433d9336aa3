"""Gated NetFV (WILLOW): learnable Fisher-vector pooling, first and second order statistics.

Video 128 clusters, audio 64 (WILLOW's gated NetFV run: --fv_cluster_size=128, uncoupled
centres), FC 1024, Context Gating, gated MoE head. `second_order_norm`: "per_cluster"
intra-normalizes the second-order term like the first; "global" (WILLOW's code) L2-normalizes it
over the whole vector only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from .layers.learnable_pooling import LearnablePoolingConfig, WillowModel
from .layers.vlad import NetFVCore
from .registry import register_model


@dataclass
class NetFvConfig(LearnablePoolingConfig):
    cluster_size: int = 128
    audio_cluster_size: int = 64
    second_order_norm: str = "per_cluster"  # per_cluster | global (WILLOW's code; configs/frame_netfv_willow.yaml)


@register_model("netfv", config=NetFvConfig, frame_level=True)
class NetFvModel(WillowModel):
    """NetFV pooling per stream, FC, Context Gating, gated MoE head (WILLOW)."""

    def make_core(self, feature_size: int, clusters: int) -> nn.Module:
        return NetFVCore(
            feature_size, clusters, batch_norm=self.config.batch_norm, bn_momentum=self.config.bn_momentum,
            second_order_norm=self.config.second_order_norm,
        )
