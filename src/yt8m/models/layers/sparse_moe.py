"""Sparsely gated mixture-of-experts layer (Shazeer et al. 2017), as seed 002's LSTM_MoE uses it.

Noisy top-k gating: H(x)_i = (x W_g)_i + ε · softplus((x W_noise)_i), ε ~ N(0, 1) in training;
G(x) = softmax over the k largest H(x)_i (0 elsewhere); y = Σ_i G(x)_i E_i(x), evaluating only the
k selected experts per row.

Balancing losses (seed 002 eq. 3–6):
    Importance(X) = Σ_x G(x);                  L_importance = w_importance · CV(Importance(X))²
    Load(X)_i = Σ_x P(x, i);                   L_load       = w_load · CV(Load(X))²
P(x, i) is the probability that G(x)_i is nonzero under a new draw of the noise on element i
only: Φ((clean_i − threshold_i) / noise_std_i), the threshold being the k-th largest noisy logit
among the other experts. CV is squared as in Shazeer et al., whom seed 002 follows.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

NOISE_EPSILON = 1e-2  # floor on the noise scale (Shazeer et al.)


def cv_squared(values: torch.Tensor) -> torch.Tensor:
    """Squared coefficient of variation var / mean² (population variance); 0 for one value."""
    values = values.float()
    if values.numel() < 2:
        return values.new_zeros(())
    return values.var(unbiased=False) / (values.mean().square() + 1e-10)


def load_probabilities(clean: torch.Tensor, noisy: torch.Tensor, noise_std: torch.Tensor, k: int) -> torch.Tensor:
    """P(x, i) [N, E]: chance that expert i stays in the top k when only its own noise is redrawn."""
    top = noisy.topk(k + 1, dim=1).values  # [N, k+1]
    threshold_if_in = top[:, k : k + 1]  # the (k+1)-th value: what an expert in the top k must beat
    threshold_if_out = top[:, k - 1 : k]  # the k-th value: what an expert outside must beat
    is_in = noisy > threshold_if_in
    normal = torch.distributions.Normal(0.0, 1.0)
    prob_if_in = normal.cdf((clean - threshold_if_in) / noise_std)
    prob_if_out = normal.cdf((clean - threshold_if_out) / noise_std)
    return torch.where(is_in, prob_if_in, prob_if_out)


def balancing_loss(gates: torch.Tensor, load: torch.Tensor, *, importance_weight: float, load_weight: float) -> torch.Tensor:
    """w_importance · CV(Σ_x G(x))² + w_load · CV(Load(X))²."""
    return importance_weight * cv_squared(gates.sum(0)) + load_weight * cv_squared(load)


class NoisyTopKGating(nn.Module):
    """Returns dense gates [N, E] (k nonzero per row) and the per-expert load [E]."""

    def __init__(self, in_features: int, num_experts: int, *, k: int, noisy: bool = True) -> None:
        super().__init__()
        if not 0 < k <= num_experts:
            raise ValueError(f"top-k gating needs 0 < k <= num_experts, got k={k}, num_experts={num_experts}")
        self.k, self.num_experts, self.noisy = k, num_experts, noisy
        # zero init: every expert starts equally likely (Shazeer et al.)
        self.w_gate = nn.Parameter(torch.zeros(in_features, num_experts))
        self.w_noise = nn.Parameter(torch.zeros(in_features, num_experts))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        clean = x @ self.w_gate  # [N, E]
        use_noise = self.noisy and self.training and self.k < self.num_experts
        if use_noise:
            noise_std = F.softplus(x @ self.w_noise) + NOISE_EPSILON
            logits = clean + torch.randn_like(clean) * noise_std
        else:
            logits = clean
        top_values, top_index = logits.topk(self.k, dim=1)
        gates = torch.zeros_like(logits).scatter(1, top_index, torch.softmax(top_values, dim=1))
        if use_noise:
            load = load_probabilities(clean, logits, noise_std, self.k).sum(0)
        else:
            load = (gates > 0).sum(0).to(gates.dtype)
        return gates, load


class SparseMoE(nn.Module):
    """Per-row sparse mixture of `num_experts` two-layer experts: [N, D] -> ([N, out], aux loss)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        num_experts: int = 64,
        k: int = 4,
        expert_hidden_size: int = 1024,
        noisy: bool = True,
        importance_weight: float = 0.1,
        load_weight: float = 0.1,
    ) -> None:
        super().__init__()
        self.out_features = out_features
        self.importance_weight, self.load_weight = importance_weight, load_weight
        self.gating = NoisyTopKGating(in_features, num_experts, k=k, noisy=noisy)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(in_features, expert_hidden_size), nn.ReLU(), nn.Linear(expert_hidden_size, out_features))
            for _ in range(num_experts)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gates, load = self.gating(x)  # [N, E], [E]
        y = x.new_zeros(x.shape[0], self.out_features)
        for e, expert in enumerate(self.experts):
            rows = gates[:, e].nonzero(as_tuple=True)[0]
            if rows.numel():  # under autocast the experts compute in bf16/fp16: sum in y's precision
                y = y.index_add(0, rows, (gates[rows, e, None] * expert(x[rows])).to(y.dtype))
        aux = balancing_loss(gates, load, importance_weight=self.importance_weight, load_weight=self.load_weight)
        return y, aux
