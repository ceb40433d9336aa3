"""Model sizes for the registry listing: parameter count and checkpoint size, without allocating.

Models are built on PyTorch's "meta" device, so even the 300M-parameter defaults are counted in
milliseconds. The size is that of the state dict (parameters and buffers) as safetensors
stores it, i.e. the model file minus its small header.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..io.records import DEFAULT_NUM_CLASSES
from .registry import create_model, list_models, model_entry

DEFAULT_FEATURE_SIZES = (1024, 128)  # rgb + audio


@dataclass(frozen=True)
class ModelSummary:
    name: str
    params: int  # trainable and frozen parameters
    size_mb: float  # state dict bytes / 2**20
    frame_level: bool
    description: str


def model_summary(
    name: str, *, num_classes: int = DEFAULT_NUM_CLASSES, feature_sizes: tuple[int, ...] = DEFAULT_FEATURE_SIZES, **options
) -> dict:
    """{name, params, size_mb, frame_level, description} for `create_model(name, ..., **options)`."""
    entry = model_entry(name)
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, feature_sizes=feature_sizes, **options)
    params = sum(p.numel() for p in model.parameters())
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return asdict(ModelSummary(name, params, size / 2**20, entry.frame_level, entry.description))


def list_model_summaries(
    *, num_classes: int = DEFAULT_NUM_CLASSES, feature_sizes: tuple[int, ...] = DEFAULT_FEATURE_SIZES, frame_level: bool | None = None
) -> list[dict]:
    """One summary per registered model (default configs), optionally only frame- or video-level."""
    return [
        model_summary(entry.name, num_classes=num_classes, feature_sizes=feature_sizes)
        for entry in list_models()
        if frame_level is None or entry.frame_level == frame_level
    ]
