"""Raw features -> one normalized vector per video: aggregate, whiten, L2 (YouTube-8M paper §4.2).

`VideoFeatureTransform` is the torch module a video-level model holds when it is fed frames (or
when its video vectors should be whitened). Its shapes follow from the config alone, so a model is
rebuilt from its config and then takes its fitted numbers from a state dict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn as nn

from ..io.quantization import dequantize
from .normalization import l2_normalize
from .aggregation import FrameAggregation, aggregated_dim, check_statistics
from .whitening import DEFAULT_EPSILON, PCAWhitening, Whitening

Batch = tuple[torch.Tensor, "torch.Tensor | None"]


@dataclass
class VideoFeatureConfig:
    aggregate: str = "mean_std_topk"  # "none" (input is already [B, D] per video), "mean", "mean_std", "mean_std_topk"
    top_k: int = 5  # K ordinal statistics per dimension (paper: 5)
    whiten: bool = True  # mean removal + PCA whitening fitted on training videos (paper §4.2.2)
    n_components: int | None = None  # keep the K largest components; None keeps all (the paper only decorrelates)
    epsilon: float = DEFAULT_EPSILON  # whitening divides by sqrt(eigenvalue + epsilon)
    l2: bool = True  # L2-normalize the final vector (paper §4.2.2)
    fit_max_videos: int | None = None  # fit the whitening on at most this many training videos (None: all)

    def __post_init__(self) -> None:
        if self.aggregate != "none":
            check_statistics(self.aggregate, self.top_k)

    @classmethod
    def from_options(cls, options: "VideoFeatureConfig | dict") -> "VideoFeatureConfig":
        """Accept a config or the dict a YAML file / checkpoint holds; unknown keys are an error."""
        if isinstance(options, cls):
            return options
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ValueError(f"features has no option(s) {', '.join(map(repr, unknown))}; valid options: {', '.join(sorted(names))}")
        return cls(**options)


class VideoFeatureTransform(nn.Module):
    """uint8 frames [B, T, D] + lengths [B] (or video vectors [B, D] with aggregate="none") -> [B, output_dim]."""

    def __init__(self, config: VideoFeatureConfig, feature_sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.config = config
        self.feature_dim = int(sum(feature_sizes))
        self.aggregation = None if config.aggregate == "none" else FrameAggregation(config.aggregate, config.top_k)
        aggregated = self.feature_dim if self.aggregation is None else aggregated_dim(self.feature_dim, config.aggregate, config.top_k)
        self.whitening = Whitening(aggregated, config.n_components, l2_normalize=config.l2) if config.whiten else None
        self.output_dim = aggregated if self.whitening is None else self.whitening.num_components

    @property
    def expects_frames(self) -> bool:
        return self.aggregation is not None

    @property
    def requires_fitting(self) -> bool:
        return self.whitening is not None and not self.whitening.is_fitted

    def aggregate(self, features: torch.Tensor, num_frames: torch.Tensor | None = None) -> torch.Tensor:
        """The unnormalized video vector: φ(frames) (eq. 2), or the dequantized input for aggregate="none"."""
        expected_rank = 3 if self.expects_frames else 2
        if features.dim() != expected_rank:
            layout = "frames [batch, frames, dims]" if self.expects_frames else "video vectors [batch, dims]"
            raise ValueError(f"feature transform (aggregate={self.config.aggregate!r}) expects {layout}, got shape {tuple(features.shape)}")
        if features.shape[-1] != self.feature_dim:
            raise ValueError(f"feature transform expects {self.feature_dim} feature dims, got {features.shape[-1]}")
        if self.aggregation is None:
            return dequantize(features) if features.dtype == torch.uint8 else features.float()
        return self.aggregation(features, num_frames)

    def forward(self, features: torch.Tensor, num_frames: torch.Tensor | None = None) -> torch.Tensor:
        x = self.aggregate(features, num_frames)
        if self.whitening is not None:
            return self.whitening(x)  # applies the L2 step itself when config.l2
        return l2_normalize(x) if self.config.l2 else x

    @torch.no_grad()
    def fit(self, batches: Iterable[Batch]) -> "VideoFeatureTransform":
        """Fit the whitening on training batches of (features, num_frames); streams, float64 statistics."""
        if self.whitening is None:
            return self
        estimator = PCAWhitening(self.config.n_components, epsilon=self.config.epsilon, l2_normalize=self.config.l2)
        self.whitening.load_estimator(estimator.fit(self._aggregated(batches)))
        return self

    def _aggregated(self, batches: Iterable[Batch]) -> Iterator[np.ndarray]:
        device = self.whitening.mean.device
        remaining = self.config.fit_max_videos
        for features, num_frames in batches:
            if remaining is not None and remaining <= 0:
                return
            if remaining is not None:
                features = features[:remaining]
                num_frames = None if num_frames is None else num_frames[:remaining]
                remaining -= features.shape[0]
            yield self.aggregate(features.to(device), None if num_frames is None else num_frames.to(device)).double().cpu().numpy()


__all__ = ["VideoFeatureConfig", "VideoFeatureTransform"]
