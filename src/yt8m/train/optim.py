"""Optimizers, learning-rate schedules by examples seen, and gradient clipping."""

from __future__ import annotations

import math

import torch

from .config import OptimizerConfig, ScheduleConfig

OPTIMIZERS = ("adam", "adagrad", "rmsprop", "sgd")


def make_optimizer(params, config: OptimizerConfig) -> torch.optim.Optimizer:
    name = config.name.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=config.lr, eps=config.eps, weight_decay=config.weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=config.lr, initial_accumulator_value=config.adagrad_initial_accumulator, weight_decay=config.weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, eps=config.eps, momentum=config.momentum, weight_decay=config.weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.name!r}: use one of {', '.join(OPTIMIZERS)}")


def learning_rate(base_lr: float, examples: int, schedule: ScheduleConfig, total_examples: int | None = None) -> float:
    """The learning rate after `examples` training examples (all ranks together).

    staircase (official): base · decay^floor(examples / decay_examples);
    cosine: linear warm-up, then half a cosine down to base · min_lr_ratio at `total_examples`.
    """
    name = schedule.name.lower()
    if name == "constant":
        return base_lr
    if name == "staircase":
        return base_lr * schedule.decay ** (examples // schedule.decay_examples)
    if name == "cosine":
        if not total_examples:
            raise ValueError("the cosine schedule needs the total number of training examples")
        if examples < schedule.warmup_examples:
            return base_lr * (examples + 1) / schedule.warmup_examples
        progress = min(1.0, (examples - schedule.warmup_examples) / max(total_examples - schedule.warmup_examples, 1))
        floor = base_lr * schedule.min_lr_ratio
        return floor + (base_lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule.name!r}: use staircase, cosine or constant")


def clip_gradients(parameters, max_norm: float, mode: str = "per_tensor") -> None:
    """per_tensor: each tensor's gradient clipped to max_norm (the official clip_by_norm); global: total norm."""
    if max_norm <= 0:
        return
    grads = [p for p in parameters if p.grad is not None]
    if mode == "global":
        torch.nn.utils.clip_grad_norm_(grads, max_norm)
    elif mode == "per_tensor":
        for p in grads:
            norm = p.grad.norm()
            if norm > max_norm:
                p.grad.mul_(max_norm / norm)
    else:
        raise ValueError(f"unknown clip_mode {mode!r}: use per_tensor or global")
