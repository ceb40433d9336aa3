"""The model registry: a model is one file that registers a builder under a name.

`create_model(name, num_classes=..., feature_sizes=..., **options)` is the only way in. Options
fill the model's config dataclass; unknown keys are an error naming the valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch.nn as nn


@dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: type[nn.Module]
    config_cls: type
    frame_level: bool  # takes [B, T, D] frames (True) or one vector per video [B, D] (False)
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, *, config: type, frame_level: bool) -> Callable[[type], type]:
    """Class decorator: `@register_model("moe", config=MoeConfig, frame_level=False)`."""

    def wrap(cls: type) -> type:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        doc = (cls.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelEntry(name, cls, config, frame_level, doc[0] if doc else "")
        cls.registry_name = name
        return cls

    return wrap


def _load_builtin_models() -> None:
    from . import zoo  # noqa: F401  (imports every model file, which registers it)


def model_entry(name: str) -> ModelEntry:
    _load_builtin_models()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def list_models() -> list[ModelEntry]:
    _load_builtin_models()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def build_config(config_cls: type, options: dict[str, Any], *, what: str) -> Any:
    """Fill a config dataclass from a dict: values converted by type, unknown keys rejected."""
    from ..typed_config import build

    return build(config_cls, options, what=what)


def create_model(name: str, *, num_classes: int, feature_sizes: tuple[int, ...] | list[int], **options) -> nn.Module:
    entry = model_entry(name)
    config = build_config(entry.config_cls, options, what=f"model {name!r}")
    return entry.cls(config, num_classes=num_classes, feature_sizes=tuple(feature_sizes))
