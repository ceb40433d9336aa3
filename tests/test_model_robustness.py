"""Every registered model takes one training step on any batch the loader can emit.

A batch of one video (the last partial batch of a worker), a video with no frames, one frame in
the whole batch, and bf16 autocast on CPU with differing lengths: the loss and every gradient
stay finite.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from test_frame_models import SMALL

from yt8m.models import create_model, list_models, model_entry
from yt8m.train.distributed import autocast
from yt8m.train.losses import make_loss

FEATURE_SIZES = (16, 8)
NUM_CLASSES = 5
ALL_MODELS = [entry.name for entry in list_models()]


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, num_classes=NUM_CLASSES, feature_sizes=FEATURE_SIZES, **SMALL.get(name, {}))


def batch(name: str, lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = (torch.rand(len(lengths), NUM_CLASSES, generator=g) < 0.4).float()
    if not model_entry(name).frame_level:  # one float vector per video
        return torch.randn(len(lengths), sum(FEATURE_SIZES), generator=g), None, labels
    frames = torch.randint(0, 256, (len(lengths), max(max(lengths), 1), sum(FEATURE_SIZES)), generator=g, dtype=torch.uint8)
    return frames, torch.tensor(lengths), labels


def training_step(name: str, lengths: list[int], *, mixed_precision: bool = False) -> tuple[float, dict[str, torch.Tensor], torch.nn.Module]:
    """One step as the trainer takes it: forward under autocast, loss (+ aux loss), backward.
    Returns the loss, the gradients and the model (whose running statistics the step updated)."""
    model = build(name).train()
    features, num_frames, labels = batch(name, lengths)
    loss_fn = make_loss("hinge" if name == "hinge" else "cross_entropy")
    with autocast(torch.device("cpu"), mixed_precision):
        if hasattr(model, "training_loss"):  # whole-batch models (sparse_lstm) compute their own loss, as in the trainer
            loss = model.training_loss({"features": features, "num_frames": num_frames, "labels": labels}) + model.regularization_loss()
        else:
            outputs = {k: v.float() for k, v in model(features, num_frames).items()}
            loss = loss_fn(outputs, labels) + model.regularization_loss()
            if "aux_loss" in outputs:
                loss = loss + outputs["aux_loss"]
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return float(loss.detach()), grads, model


def assert_finite(name: str, loss: float, grads: dict[str, torch.Tensor], model: torch.nn.Module) -> None:
    assert torch.isfinite(torch.tensor(loss)), f"{name}: loss {loss}"
    bad = [n for n, g in grads.items() if not torch.isfinite(g).all()]
    assert not bad, f"{name}: non-finite gradients in {bad}"
    assert grads, f"{name}: no gradient reached any parameter"
    bad = [n for n, b in model.named_buffers() if b.is_floating_point() and not torch.isfinite(b).all()]
    assert not bad, f"{name}: non-finite running statistics {bad}"


@pytest.mark.parametrize("name", ALL_MODELS)
def test_batch_of_one_video(name):
    assert_finite(name, *training_step(name, [5]))


@pytest.mark.parametrize("name", [n for n in ALL_MODELS if model_entry(n).frame_level])
def test_batch_of_one_video_with_one_frame(name):
    assert_finite(name, *training_step(name, [1]))


@pytest.mark.parametrize("name", [n for n in ALL_MODELS if model_entry(n).frame_level])
def test_batch_with_a_video_without_frames(name):
    assert_finite(name, *training_step(name, [4, 0, 3]))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_training_step_under_bf16_autocast(name):
    assert_finite(name, *training_step(name, [6, 2, 3, 1], mixed_precision=True))


def test_batch_norm_of_a_single_video_uses_and_keeps_the_running_statistics():
    """One row has no batch variance: it is normalized with the running statistics, which stay put."""
    from yt8m.models.layers.normalization import MaskedBatchNorm1d

    bn = MaskedBatchNorm1d(3, momentum=0.5).train()
    bn.running_mean.fill_(2.0)
    bn.running_var.fill_(4.0)
    x = torch.tensor([[4.0, 2.0, 0.0]], requires_grad=True)
    y = bn(x)
    torch.testing.assert_close(y.detach(), (x.detach() - 2.0) / torch.sqrt(torch.tensor(4.0) + bn.eps))
    torch.testing.assert_close(bn.running_mean, torch.full((3,), 2.0))
    torch.testing.assert_close(bn.running_var, torch.full((3,), 4.0))
    y.sum().backward()
    assert (x.grad != 0).all()  # the input still learns (batch stats would give output = β and zero grads)
