"""NeXtVLAD (Lin et al. 2018, 3rd place YouTube-8M 2018): grouped NetVLAD with expansion.

Per stream (video: K clusters, G groups; audio: K/2 clusters, G/2 groups): expand the frame to
λD, split into G groups with sigmoid attention each, soft-assign every group to K clusters,
aggregate residuals to shared centres, intra-normalize, batch-norm. Then dropout → FC hidden
(+BN) → SE-style context gating (reduction r) → classifier. Defaults are the paper's single
model: K=128, λ=2, G=8, hidden 2048, r=8, dropout 0.5, logistic head with L2 1e-5.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import VideoModel
from .layers.learnable_pooling import PooledGatedNetwork
from .layers.normalization import SLIM_MOMENTUM
from .layers.vlad import NeXtVLADCore
from .registry import register_model


@dataclass
class NextVladConfig:
    cluster_size: int = 128  # K for the video stream; later streams (audio) use K / 2
    expansion: int = 2  # λ
    groups: int = 8  # G for the video stream; later streams use G / 2
    hidden_size: int = 2048
    gating_reduction: int = 8  # r of the SE gating
    dropout: float = 0.5  # on the concatenated NeXtVLAD vectors
    classifier: str = "logistic"  # logistic (paper) | moe
    num_mixtures: int = 2
    l2: float = 1e-5
    bn_momentum: float = SLIM_MOMENTUM


@register_model("nextvlad", config=NextVladConfig, frame_level=True)
class NextVladModel(VideoModel):
    """NeXtVLAD per stream, dropout, FC with batch norm, SE context gating, classifier."""

    def __init__(self, config: NextVladConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        cores = [
            NeXtVLADCore(
                size,
                config.cluster_size if i == 0 else max(1, config.cluster_size // 2),
                expansion=config.expansion,
                groups=config.groups if i == 0 else max(1, config.groups // 2),
                bn_momentum=config.bn_momentum,
            )
            for i, size in enumerate(self.feature_sizes)
        ]
        self.network = PooledGatedNetwork(
            cores, self.feature_sizes, num_classes,
            hidden_size=config.hidden_size, input_bn=False, hidden_bn=True, hidden_relu=False, gating="se",
            gating_reduction=config.gating_reduction, classifier=config.classifier, num_mixtures=config.num_mixtures,
            l2=config.l2, gate_predictions=False, dropout=config.dropout, bn_momentum=config.bn_momentum,
        )

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.network(x, mask)
