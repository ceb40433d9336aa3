"""Mixture of experts per class with a dummy expert (YouTube-8M paper §4.3.3; MiCRObE eq. 6–7).

p(y=1|x) = Σ_{h<H} p(h|x) σ(u_hᵀx + b_h), with p(h|x) a softmax over H + 1 states whose last one is
a dummy that always says "absent". Layout and defaults are the official MoeModel's (H = 2, class-
major gates without bias, experts with bias, L2 1e-8 on both); the layer is `layers.heads.MoeHead`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .layers.heads import MoeHead
from .registry import register_model
from .video_level import VideoLevelConfig, VideoLevelModel


@dataclass
class MoeConfig(VideoLevelConfig):
    num_mixtures: int = 2  # H experts per class, plus the dummy (official --moe_num_mixtures; paper: 2)


@register_model("moe", config=MoeConfig, frame_level=False)
class MoeModel(VideoLevelModel):
    """Mixture of H logistic experts per class plus a dummy expert (official MoeModel)."""

    def __init__(self, config: MoeConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        if config.num_mixtures < 1:
            raise ValueError(f"moe needs num_mixtures >= 1, got {config.num_mixtures}")
        self.head = MoeHead(self.input_dim, num_classes, num_mixtures=config.num_mixtures, l2=config.l2)

    def classify(self, x: torch.Tensor, mask: None) -> dict[str, torch.Tensor]:
        return self.head(x)  # predictions [B, C]
