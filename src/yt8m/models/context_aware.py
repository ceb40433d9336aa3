"""Context-aware segment classifier (Lee 2019, 7th place of the 2019 task; seed 004's two phases).

A segment is read twice: the whole video by a frozen copy of the phase-1 encoder (its embedding says
what the video is about), the segment's own frames (context included) by a copy that is fine-tuned.
The two embeddings, side by side, go through context gating and a mixture of experts:

    e_v = video.embed(all frames)            [B, E]   (train.freeze: video.*)
    e_s = segment.embed(frames lo..hi-1)     [B, E]
    p   = MoE(ContextGating([e_v; e_s]))     [B, C]

The encoders are the phase-1 model (attention or multi_attention, which expose `embed`); `init_from` a
phase-1 run fills both from the same weights (`init_source_key`), the head starts fresh. It reads
whole-video segment batches (data.segment_whole_video): features [B, T, D], lengths, and each
example's segment range `segments` [B, 2]; without ranges the whole video is the segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .base import VideoModel
from .layers.gating import ContextGating
from .layers.heads import make_head
from .registry import create_model, register_model


@dataclass
class ContextAwareConfig:
    encoder: dict[str, Any] = field(default_factory=lambda: {"name": "attention"})  # the phase-1 model: name + options
    num_mixtures: int = 2
    gating_batch_norm: bool = False
    l2: float = 1e-8


@register_model("context_aware", config=ContextAwareConfig, frame_level=True)
class ContextAwareModel(VideoModel):
    """Frozen whole-video embedding + fine-tuned segment embedding -> context gating -> MoE."""

    reads_segments = True
    needs_whole_video = True  # segment examples must carry their videos (data.segment_whole_video)

    def __init__(self, config: ContextAwareConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        options = {k: v for k, v in config.encoder.items() if k != "name"}
        name = config.encoder.get("name", "attention")
        self.video = create_model(name, num_classes=num_classes, feature_sizes=feature_sizes, **options)
        self.segment = create_model(name, num_classes=num_classes, feature_sizes=feature_sizes, **options)
        if not hasattr(self.video, "embed"):
            raise ValueError(f"context_aware: encoder {name!r} has no embedding to read; use attention or multi_attention")
        for encoder in (self.video, self.segment):  # only the embeddings are read: drop the phase-1 classifiers
            for head in ("head", "heads"):
                if hasattr(encoder, head):
                    delattr(encoder, head)
        width = 2 * self.video.embedding_dim
        self.gate = ContextGating(width, batch_norm=config.gating_batch_norm)
        self.head = make_head("moe", width, num_classes, num_mixtures=config.num_mixtures, l2=config.l2)

    @staticmethod
    def init_source_key(name: str) -> str | None:
        """The phase-1 checkpoint's name for one of this model's parameters (None: start fresh)."""
        prefix, _, rest = name.partition(".")
        return rest if prefix in ("video", "segment") else None

    def forward(self, features: torch.Tensor, num_frames: torch.Tensor | None = None, segments: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        x, mask = self.prepare(features, num_frames)  # [B, T, D], [B, T]
        inside = mask  # no ranges (whole-video data): the video is its own segment
        if segments is not None:
            segments = segments.to(x.device)
            frames = torch.arange(x.shape[1], device=x.device)[None, :]
            inside = mask & (frames >= segments[:, :1]) & (frames < segments[:, 1:])  # [B, T]
        video = self.video.embed(x, mask)
        segment = self.segment.embed(x, inside)
        return self.head(self.gate(torch.cat([video, segment], dim=1)))

