"""The network around learnable pooling cores (shared by NeXtVLAD) and the WILLOW models built on it.

Late fusion: the frame dims are split by `feature_sizes` (video 1024, audio 128), each stream is
pooled by its own core, the pooled vectors are concatenated, then

    [input BN] → cores → concat → [dropout] → FC hidden (+BN) → [ReLU6] → gating → head

with gating = Context Gating (WILLOW) or SE gating (NeXtVLAD), and the head optionally gating
its own probabilities (WILLOW's gated MoE).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import VideoModel
from .gating import ContextGating, SqueezeExcitationGating, make_classifier
from .normalization import SLIM_MOMENTUM, MaskedBatchNorm1d


@dataclass
class LearnablePoolingConfig:
    """Hyper-parameters shared by netvlad / netrvlad / netfv / soft_dbof (WILLOW's flags)."""

    cluster_size: int = 256  # clusters for the first stream (video)
    audio_cluster_size: int = 128  # clusters for every later stream (audio); WILLOW: cluster_size / 2
    hidden_size: int = 1024  # FC after pooling
    batch_norm: bool = True  # BN on input frames, cluster logits and gates (and the hidden layer, see hidden_bn)
    hidden_bn: bool = True  # BN on the hidden layer (needs batch_norm); False: a bias instead, as WILLOW's best runs
    hidden_relu: bool = False  # ReLU6 after the hidden layer (WILLOW's best runs: off)
    gating: bool = True  # Context Gating on the hidden layer
    gate_predictions: bool = True  # Context Gating on the head's probabilities (gated MoE)
    classifier: str = "moe"  # moe | logistic
    num_mixtures: int = 2
    l2: float = 1e-6  # classifier L2 (WILLOW --moe_l2=1e-6)
    dropout: float = 0.0  # on the pooled vector, before the hidden layer
    bn_momentum: float = SLIM_MOMENTUM


def stream_slices(feature_sizes: tuple[int, ...]) -> list[slice]:
    """(1024, 128) -> [slice(0, 1024), slice(1024, 1152)]."""
    slices, start = [], 0
    for size in feature_sizes:
        slices.append(slice(start, start + size))
        start += size
    return slices


class PooledGatedNetwork(nn.Module):
    """Late-fusion pooling cores, hidden layer, gating and classifier (see module docstring)."""

    def __init__(
        self,
        cores: list[nn.Module],
        feature_sizes: tuple[int, ...],
        num_classes: int,
        *,
        hidden_size: int,
        input_bn: bool,
        hidden_bn: bool,
        hidden_relu: bool,
        gating: str,  # context | se | none
        gating_bn: bool = True,  # batch norm inside Context Gating
        classifier: str,
        num_mixtures: int,
        l2: float,
        gate_predictions: bool,
        dropout: float = 0.0,
        gating_reduction: int = 8,
        bn_momentum: float = SLIM_MOMENTUM,
    ) -> None:
        super().__init__()
        if len(cores) != len(feature_sizes):
            raise ValueError(f"{len(cores)} pooling cores for {len(feature_sizes)} feature streams {feature_sizes}")
        self.slices = stream_slices(feature_sizes)
        self.input_bn = MaskedBatchNorm1d(sum(feature_sizes), momentum=bn_momentum) if input_bn else None
        self.cores = nn.ModuleList(cores)
        pooled = sum(core.out_features for core in cores)
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(pooled, hidden_size, bias=not hidden_bn)
        self.hidden_bn = MaskedBatchNorm1d(hidden_size, momentum=bn_momentum) if hidden_bn else nn.Identity()
        self.hidden_relu = hidden_relu
        if gating == "context":
            self.gating: nn.Module = ContextGating(hidden_size, batch_norm=gating_bn, bn_momentum=bn_momentum)
        elif gating == "se":
            self.gating = SqueezeExcitationGating(hidden_size, reduction=gating_reduction, bn_momentum=bn_momentum)
        elif gating == "none":
            self.gating = nn.Identity()
        else:
            raise ValueError(f"unknown gating {gating!r}: use 'context', 'se' or 'none'")
        self.head = make_classifier(
            classifier, hidden_size, num_classes, num_mixtures=num_mixtures, l2=l2,
            gate_predictions=gate_predictions, bn_momentum=bn_momentum,
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.input_bn is not None:
            x = self.input_bn(x, mask)
        pooled = torch.cat([core(x[..., s], mask) for core, s in zip(self.cores, self.slices)], dim=1)
        hidden = self.hidden_bn(self.hidden(self.dropout(pooled)))  # [B, hidden]
        if self.hidden_relu:
            hidden = F.relu6(hidden)
        return self.head(self.gating(hidden))


class WillowModel(VideoModel):
    """Base of the WILLOW models (netvlad, netrvlad, netfv, soft_dbof): one pooling core per
    feature stream (`cluster_size` clusters for the first, `audio_cluster_size` for the rest) in
    the WILLOW layout: input BN, hidden BN (or a bias: `hidden_bn: false`, WILLOW's best runs, whose
    code adds the hidden BN only together with the ReLU6), optional ReLU6, Context Gating, gated head.
    A subclass only says which core pools a stream (`make_core`)."""

    def __init__(self, config: LearnablePoolingConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        clusters = [config.cluster_size] + [config.audio_cluster_size] * (len(self.feature_sizes) - 1)
        self.network = PooledGatedNetwork(
            [self.make_core(size, k) for size, k in zip(self.feature_sizes, clusters)], self.feature_sizes, num_classes,
            hidden_size=config.hidden_size, input_bn=config.batch_norm, hidden_bn=config.batch_norm and config.hidden_bn,
            hidden_relu=config.hidden_relu,
            gating="context" if config.gating else "none", gating_bn=config.batch_norm, classifier=config.classifier,
            num_mixtures=config.num_mixtures, l2=config.l2, gate_predictions=config.gate_predictions,
            dropout=config.dropout, bn_momentum=config.bn_momentum,
        )

    def make_core(self, feature_size: int, clusters: int) -> nn.Module:
        raise NotImplementedError

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.network(x, mask)
