"""Global feature normalization fitted on training data: mean removal, PCA whitening, L2.

YouTube-8M paper §4.2.2: subtract the mean of the video features, use PCA to decorrelate and
whiten them (≈ zero mean, identity covariance), then L2-normalize each vector. Whitening divides
by sqrt(λ + ε) like the official feature extractor (ε = 1e-4), which keeps directions with ~zero
variance (constant dimensions, quantization plateaus) from being blown up.

`PCAWhitening` is the scikit-learn-style estimator: `fit` takes one array or an iterable of
batches and accumulates the mean and the scatter matrix in float64 with Chan's pairwise update
(exact merge of per-batch statistics, no catastrophic cancellation), then does one symmetric
eigendecomposition. `Whitening` is the torch module with the same numbers held in buffers, so a
fitted transform lives inside a model and travels in its state dict.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn as nn

from .normalization import L2_EPSILON, l2_normalize

DEFAULT_EPSILON = 1e-4  # official extractor: (x − mean)·V / sqrt(eigenvalues + 1e-4)


class PCAWhitening:
    """(x − mean_) · components_ᵀ / sqrt(explained_variance_ + epsilon), then optionally L2-normalize.

    Learned attributes: n_features_in_, n_samples_seen_, mean_ [F], covariance_ [F, F] (population,
    divide by n), components_ [K, F] (rows = eigenvectors, largest variance first, sign fixed so the
    largest-magnitude entry is positive), explained_variance_ [K].
    """

    def __init__(self, n_components: int | None = None, *, epsilon: float = DEFAULT_EPSILON, l2_normalize: bool = True) -> None:
        self.n_components = n_components
        self.epsilon = epsilon
        self.l2_normalize = l2_normalize

    def fit(self, X: np.ndarray | Iterable[np.ndarray]) -> "PCAWhitening":
        """Fit on an array [N, F] or on an iterable of [n_i, F] batches (streamed, never all in memory)."""
        self._reset()
        for batch in [X] if isinstance(X, np.ndarray) else X:
            self._accumulate(batch)
        self._decompose()
        return self

    def partial_fit(self, X: np.ndarray) -> "PCAWhitening":
        """Add one batch to the statistics and refit the decomposition (costs one eigendecomposition)."""
        if not hasattr(self, "n_samples_seen_"):
            self._reset()
        self._accumulate(X)
        self._decompose()
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """[N, F] -> float64 [N, K]."""
        if not hasattr(self, "components_"):
            raise RuntimeError("PCAWhitening is not fitted: call fit() first")
        X = self._validate(X, self.n_features_in_)
        return self._finish((X - self.mean_) @ self.whitening_matrix())

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def whitening_matrix(self) -> np.ndarray:
        """[F, K] matrix W with transform(x) = (x − mean_) · W before the L2 step."""
        return self.components_.T / np.sqrt(self.explained_variance_ + self.epsilon)

    def _finish(self, Z: np.ndarray) -> np.ndarray:
        if not self.l2_normalize:
            return Z
        return Z / np.sqrt(np.maximum((Z * Z).sum(axis=1, keepdims=True), L2_EPSILON))

    def _reset(self) -> None:
        for name in ("n_features_in_", "mean_", "covariance_", "components_", "explained_variance_"):
            self.__dict__.pop(name, None)
        self.n_samples_seen_ = 0
        self._scatter = None  # Σ (x − mean)(x − mean)ᵀ over the samples seen

    @staticmethod
    def _validate(X: np.ndarray, n_features: int | None) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"PCAWhitening expects a 2-D array [samples, features], got shape {X.shape}")
        if n_features is not None and X.shape[1] != n_features:
            raise ValueError(f"PCAWhitening was fitted on {n_features} features, got {X.shape[1]}")
        if not np.isfinite(X).all():
            raise ValueError("PCAWhitening input contains NaN or infinite values")
        return X

    def _accumulate(self, X: np.ndarray) -> None:
        X = self._validate(X, getattr(self, "n_features_in_", None))
        count = X.shape[0]
        if count == 0:
            return
        batch_mean = X.mean(axis=0)
        centered = X - batch_mean
        batch_scatter = centered.T @ centered
        if self.n_samples_seen_ == 0:
            self.n_features_in_ = X.shape[1]
            self.mean_, self._scatter = batch_mean, batch_scatter
        else:  # Chan et al.: merge (n_a, mean_a, M_a) with (n_b, mean_b, M_b)
            total = self.n_samples_seen_ + count
            delta = batch_mean - self.mean_
            self._scatter = self._scatter + batch_scatter + np.outer(delta, delta) * (self.n_samples_seen_ * count / total)
            self.mean_ = self.mean_ + delta * (count / total)
        self.n_samples_seen_ += count

    def _decompose(self) -> None:
        if self.n_samples_seen_ == 0:
            raise ValueError("PCAWhitening.fit got no samples")
        n_features = self.n_features_in_
        n_components = n_features if self.n_components is None else self.n_components
        if not 1 <= n_components <= n_features:
            raise ValueError(f"n_components must be in [1, {n_features}], got {self.n_components}")
        self.covariance_ = self._scatter / self.n_samples_seen_
        eigenvalues, eigenvectors = np.linalg.eigh(self.covariance_)  # ascending
        order = np.argsort(eigenvalues)[::-1][:n_components]
        components = eigenvectors[:, order].T  # [K, F]
        signs = np.sign(components[np.arange(n_components), np.abs(components).argmax(axis=1)])
        self.components_ = components * signs[:, None]
        self.explained_variance_ = np.clip(eigenvalues[order], 0.0, None)


class Whitening(nn.Module):
    """Torch form of a fitted `PCAWhitening`: buffers `mean` [F], `projection` [F, K], `fitted`.

    Built unfitted with the right shapes (so a model can be constructed from its config and then
    load a state dict); `load_estimator` copies a fitted estimator's numbers in.
    """

    def __init__(self, num_features: int, num_components: int | None = None, *, l2_normalize: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.num_components = num_features if num_components is None else num_components
        self.l2_normalize = l2_normalize
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("projection", torch.zeros(num_features, self.num_components))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.is_fitted = False  # host-side copy of `fitted`: forward never waits on the device to read it
        self.register_load_state_dict_post_hook(_sync_fitted)

    @torch.no_grad()
    def load_estimator(self, estimator: PCAWhitening) -> "Whitening":
        matrix = estimator.whitening_matrix()
        if matrix.shape != tuple(self.projection.shape):
            raise ValueError(f"fitted whitening is {matrix.shape}, this module holds {tuple(self.projection.shape)}")
        if estimator.l2_normalize != self.l2_normalize:
            raise ValueError(f"estimator l2_normalize={estimator.l2_normalize}, module l2_normalize={self.l2_normalize}")
        self.mean.copy_(torch.from_numpy(estimator.mean_))
        self.projection.copy_(torch.from_numpy(matrix))
        self.fitted.fill_(True)
        self.is_fitted = True
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, F] -> [B, K]."""
        if not self.is_fitted:
            raise RuntimeError("whitening is not fitted: fit it on training data (model.fit_features) or load a checkpoint")
        z = (x.float() - self.mean) @ self.projection
        return l2_normalize(z) if self.l2_normalize else z

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, num_components={self.num_components}, l2_normalize={self.l2_normalize}"


def _sync_fitted(module: Whitening, incompatible_keys) -> None:
    """After load_state_dict: refresh the host-side flag (a named function so models still pickle)."""
    module.is_fitted = bool(module.fitted)


__all__ = ["DEFAULT_EPSILON", "PCAWhitening", "Whitening"]
