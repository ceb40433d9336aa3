"""What every model shares: raw features in, probabilities out.

Models take what the files hold: uint8 frames [B, T, D] with lengths [B], or float32 video-level
vectors [B, D]. Dequantization and L2 normalization happen here, inside the model, so an exported
model takes raw features and the loader never converts on the CPU.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..features.normalization import L2_EPSILON, l2_normalize
from ..io.quantization import dequantize


def frame_mask(num_frames: torch.Tensor, max_frames: int) -> torch.Tensor:
    """[B] lengths -> [B, T] bool mask of valid frames."""
    return torch.arange(max_frames, device=num_frames.device)[None, :] < num_frames[:, None]


class VideoModel(nn.Module):
    """Base class: `forward(features, num_frames)` -> dict with "predictions" [B, C] in (0, 1).

    Subclasses implement `classify(x, mask)` on float inputs: x is [B, T, D] with padded rows set
    to exactly 0 and mask [B, T] (frame-level), or [B, D] and mask None (video-level). They may add
    more outputs (e.g. "attention" [B, T], "aux_loss" scalar) to the returned dict.
    """

    registry_name: str = ""

    def __init__(self, config, *, num_classes: int, feature_sizes: tuple[int, ...], normalize_input: bool = True) -> None:
        super().__init__()
        self.config = config
        self.num_classes = num_classes
        self.feature_sizes = tuple(feature_sizes)
        self.feature_dim = int(sum(feature_sizes))
        self.normalize_input = normalize_input

    def prepare(self, features: torch.Tensor, num_frames: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Dequantize uint8, zero the padding, L2-normalize each frame (or the video vector)."""
        x = dequantize(features) if features.dtype == torch.uint8 else features.float()
        if x.shape[-1] != self.feature_dim:
            raise ValueError(f"model expects {self.feature_dim} feature dims {self.feature_sizes}, got {x.shape[-1]}")
        mask = None
        if x.dim() == 3:
            if num_frames is None:
                num_frames = torch.full((x.shape[0],), x.shape[1], device=x.device, dtype=torch.long)
            mask = frame_mask(num_frames.to(x.device), x.shape[1])
            x = x * mask[..., None]
        if self.normalize_input:
            x = l2_normalize(x)
        return x, mask

    def forward(self, features: torch.Tensor, num_frames: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        x, mask = self.prepare(features, num_frames)
        return self.classify(x, mask)

    def classify(self, x: torch.Tensor, mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def regularization_loss(self) -> torch.Tensor:
        """Σ l2 · ½‖W‖² over the weights the model regularizes (official slim convention)."""
        return sum((m.penalty() for m in self.modules() if isinstance(m, L2Linear)), torch.zeros(()))


class L2Linear(nn.Linear):
    """A linear layer whose weight carries an L2 penalty l2 · ½‖W‖² (Glorot-uniform init, zero bias)."""

    def __init__(self, in_features: int, out_features: int, *, l2: float = 1e-8, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.l2 = l2
        nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def penalty(self) -> torch.Tensor:
        return 0.5 * self.l2 * (self.weight * self.weight).sum()


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid frames: [B, T, D], [B, T] -> [B, D] (padding never counts)."""
    weights = mask.to(x.dtype)
    return (x * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp(min=1.0)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over valid frames: [B, T, D], [B, T] -> [B, D]; a video without frames gives 0 (as its mean)."""
    pooled = x.masked_fill(~mask[..., None], float("-inf")).amax(1)
    return torch.where(mask.any(1, keepdim=True), pooled, torch.zeros_like(pooled))


__all__ = ["VideoModel", "L2Linear", "L2_EPSILON", "frame_mask", "l2_normalize", "masked_mean", "masked_max", "F"]
