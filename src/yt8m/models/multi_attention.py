"""Multi-attention pooling (seed 004): several attention heads, one classifier per head.

Each head pools the frames with its own weights; each pooled feature is classified separately
and the per-head predictions are pooled (mean or max) into the final prediction. Attention
weights come back as "attention" [B, heads, T]. The default of 2 heads with MoE classifiers
matches the slides' ~150 MB model (2 × MoE(2) over 1152 dims, 3862 classes ≈ 178 MB in float32;
with logistic classifiers ≈ 36 MB against their ~30 MB).
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
class MultiAttentionConfig:
    num_heads: int = 2
    attention_size: int = 256
    embedding_size: int = 0  # frames -> ReLU(E x) before pooling (attention.py); 0: the frames themselves
    gated: bool = False
    prediction_pooling: str = "mean"  # mean | max over the heads' predictions
    dropout: float = 0.0
    classifier: str = "moe"  # moe | logistic
    num_mixtures: int = 2
    l2: float = 1e-8


@register_model("multi_attention", config=MultiAttentionConfig, frame_level=True)
class MultiAttentionModel(VideoModel):
    """Several attention heads, each classified separately, predictions pooled by mean or max."""

    def __init__(self, config: MultiAttentionConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        if config.prediction_pooling not in ("mean", "max"):
            raise ValueError(f"multi_attention: prediction_pooling must be 'mean' or 'max', got {config.prediction_pooling!r}")
        self.frame_embedding = frame_embedding(self.feature_dim, config.embedding_size)
        width = config.embedding_size or self.feature_dim  # what each head averages
        self.embedding_dim = width * config.num_heads
        self.pool = AttentionPooling(width, attention_size=config.attention_size, num_heads=config.num_heads, gated=config.gated)
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.ModuleList(
            make_head(config.classifier, width, num_classes, num_mixtures=config.num_mixtures, l2=config.l2)
            for _ in range(config.num_heads)
        )

    def embed(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Every head's pooled frames side by side [B, H·D] (context-aware segment models read it)."""
        return self.pool(self.frame_embedding(x), mask)[0].flatten(1)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled, weights = self.pool(self.frame_embedding(x), mask)  # [B, H, D], [B, H, T]
        pooled = self.dropout(pooled)
        per_head = torch.stack([head(pooled[:, h])["predictions"] for h, head in enumerate(self.heads)], dim=1)  # [B, H, C]
        predictions = per_head.mean(1) if self.config.prediction_pooling == "mean" else per_head.amax(1)
        return {"predictions": predictions, "attention": weights}
