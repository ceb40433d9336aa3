"""PCA + whitening of backbone features, in the layout of the official `yt8m_pca.tgz`.

transform(x) = ((x − mean) · Vᵀ) / sqrt(eigenvalues + 1e-4), V = the top eigenvectors as rows
(seed 001 §3.3; the official extractor's `apply_pca`). Saved per stream as `mean.npy` [F, 1],
`eigenvals.npy` [K, 1], `eigenvecs.npy` [K, F] under `DIR/rgb/` and `DIR/audio/` (the synthetic
generator's layout). The official files (`mean.npy`, `eigenvals.npy`, `eigenvecs.npy` directly in DIR,
2048 Inception dims, more eigenvalues than kept) load as the rgb stream; only the first K rows are used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..features.whitening import DEFAULT_EPSILON, PCAWhitening

FILES = ("mean", "eigenvals", "eigenvecs")


@dataclass
class FeaturePCA:
    mean: np.ndarray  # [F]
    eigenvalues: np.ndarray  # [K]
    eigenvectors: np.ndarray  # [K, F], rows
    epsilon: float = DEFAULT_EPSILON

    def __post_init__(self) -> None:
        self._matrix = (self.eigenvectors.T / np.sqrt(self.eigenvalues + self.epsilon)).astype(np.float32)
        self._mean = self.mean.astype(np.float32)

    @property
    def input_size(self) -> int:
        return len(self.mean)

    @property
    def output_size(self) -> int:
        return len(self.eigenvalues)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """[N, F] -> float32 [N, K] whitened (not clipped: the quantizer clips to [-2, 2])."""
        if x.shape[-1] != self.input_size:
            raise ValueError(f"PCA expects {self.input_size} features per frame, the backbone gives {x.shape[-1]}")
        return (x.astype(np.float32) - self._mean) @ self._matrix

    @classmethod
    def from_estimator(cls, estimator: PCAWhitening) -> "FeaturePCA":
        return cls(estimator.mean_, estimator.explained_variance_, estimator.components_, estimator.epsilon)

    def save(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, array in zip(FILES, (self.mean[:, None], self.eigenvalues[:, None], self.eigenvectors)):
            tmp = directory / f".{name}.npy.tmp-{os.getpid()}"
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(array, dtype=np.float64))
            os.replace(tmp, directory / f"{name}.npy")

    @classmethod
    def load(cls, directory: str | os.PathLike, components: int) -> "FeaturePCA":
        directory = Path(directory)
        arrays = {}
        for name in FILES:
            path = directory / f"{name}.npy"
            if not path.exists():
                raise FileNotFoundError(f"PCA file {path} is missing (expected {', '.join(f + '.npy' for f in FILES)})")
            arrays[name] = np.load(path)
        mean, values, vectors = arrays["mean"].reshape(-1), arrays["eigenvals"][:, 0] if arrays["eigenvals"].ndim == 2 else arrays["eigenvals"], arrays["eigenvecs"]
        if vectors.shape[1] != len(mean) or len(values) < components or len(vectors) < components:
            raise ValueError(f"PCA in {directory}: mean {mean.shape}, eigenvals {values.shape}, eigenvecs {vectors.shape} "
                             f"do not give {components} components of {len(mean)} features")
        return cls(mean.astype(np.float64), values[:components].astype(np.float64), vectors[:components].astype(np.float64))


def load_pca(directory: str | os.PathLike, *, rgb_size: int = 1024, audio_size: int = 128) -> dict[str, FeaturePCA]:
    """{"rgb": ..., "audio": ...} from DIR/rgb and DIR/audio, or {"rgb": ...} from official files in DIR."""
    directory = Path(directory)
    if (directory / "rgb").is_dir():
        out = {"rgb": FeaturePCA.load(directory / "rgb", rgb_size)}
        if (directory / "audio").is_dir():
            out["audio"] = FeaturePCA.load(directory / "audio", audio_size)
        return out
    return {"rgb": FeaturePCA.load(directory, rgb_size)}


def fit_streaming(batches, components: int) -> FeaturePCA:
    """Fit on an iterable of [n_i, F] arrays (streamed: float64 mean and scatter, one eigendecomposition)."""
    estimator = PCAWhitening(components, epsilon=DEFAULT_EPSILON, l2_normalize=False)
    return FeaturePCA.from_estimator(estimator.fit(batches))
