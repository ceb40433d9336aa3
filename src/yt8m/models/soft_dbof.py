"""Gated Soft-DBoF (WILLOW): soft cluster assignments summed over frames, per stream.

Video 8000 clusters, audio 1000 (WILLOW's DBoF layouts give audio cluster_size / 8), optional
max pooling alongside the sum, then FC 1024, Context Gating, gated MoE head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from .layers.learnable_pooling import LearnablePoolingConfig, WillowModel
from .layers.vlad import SoftDBoFCore
from .registry import register_model


@dataclass
class SoftDbofConfig(LearnablePoolingConfig):
    cluster_size: int = 8000
    audio_cluster_size: int = 1000
    max_pool: bool = False  # also the L2-normalized max of the assignments (WILLOW --softdbof_maxpool)


@register_model("soft_dbof", config=SoftDbofConfig, frame_level=True)
class SoftDbofModel(WillowModel):
    """Soft-assignment bag of frames per stream, FC, Context Gating, gated MoE head (WILLOW)."""

    def make_core(self, feature_size: int, clusters: int) -> nn.Module:
        config = self.config
        return SoftDBoFCore(feature_size, clusters, batch_norm=config.batch_norm, bn_momentum=config.bn_momentum, max_pool=config.max_pool)
