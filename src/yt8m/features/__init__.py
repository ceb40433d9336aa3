"""Video-level features from frame-level data: [mean; std; Top_K] aggregation, PCA whitening, L2.

NumPy estimators for offline work (`aggregate_frames`, `PCAWhitening`) and torch modules with the
same numbers (`FrameAggregation`, `Whitening`, `VideoFeatureTransform`) that live inside a model.
"""

from .aggregation import STATISTICS, FrameAggregation, aggregate_frames, aggregate_frames_torch, aggregated_dim
from .pipeline import VideoFeatureConfig, VideoFeatureTransform
from .whitening import PCAWhitening, Whitening

__all__ = [
    "STATISTICS",
    "FrameAggregation",
    "PCAWhitening",
    "VideoFeatureConfig",
    "VideoFeatureTransform",
    "Whitening",
    "aggregate_frames",
    "aggregate_frames_torch",
    "aggregated_dim",
]
