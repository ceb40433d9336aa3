"""Pooling over a video's valid frames: masked softmax, linear time weights, attention pooling.

(Masked mean and max live in `models.base`.)
"""

from __future__ import annotations

import torch
import torch.nn as nn


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over `dim` restricted to mask; exactly 0 on masked entries (all-masked rows give 0)."""
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=dim) * mask.to(scores.dtype)


def linear_time_weights(mask: torch.Tensor) -> torch.Tensor:
    """[B, T] -> weights w_t = t / N_v for valid frames t = 1..N_v (0 on padding).

    Seed 002 eq. 2 (w_i = i / max_frames) and the YouTube-8M paper's "linearly increasing
    per-frame weights from 1/N to 1": with variable lengths the denominator is the video's own
    length, so the last frame always weighs 1 whatever the padding.
    """
    m = mask.to(torch.float32)
    position = m.cumsum(1) * m  # 1..N_v on valid frames
    return position / m.sum(1, keepdim=True).clamp(min=1.0)


def linear_weighted_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ_t w_t x_t / Σ_t w_t with linear time weights: [B, T, D] -> [B, D].

    Seed 002 feeds the unnormalized sum to the classifier; its videos all had max_frames = 90
    frames, so the sum was the mean times a constant. Dividing by Σ w keeps that constant the same
    for every video length.
    """
    w = linear_time_weights(mask).to(x.dtype)
    return (x * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp(min=torch.finfo(x.dtype).tiny)


def frame_embedding(in_features: int, size: int) -> nn.Module:
    """Each frame through Linear(in_features, size) + ReLU before attention pooling; size 0: the frames
    themselves. Embedding-based MIL (seed 004's framework: frames -> embedding -> pooling -> classifier):
    a raw-frame average carries little where the evidence sits in a few frames, so a classifier on it
    cannot teach the attention where to look; sparse ReLU features can (BENCHMARKS.md, probe worlds)."""
    if size <= 0:
        return nn.Identity()
    return nn.Sequential(nn.Linear(in_features, size), nn.ReLU())


class AttentionPooling(nn.Module):
    """Learnable weighted average of frames, one weight set per head (attention MIL pooling).

    score_h(x_t) = w_hᵀ tanh(V_h x_t)  (gated: w_hᵀ (tanh(V_h x_t) ⊙ σ(U_h x_t)));
    a_h = softmax over the valid frames; z_h = Σ_t a_{h,t} x_t.
    Returns pooled [B, H, D] and the weights [B, H, T] (0 on padding, summing to 1 per head).
    """

    def __init__(self, in_features: int, *, attention_size: int = 256, num_heads: int = 1, gated: bool = False) -> None:
        super().__init__()
        self.num_heads, self.attention_size = num_heads, attention_size
        self.project = nn.Linear(in_features, num_heads * attention_size)
        self.gate = nn.Linear(in_features, num_heads * attention_size) if gated else None
        self.score = nn.Parameter(torch.empty(num_heads, attention_size))
        nn.init.normal_(self.score, std=attention_size**-0.5)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, frames, _ = x.shape
        hidden = torch.tanh(self.project(x))  # [B, T, H·A]
        if self.gate is not None:
            hidden = hidden * torch.sigmoid(self.gate(x))
        scores = torch.einsum("btha,ha->bht", hidden.view(batch, frames, self.num_heads, self.attention_size), self.score)
        weights = masked_softmax(scores, mask[:, None, :])  # [B, H, T]
        return torch.einsum("bht,btd->bhd", weights, x), weights
