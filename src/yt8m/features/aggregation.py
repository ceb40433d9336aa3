"""Video-level features from frame-level features: [mean; std; Top_K] per dimension.

YouTube-8M paper §4.2.1, eq. 2: φ(x_1:F) = [μ; σ; Top_K], where Top_K(x(j)) holds the K highest
values of dimension j over the video's frames. Layout of the output vector (D = frame dims):

    [ μ_1 … μ_D | σ_1 … σ_D | top_1(1) … top_K(1) | top_1(2) … top_K(2) | … | top_K(D) ]

i.e. Top_K is dimension-major, "the ordinal statistics concatenated for each dimension" as in the
paper (the PCA that follows makes the order irrelevant for learning).

Choices the paper leaves open, made here:
- Statistics are computed over the valid frames only (padding never counts); σ is the population
  standard deviation (divide by the frame count), so a one-frame video has σ = 0.
- A video with n < K frames repeats its smallest value: top_p = top_n for p > n, so Top_K stays a
  non-increasing list of values that really occur. A video with no frames gets all zeros.
- Statistics are taken on the dequantized features as stored (the PCA-whitened space). The paper
  inverts the PCA to compute σ and Top_K in the original ReLU space; the dataset ships no PCA
  matrix for that, so we stay in the given space.

Two implementations with the same numbers: NumPy (`aggregate_frames`) for offline conversion and
tests, torch (`aggregate_frames_torch`, `FrameAggregation`) batched and masked so a model can take
raw uint8 frames on the GPU.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..io.quantization import BIAS, SCALE, dequantize

STATISTICS = ("mean", "mean_std", "mean_std_topk")


def check_statistics(statistics: str, top_k: int) -> None:
    if statistics not in STATISTICS:
        raise ValueError(f"unknown aggregate {statistics!r}: use one of {', '.join(STATISTICS)}")
    if statistics == "mean_std_topk" and top_k < 1:
        raise ValueError(f"top_k must be >= 1 for 'mean_std_topk', got {top_k}")


def aggregated_dim(feature_dim: int, statistics: str = "mean_std_topk", top_k: int = 5) -> int:
    """Length of the video vector for frames with `feature_dim` dimensions."""
    check_statistics(statistics, top_k)
    blocks = {"mean": 1, "mean_std": 2, "mean_std_topk": 2 + top_k}[statistics]
    return blocks * feature_dim


def _check_frames(frames_shape: tuple[int, ...], num_frames_shape: tuple[int, ...]) -> None:
    if len(frames_shape) != 3:
        raise ValueError(f"frames must be [batch, frames, dims], got shape {tuple(frames_shape)}")
    if tuple(num_frames_shape) != (frames_shape[0],):
        raise ValueError(f"num_frames must be [batch] = [{frames_shape[0]}], got shape {tuple(num_frames_shape)}")


def aggregate_frames(
    frames: np.ndarray, num_frames: np.ndarray | None = None, *, statistics: str = "mean_std_topk", top_k: int = 5
) -> np.ndarray:
    """[B, T, D] frames (uint8 codes or dequantized floats) + [B] lengths -> float32 [B, F]."""
    check_statistics(statistics, top_k)
    frames = np.asarray(frames)
    batch, max_frames, _ = frames.shape if frames.ndim == 3 else (0, 0, 0)
    num_frames = np.full(batch, max_frames) if num_frames is None else np.asarray(num_frames)
    _check_frames(frames.shape, num_frames.shape)
    x = dequantize(frames) if frames.dtype == np.uint8 else frames
    x = x.astype(np.float64)
    counts = np.clip(num_frames, 0, max_frames).astype(np.int64)
    mask = np.arange(max_frames)[None, :] < counts[:, None]  # [B, T]
    x = np.where(mask[..., None], x, 0.0)
    denominator = np.maximum(counts, 1)[:, None].astype(np.float64)
    mean = x.sum(1) / denominator  # [B, D]
    parts = [mean]
    if statistics in ("mean_std", "mean_std_topk"):
        deviation = np.where(mask[..., None], x - mean[:, None, :], 0.0)
        parts.append(np.sqrt((deviation * deviation).sum(1) / denominator))
    if statistics == "mean_std_topk":
        parts.append(_top_k_numpy(x, mask, counts, top_k))
    return np.concatenate(parts, axis=1).astype(np.float32)


def _top_k_numpy(x: np.ndarray, mask: np.ndarray, counts: np.ndarray, top_k: int) -> np.ndarray:
    batch, max_frames, dims = x.shape
    values = np.where(mask[..., None], x, -np.inf)
    kept = min(top_k, max_frames)
    if kept == 0:
        return np.zeros((batch, dims * top_k))
    highest = -np.sort(-np.partition(values, max_frames - kept, axis=1)[:, max_frames - kept :], axis=1)  # [B, kept, D]
    ranks = np.minimum(np.arange(top_k)[None, :], np.maximum(counts - 1, 0)[:, None])  # [B, K]: repeat the smallest
    top = np.take_along_axis(highest, ranks[..., None], axis=1)  # [B, K, D]
    top = np.where((counts > 0)[:, None, None], top, 0.0)
    return top.transpose(0, 2, 1).reshape(batch, dims * top_k)  # dimension-major


def aggregate_frames_torch(
    frames: torch.Tensor, num_frames: torch.Tensor | None = None, *, statistics: str = "mean_std_topk", top_k: int = 5
) -> torch.Tensor:
    """Torch twin of `aggregate_frames`: [B, T, D] + [B] -> float32 [B, F], on the input's device.

    uint8 codes are not dequantized frame by frame: dequantization is affine and increasing, so the
    statistics are taken on the codes (Top_K directly on uint8) and only the [B, F] result is mapped.
    """
    check_statistics(statistics, top_k)
    batch, max_frames, _ = frames.shape if frames.dim() == 3 else (0, 0, 0)
    if num_frames is None:
        num_frames = torch.full((batch,), max_frames, device=frames.device)
    _check_frames(tuple(frames.shape), tuple(num_frames.shape))
    quantized = frames.dtype == torch.uint8
    counts = num_frames.to(frames.device).long().clamp(0, max_frames)
    mask = torch.arange(max_frames, device=frames.device)[None, :] < counts[:, None]  # [B, T]
    x = frames.float().masked_fill(~mask[..., None], 0.0)  # padding never counts, whatever it holds
    denominator = counts.clamp(min=1)[:, None].to(x.dtype)
    mean = x.sum(1) / denominator  # [B, D]
    scale, bias = (SCALE, BIAS) if quantized else (1.0, 0.0)
    present = (counts > 0)[:, None]  # empty videos stay all zeros
    parts = [torch.where(present, mean * scale + bias, 0.0)]
    if statistics in ("mean_std", "mean_std_topk"):
        deviation = (x - mean[:, None, :]).masked_fill(~mask[..., None], 0.0)
        parts.append(((deviation * deviation).sum(1) / denominator).sqrt() * scale)
    if statistics == "mean_std_topk":
        top = _top_k_torch(frames if quantized else x, mask, counts, top_k)  # [B, D·K], codes or features
        parts.append(torch.where(present, top.float() * scale + bias, 0.0))
    return torch.cat(parts, dim=1)


def _top_k_torch(x: torch.Tensor, mask: torch.Tensor, counts: torch.Tensor, top_k: int) -> torch.Tensor:
    """Top_K over valid frames, in x's dtype. uint8 padding is set to 0, the lowest code: it can only
    tie with a valid 0 (same value) or fill ranks ≥ n, which take rank n − 1 instead."""
    batch, max_frames, dims = x.shape
    kept = min(top_k, max_frames)
    if kept == 0:
        return x.new_zeros(batch, dims * top_k)
    lowest = 0 if x.dtype == torch.uint8 else float("-inf")
    highest = x.masked_fill(~mask[..., None], lowest).topk(kept, dim=1).values  # [B, kept, D], descending
    ranks = torch.minimum(
        torch.arange(top_k, device=x.device)[None, :], (counts - 1).clamp(min=0)[:, None]
    )  # [B, K]: repeat the smallest
    top = highest.gather(1, ranks[..., None].expand(batch, top_k, dims))  # [B, K, D]
    return top.transpose(1, 2).reshape(batch, dims * top_k)  # dimension-major


class FrameAggregation(nn.Module):
    """Module form of `aggregate_frames_torch` (no parameters), so a model can hold it."""

    def __init__(self, statistics: str = "mean_std_topk", top_k: int = 5) -> None:
        super().__init__()
        check_statistics(statistics, top_k)
        self.statistics, self.top_k = statistics, top_k

    def output_dim(self, feature_dim: int) -> int:
        return aggregated_dim(feature_dim, self.statistics, self.top_k)

    def forward(self, frames: torch.Tensor, num_frames: torch.Tensor | None = None) -> torch.Tensor:
        return aggregate_frames_torch(frames, num_frames, statistics=self.statistics, top_k=self.top_k)

    def extra_repr(self) -> str:
        return f"statistics={self.statistics!r}, top_k={self.top_k}"


__all__ = [
    "STATISTICS",
    "FrameAggregation",
    "aggregate_frames",
    "aggregate_frames_torch",
    "aggregated_dim",
]
