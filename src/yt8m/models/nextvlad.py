"""NeXtVLAD (Lin et al. 2018, 3rd place YouTube-8M 2018): grouped NetVLAD with expansion.

Per stream (video: K clusters, G groups; audio: K/2 clusters, G/2 groups): expand the frame to
λD, split into G groups with sigmoid attention each, soft-assign every group to K clusters,
aggregate residuals to shared centres, intra-normalize, batch-norm. Then dropout → FC hidden
(+BN) → SE-style context gating (reduction r) → classifier. Defaults are the paper's single
model: K=128, λ=2, G=8, hidden 2048, r=8, dropout 0.5, logistic head with L2 1e-5.

Input (`input_scaling`): "l2" (ours, like every yt8m model) L2-normalizes each dequantized frame.
"pca_eigenvalues" (the published code) does not normalize; it multiplies the first stream's
(rgb) dimension d by sqrt(λ_d) + 1e-4, λ read from `eigenvalues_file` (an eigenvals.npy in the
official yt8m_pca layout [D, 1]; the synthetic generator writes pca/rgb/eigenvals.npy). The
released frames are PCA-whitened, (x − μ)V / sqrt(λ + 1e-4); the rescale approximately undoes the
whitening, so large-variance directions weigh more. Later streams (audio) stay as dequantized.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .base import VideoModel
from .layers.learnable_pooling import PooledGatedNetwork
from .layers.normalization import SLIM_MOMENTUM
from .layers.vlad import NeXtVLADCore
from .registry import register_model


@dataclass
class NextVladConfig:
    cluster_size: int = 128  # K for the video stream; later streams (audio) use K / 2
    expansion: int = 2  # λ
    groups: int = 8  # G for the video stream; later streams use G / 2
    hidden_size: int = 2048
    gating_reduction: int = 8  # r of the SE gating
    dropout: float = 0.5  # on the concatenated NeXtVLAD vectors
    classifier: str = "logistic"  # logistic (paper) | moe
    num_mixtures: int = 2
    l2: float = 1e-5
    bn_momentum: float = SLIM_MOMENTUM
    input_scaling: str = "l2"  # l2 | pca_eigenvalues (the published code; needs eigenvalues_file)
    eigenvalues_file: str = ""  # eigenvals.npy [D, 1] of the first stream, for input_scaling: pca_eigenvalues


INPUT_SCALINGS = ("l2", "pca_eigenvalues")


def eigenvalue_scale(path: str, size: int) -> torch.Tensor:
    """sqrt(λ_d) + 1e-4 for the first `size` eigenvalues of an official-layout eigenvals.npy."""
    if not path or not Path(path).is_file():
        raise ValueError(f"nextvlad: input_scaling pca_eigenvalues needs eigenvalues_file, an eigenvals.npy; got {path!r}")
    values = np.load(path).reshape(-1)
    if values.size < size:
        raise ValueError(f"nextvlad: {path} holds {values.size} eigenvalues, the first stream has {size} dims")
    return torch.as_tensor(np.sqrt(np.maximum(values[:size], 0.0)) + 1e-4, dtype=torch.float32)


@register_model("nextvlad", config=NextVladConfig, frame_level=True)
class NextVladModel(VideoModel):
    """NeXtVLAD per stream, dropout, FC with batch norm, SE context gating, classifier."""

    def __init__(self, config: NextVladConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        if config.input_scaling not in INPUT_SCALINGS:
            raise ValueError(f"nextvlad: unknown input_scaling {config.input_scaling!r}: use {' or '.join(INPUT_SCALINGS)}")
        rescale = config.input_scaling == "pca_eigenvalues"
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes, normalize_input=not rescale)
        if rescale:
            first = eigenvalue_scale(config.eigenvalues_file, self.feature_sizes[0])
            scale = torch.cat([first, torch.ones(self.feature_dim - self.feature_sizes[0])])
            self.register_buffer("input_scale", scale)  # saved with the weights
        else:
            self.input_scale = None
        cores = [
            NeXtVLADCore(
                size,
                config.cluster_size if i == 0 else max(1, config.cluster_size // 2),
                expansion=config.expansion,
                groups=config.groups if i == 0 else max(1, config.groups // 2),
                bn_momentum=config.bn_momentum,
            )
            for i, size in enumerate(self.feature_sizes)
        ]
        self.network = PooledGatedNetwork(
            cores, self.feature_sizes, num_classes,
            hidden_size=config.hidden_size, input_bn=False, hidden_bn=True, hidden_relu=False, gating="se",
            gating_reduction=config.gating_reduction, classifier=config.classifier, num_mixtures=config.num_mixtures,
            l2=config.l2, gate_predictions=False, dropout=config.dropout, bn_momentum=config.bn_momentum,
        )

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.input_scale is not None:
            x = x * self.input_scale
        return self.network(x, mask)
