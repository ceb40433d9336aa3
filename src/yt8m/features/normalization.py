"""L2 normalization as TensorFlow defines it, shared by the feature pipeline and every model.

It lives here, below the models, so `models` imports `features` and never the other way round.
"""

from __future__ import annotations

import torch

L2_EPSILON = 1e-12  # TF's l2_normalize epsilon (on the squared norm)


def l2_normalize(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """x / sqrt(max(sum(x^2), 1e-12)), TF's definition."""
    return x * torch.rsqrt(torch.clamp((x * x).sum(dim=dim, keepdim=True), min=L2_EPSILON))
