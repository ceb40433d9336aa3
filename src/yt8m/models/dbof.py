"""Deep Bag of Frames (YouTube-8M paper §4.1.2, Figure 7; official DbofModel).

k frames per video → shared up-projection to M "clusters" (+BN) → activation → max/average pool →
hidden layer (+BN) → activation → MoE or logistic head. Input frames are batch-normalized first.

Training samples k random frames per video at every step (or one random window). Unlike the
official code, evaluation and prediction are deterministic: k evenly spaced frames (the same
pooling statistics the model was trained with) or all frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import VideoModel, masked_max, masked_mean
from .layers.heads import make_head
from .layers.normalization import SLIM_MOMENTUM, MaskedBatchNorm1d
from .layers.sampling import gather_frames, random_frame_indices, random_window_indices, uniform_frame_indices
from .registry import register_model

ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu6": F.relu6, "relu": F.relu}


@dataclass
class DbofConfig:
    num_samples: int = 30  # k frames per video in training (official --iterations)
    sampling: str = "random"  # training: random (i.i.d. frames) | window (one contiguous run)
    eval_sampling: str = "uniform"  # evaluation: uniform (k evenly spaced frames) | all
    cluster_size: int = 8192  # M, the up-projection width (paper: 8192)
    hidden_size: int = 1024  # hidden layer (paper: 1024)
    batch_norm: bool = True  # BN on input, cluster and hidden layers (official --dbof_add_batch_norm)
    pooling: str = "max"  # max | average
    activation: str = "sigmoid"  # sigmoid (official default) | relu6 | relu (paper text)
    classifier: str = "moe"  # moe | logistic
    num_mixtures: int = 2
    l2: float = 1e-8  # classifier L2
    bn_momentum: float = SLIM_MOMENTUM
    seed: int = 0  # seeds the model's own generator for frame sampling (its state is checkpointed)


@register_model("dbof", config=DbofConfig, frame_level=True)
class DbofModel(VideoModel):
    """Deep Bag of Frames: sampled frames, up-projection, pooling, hidden layer, classifier."""

    def __init__(self, config: DbofConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        for name, value, allowed in (
            ("sampling", config.sampling, ("random", "window")),
            ("eval_sampling", config.eval_sampling, ("uniform", "all")),
            ("pooling", config.pooling, ("max", "average")),
            ("activation", config.activation, tuple(ACTIVATIONS)),
        ):
            if value not in allowed:
                raise ValueError(f"dbof: {name} must be one of {', '.join(allowed)}, got {value!r}")
        bn = config.batch_norm
        self.input_bn = MaskedBatchNorm1d(self.feature_dim, momentum=config.bn_momentum) if bn else None
        self.cluster = nn.Linear(self.feature_dim, config.cluster_size, bias=not bn)
        self.cluster_bn = MaskedBatchNorm1d(config.cluster_size, momentum=config.bn_momentum) if bn else None
        self.hidden = nn.Linear(config.cluster_size, config.hidden_size, bias=not bn)
        self.hidden_bn = MaskedBatchNorm1d(config.hidden_size, momentum=config.bn_momentum) if bn else None
        for layer in (self.cluster, self.hidden):  # official init N(0, 1/sqrt(fan_in))
            nn.init.normal_(layer.weight, std=1 / math.sqrt(layer.in_features))
            if layer.bias is not None:
                nn.init.normal_(layer.bias, std=0.01)
        self.activation = ACTIVATIONS[config.activation]
        self.head = make_head(config.classifier, config.hidden_size, num_classes, num_mixtures=config.num_mixtures, l2=config.l2)
        # the sampling generator's state is a buffer, so checkpoints (and resumed runs) carry it
        self.register_buffer("sampling_state", torch.Generator().manual_seed(config.seed).get_state())

    def reseed(self, seed: int) -> None:
        """Restart the training frame sampling from `seed`."""
        self.sampling_state.copy_(torch.Generator().manual_seed(seed).get_state())

    def _random_indices(self, lengths: torch.Tensor, k: int) -> torch.Tensor:
        generator = torch.Generator()
        generator.set_state(self.sampling_state.cpu())
        sample = random_frame_indices if self.config.sampling == "random" else random_window_indices
        indices = sample(lengths, k, generator)
        self.sampling_state.copy_(generator.get_state())
        return indices

    def sample(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """k frames per video (random in training, evenly spaced at evaluation) or all frames."""
        if not self.training and self.config.eval_sampling == "all":
            return x, mask
        lengths, k = mask.sum(1), self.config.num_samples
        indices = self._random_indices(lengths, k) if self.training else uniform_frame_indices(lengths, k)
        return gather_frames(x, indices), (lengths > 0)[:, None].expand(-1, k)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        x, mask = self.sample(x, mask)  # [B, k, D]
        if self.input_bn is not None:
            x = self.input_bn(x, mask)
        codes = self.cluster(x)  # [B, k, M]
        if self.cluster_bn is not None:
            codes = self.cluster_bn(codes, mask)
        codes = self.activation(codes)
        pooled = masked_max(codes, mask) if self.config.pooling == "max" else masked_mean(codes, mask)
        hidden = self.hidden(pooled)
        if self.hidden_bn is not None:
            hidden = self.hidden_bn(hidden)
        return self.head(self.activation(hidden))
