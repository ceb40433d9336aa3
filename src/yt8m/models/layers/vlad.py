"""Learnable pooling cores: NetVLAD, NetRVLAD, NetFV, Soft-DBoF (WILLOW 2017) and NeXtVLAD (2018).

Every core maps frames [B, T, D] with a [B, T] mask to one vector [B, out_features]. Padding
never counts: soft assignments are zeroed on padded frames and the assignment batch norm sees
only valid frames.

Soft assignment of frame x_t to K clusters: a_k(x_t) = softmax_k(BN(W x_t)) (or W x_t + b).
- NetVLAD:  V[d, k] = Σ_t a_k(x_t) (x_t[d] − c_k[d]); intra-normalize each cluster, then L2.
- NetRVLAD: V[d, k] = Σ_t a_k(x_t) x_t[d]  (no centres); same normalization.
- NetFV:    first order Σ_t a_k (x_t − c_k) / σ_k, second order Σ_t a_k [(x_t − c_k)² / σ_k² − 1];
            the first intra-normalized then L2; the second the same ("per_cluster") or, as WILLOW's
            code does, L2 over the whole vector only ("global"); concatenated.
- Soft-DBoF: Σ_t a_k(x_t), L2-normalized (plus the L2-normalized max over frames if max_pool).
- NeXtVLAD: expand x to λD, split into G groups of λD/G; per group a sigmoid attention α_g(x_t)
            and a soft assignment a_gk; V[d, k] = Σ_t Σ_g α_g a_gk (x̃_tg[d] − c_k[d]);
            intra-normalize, then batch norm.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...features.normalization import l2_normalize
from ..base import masked_max
from .normalization import SLIM_MOMENTUM, MaskedBatchNorm1d


class SoftAssignment(nn.Module):
    """a [B, T, K] = softmax_k(BN(x W)) on valid frames, exactly 0 on padding."""

    def __init__(self, in_features: int, clusters: int, *, batch_norm: bool = True, bn_momentum: float = SLIM_MOMENTUM) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, clusters, bias=not batch_norm)
        nn.init.normal_(self.fc.weight, std=1 / math.sqrt(in_features))
        if self.fc.bias is not None:
            nn.init.normal_(self.fc.bias, std=1 / math.sqrt(in_features))
        self.bn = MaskedBatchNorm1d(clusters, momentum=bn_momentum) if batch_norm else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = self.fc(x)
        if self.bn is not None:
            logits = self.bn(logits, mask)
        return torch.softmax(logits, dim=-1) * mask[..., None].to(x.dtype)


def _intra_then_l2(v: torch.Tensor) -> torch.Tensor:
    """[B, D, K]: L2 over D within each cluster, flatten, L2 over everything."""
    return l2_normalize(l2_normalize(v, dim=1).flatten(1))


class NetVLADCore(nn.Module):
    def __init__(self, in_features: int, clusters: int, *, batch_norm: bool = True, bn_momentum: float = SLIM_MOMENTUM, residual: bool = True) -> None:
        super().__init__()
        self.assign = SoftAssignment(in_features, clusters, batch_norm=batch_norm, bn_momentum=bn_momentum)
        self.centres = nn.Parameter(torch.randn(in_features, clusters) / math.sqrt(in_features)) if residual else None
        self.out_features = in_features * clusters

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = self.assign(x, mask)  # [B, T, K]
        vlad = torch.einsum("btk,btd->bdk", a, x)  # [B, D, K]
        if self.centres is not None:
            vlad = vlad - a.sum(1)[:, None, :] * self.centres
        return _intra_then_l2(vlad)


class NetRVLADCore(NetVLADCore):
    """NetVLAD without cluster centres (WILLOW's "lightvlad")."""

    def __init__(self, in_features: int, clusters: int, *, batch_norm: bool = True, bn_momentum: float = SLIM_MOMENTUM) -> None:
        super().__init__(in_features, clusters, batch_norm=batch_norm, bn_momentum=bn_momentum, residual=False)


SECOND_ORDER_NORMS = ("per_cluster", "global")


class NetFVCore(nn.Module):
    """Fisher-vector pooling with learned centres c_k and per-dimension scales σ_k = s_k² + 1e-6."""

    def __init__(
        self, in_features: int, clusters: int, *, batch_norm: bool = True, bn_momentum: float = SLIM_MOMENTUM,
        second_order_norm: str = "per_cluster",
    ) -> None:
        super().__init__()
        if second_order_norm not in SECOND_ORDER_NORMS:
            raise ValueError(f"NetFV: unknown second_order_norm {second_order_norm!r}: use {' or '.join(SECOND_ORDER_NORMS)}")
        self.second_order_norm = second_order_norm
        self.assign = SoftAssignment(in_features, clusters, batch_norm=batch_norm, bn_momentum=bn_momentum)
        self.centres = nn.Parameter(torch.randn(in_features, clusters) / math.sqrt(in_features))
        self.scales = nn.Parameter(1.0 + torch.randn(in_features, clusters) / math.sqrt(in_features))
        self.out_features = 2 * in_features * clusters

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = self.assign(x, mask)  # [B, T, K]
        sigma = self.scales.square() + 1e-6  # [D, K]
        a_sum = a.sum(1)[:, None, :]  # [B, 1, K]
        first = torch.einsum("btk,btd->bdk", a, x)  # Σ a x
        second = torch.einsum("btk,btd->bdk", a, x * x)  # Σ a x²
        # Σ a (x − c)² = Σ a x² − 2 c Σ a x + c² Σ a
        fv2 = (second - 2 * self.centres * first + self.centres.square() * a_sum) / sigma.square() - a_sum
        fv1 = (first - a_sum * self.centres) / sigma
        fv2 = _intra_then_l2(fv2) if self.second_order_norm == "per_cluster" else l2_normalize(fv2.flatten(1))
        return torch.cat([_intra_then_l2(fv1), fv2], dim=1)


class SoftDBoFCore(nn.Module):
    def __init__(self, in_features: int, clusters: int, *, batch_norm: bool = True, bn_momentum: float = SLIM_MOMENTUM, max_pool: bool = False) -> None:
        super().__init__()
        self.assign = SoftAssignment(in_features, clusters, batch_norm=batch_norm, bn_momentum=bn_momentum)
        self.max_pool = max_pool
        self.out_features = clusters * (2 if max_pool else 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = self.assign(x, mask)
        pooled = [l2_normalize(a.sum(1))]
        if self.max_pool:
            pooled.append(l2_normalize(masked_max(a, mask)))
        return torch.cat(pooled, dim=1)


class NeXtVLADCore(nn.Module):
    def __init__(
        self, in_features: int, clusters: int, *, expansion: int = 2, groups: int = 8, bn_momentum: float = SLIM_MOMENTUM
    ) -> None:
        super().__init__()
        expanded = expansion * in_features
        if expanded % groups:
            raise ValueError(f"NeXtVLAD: expansion·features = {expanded} is not divisible by groups = {groups}")
        self.clusters, self.groups, self.group_size = clusters, groups, expanded // groups
        self.expand = nn.Linear(in_features, expanded)
        self.attention = nn.Linear(expanded, groups)
        self.assign = nn.Linear(expanded, groups * clusters, bias=False)
        self.assign_bn = MaskedBatchNorm1d(groups * clusters, momentum=bn_momentum)
        self.centres = nn.Parameter(torch.empty(self.group_size, clusters))
        nn.init.kaiming_uniform_(self.centres, a=math.sqrt(5))
        self.out_bn = MaskedBatchNorm1d(self.group_size * clusters, momentum=bn_momentum)
        self.out_features = self.group_size * clusters

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, frames, _ = x.shape
        x = self.expand(x)  # [B, T, λD]
        attention = torch.sigmoid(self.attention(x)) * mask[..., None].to(x.dtype)  # [B, T, G]
        logits = self.assign_bn(self.assign(x), mask).view(batch, frames, self.groups, self.clusters)
        a = torch.softmax(logits, dim=-1) * attention[..., None]  # [B, T, G, K]
        groups = x.view(batch, frames, self.groups, self.group_size)
        vlad = torch.einsum("btgk,btgd->bdk", a, groups) - a.sum((1, 2))[:, None, :] * self.centres  # [B, λD/G, K]
        return self.out_bn(F.normalize(vlad, dim=1, eps=1e-6).flatten(1))
