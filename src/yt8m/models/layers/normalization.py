"""Batch normalization that never sees padding.

Frame-level models normalize per frame, over the batch's frames. Padded rows must not enter the
statistics (or the prediction would change with the batch's padding length), so the frames are
gathered by the mask, normalized, and scattered back with zeros in the padding.

Defaults are TF slim's (every paper here trained with it): eps 1e-3 and decay 0.999, i.e. a
PyTorch momentum of 0.001. Short runs need a larger momentum (the running statistics otherwise
stay near their initial values); every model exposes it as `bn_momentum`.

A training batch with a single row (one video in a video-level layer, or one valid frame in the
whole batch: the last partial batch of a loader worker) has no batch variance. PyTorch raises;
slim normalizes to exactly β, which zeroes the input's gradient and pulls the running variance
toward 0. Here such a batch is normalized with the running statistics, as at evaluation, and they
are left untouched: the layer stays a smooth function of its input and one video cannot skew the
statistics every later prediction uses.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SLIM_EPSILON = 1e-3
SLIM_MOMENTUM = 0.001  # = 1 - slim decay 0.999


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over the last dim of [N, D] or of the valid rows of [B, T, D] (given a [B, T] mask)."""

    def __init__(self, num_features: int, *, momentum: float = SLIM_MOMENTUM, eps: float = SLIM_EPSILON) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() == 2:
            return self._rows(x)
        if mask is None:
            return self._rows(x.reshape(-1, x.shape[-1])).view(x.shape)
        valid = self._rows(x[mask])  # [N_valid, D]
        return x.new_zeros(x.shape, dtype=valid.dtype).index_put((mask,), valid)

    def _rows(self, rows: torch.Tensor) -> torch.Tensor:
        """[N, D] -> normalized rows; N <= 1 in training uses the running statistics (module docstring)."""
        if self.training and rows.shape[0] <= 1:
            return F.batch_norm(rows, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(rows)
