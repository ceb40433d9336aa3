"""Attention pooling (seed 004, "learnable weighted average of frames").

h_t = ReLU(E x_t) (embedding_size > 0; 0: h_t = x_t), a_t = softmax over the valid frames of
wᵀ tanh(V h_t) (optionally gated), z = Σ_t a_t h_t, then a video-level classifier. The weights come back as "attention" [B, T] so later stages can
score segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .base import VideoModel
from .layers.heads import make_head
from .layers.pooling import AttentionPooling, frame_embedding
from .registry import register_model


@dataclass
class AttentionConfig:
    attention_size: int = 256  # width of the scoring network V
    # frames -> ReLU(E x) before pooling; 0 pools the frames themselves (the default, so checkpoints
    # saved before the option load unchanged; the shipped configs set it: it trains far better where
    # the evidence is localized, BENCHMARKS.md "Probe worlds")
    embedding_size: int = 0
    gated: bool = False  # gated attention: tanh(V x) ⊙ σ(U x)
    dropout: float = 0.0  # on the pooled vector
    classifier: str = "moe"  # moe | logistic
    num_mixtures: int = 2
    l2: float = 1e-8


@register_model("attention", config=AttentionConfig, frame_level=True)
class AttentionModel(VideoModel):
    """Attention-weighted average of frames into a video-level classifier."""

    def __init__(self, config: AttentionConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        self.frame_embedding = frame_embedding(self.feature_dim, config.embedding_size)
        self.embedding_dim = config.embedding_size or self.feature_dim  # what the pooling averages
        self.pool = AttentionPooling(self.embedding_dim, attention_size=config.attention_size, num_heads=1, gated=config.gated)
        self.dropout = nn.Dropout(config.dropout)
        self.head = make_head(config.classifier, self.embedding_dim, num_classes, num_mixtures=config.num_mixtures, l2=config.l2)

    reads_segments = True  # whole videos with segment ranges: the segment is classified, the video attended

    def forward(self, features: torch.Tensor, num_frames: torch.Tensor | None = None, segments: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """With `segments` [B, 2] (whole-video segment batches) the segment's frames are classified with the
        video's attention renormalized inside it, and "segment_attention_mass" [B] is the share of the whole
        video's attention inside the segment (what the timing loss, losses.py, raises for positive segments)."""
        if segments is None:
            return super().forward(features, num_frames)
        x, mask = self.prepare(features, num_frames)
        frames = torch.arange(x.shape[1], device=x.device)[None, :]
        segments = segments.to(x.device)
        inside = mask & (frames >= segments[:, :1]) & (frames < segments[:, 1:])
        h = self.frame_embedding(x)  # embedded once for both poolings
        weights = self.pool(h, mask)[1][:, 0]  # [B, T] over the whole video
        outputs = self._classify_embedded(h, inside)
        return {**outputs, "attention": weights, "segment_attention_mass": (weights * inside).sum(1)}

    def embed(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The attention-pooled frames [B, D] (what the classifier reads; context-aware segment models use it)."""
        return self.pool(self.frame_embedding(x), mask)[0][:, 0]

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._classify_embedded(self.frame_embedding(x), mask)

    def _classify_embedded(self, h: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled, weights = self.pool(h, mask)  # [B, 1, D], [B, 1, T]
        return {**self.head(self.dropout(pooled[:, 0])), "attention": weights[:, 0]}
