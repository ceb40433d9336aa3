"""In-model frame sampling (DBoF's k frames per video), on index tensors.

The loader already samples frames for every model; these exist for DBoF, which by design sees a
fresh random subset of k frames at every training step (official SampleRandomFrames /
SampleRandomSequence). Randomness comes from an explicit torch.Generator; the evaluation choice
(`uniform_frame_indices`) is deterministic and depends only on each video's length, so padding
never changes it.
"""

from __future__ import annotations

import torch


def random_frame_indices(lengths: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """[B] lengths -> [B, k] indices floor(U·length), i.i.d. with replacement, in temporal order."""
    u = torch.rand(lengths.shape[0], k, generator=generator).to(lengths.device)
    return (u * lengths[:, None]).long().clamp(min=0).sort(dim=1).values


def random_window_indices(lengths: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random contiguous window of k frames; short videos repeat their last frame."""
    u = torch.rand(lengths.shape[0], 1, generator=generator).to(lengths.device)
    start = (u * ((lengths[:, None] - k).clamp(min=0) + 1)).long()
    offsets = torch.arange(k, device=lengths.device)[None, :]
    return torch.minimum(start + offsets, (lengths[:, None] - 1).clamp(min=0))


def uniform_frame_indices(lengths: torch.Tensor, k: int) -> torch.Tensor:
    """k evenly spaced frames, the centres of k equal slices of each video (deterministic)."""
    centres = (torch.arange(k, device=lengths.device, dtype=torch.float64) + 0.5) / k
    return (centres[None, :] * lengths[:, None].double()).long()


def gather_frames(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """[B, T, D] frames, [B, k] indices -> [B, k, D]."""
    return torch.gather(x, 1, indices[..., None].expand(-1, -1, x.shape[-1]))
