"""Video-level classifier heads shared by all models: logistic and mixture of experts."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..base import L2Linear


class LogisticHead(nn.Module):
    """p = σ(x W + b): one independent logistic regression per class (L2 on W)."""

    def __init__(self, in_features: int, num_classes: int, *, l2: float = 1e-8) -> None:
        super().__init__()
        self.fc = L2Linear(in_features, num_classes, l2=l2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.fc(x)  # [B, C]
        return {"predictions": torch.sigmoid(logits), "logits": logits}


class MoeHead(nn.Module):
    """Mixture of experts per class, with a dummy expert that always says "absent".

    p(c|x) = Σ_{h<H} softmax_gate(x)[c, h] · σ(u_{c,h}·x + b_{c,h}); the softmax runs over H + 1
    states, the last one the dummy. Layout is class-major like the official MoeModel: gate columns
    c·(H+1) … c·(H+1)+H belong to class c; gates have no bias.
    """

    def __init__(self, in_features: int, num_classes: int, *, num_mixtures: int = 2, l2: float = 1e-8) -> None:
        super().__init__()
        self.num_classes, self.num_mixtures = num_classes, num_mixtures
        self.gates = L2Linear(in_features, num_classes * (num_mixtures + 1), l2=l2, bias=False)
        self.experts = L2Linear(in_features, num_classes * num_mixtures, l2=l2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = x.shape[0]
        gates = torch.softmax(self.gates(x).view(batch, self.num_classes, self.num_mixtures + 1), dim=-1)  # [B, C, H+1]
        experts = torch.sigmoid(self.experts(x).view(batch, self.num_classes, self.num_mixtures))  # [B, C, H]
        return {"predictions": (gates[..., :-1] * experts).sum(-1)}  # [B, C]


def make_head(kind: str, in_features: int, num_classes: int, *, num_mixtures: int = 2, l2: float = 1e-8) -> nn.Module:
    """'logistic' or 'moe'; models name their head with a `classifier` config field."""
    if kind == "logistic":
        return LogisticHead(in_features, num_classes, l2=l2)
    if kind == "moe":
        return MoeHead(in_features, num_classes, num_mixtures=num_mixtures, l2=l2)
    raise ValueError(f"unknown classifier {kind!r}: use 'logistic' or 'moe'")


def init_output_bias(model: nn.Module, logit: float) -> int:
    """Start every classifier head's bias at `logit` (the "prior" init); returns how many heads.

    With a zero bias every class starts at p = 0.5 and the first hundreds of steps only learn
    that labels are rare (3 of 3862): nonlinear encoders are driven into a constant output on
    the way and many never recover on a short budget (BENCHMARKS.md, frame-level zoo). A logit
    near log(labels per video / classes), e.g. -7 for YouTube-8M, skips that phase.
    """
    heads = [m for m in model.modules() if isinstance(m, (LogisticHead, MoeHead))]
    if not heads:
        raise ValueError(f"{type(model).__name__} has no logistic or MoE classifier head whose bias could be initialized")
    with torch.no_grad():
        for head in heads:
            (head.fc.bias if isinstance(head, LogisticHead) else head.experts.bias).fill_(logit)
    return len(heads)
