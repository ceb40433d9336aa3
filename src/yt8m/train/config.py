"""The experiment configuration: typed dataclasses filled from YAML files and `--set key=value`.

Every checkpoint stores the full config, so `yt8m eval` and `yt8m predict` need only the checkpoint.
YAML layout (see configs/):

    model: {name: moe, num_mixtures: 2}        # name + the model's own options (incl. `features:`
                                               # for video-level models fed frames, yt8m.features)
    data: {kind: video, num_classes: 3862}     # yt8m.data.DataConfig
    loss: {name: cross_entropy}                # yt8m.train.losses
    optimizer: {name: adam, lr: 0.01, batch_size: 1024}
    schedule: {name: staircase, decay: 0.95, decay_examples: 4000000}
    train: {epochs: 5, clip_gradient_norm: 1.0}
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..data.loader import DataConfig
from ..models.registry import build_config


@dataclass
class OptimizerConfig:
    name: str = "adam"  # adam | adagrad (the papers' choice) | rmsprop | sgd
    lr: float = 0.01  # official base_learning_rate
    batch_size: int = 1024  # official batch size (per rank)
    weight_decay: float = 0.0  # decoupled decay; the L2 penalty of the papers is model.regularization_loss()
    momentum: float = 0.0  # sgd / rmsprop
    eps: float = 1e-8  # adam / rmsprop epsilon (TF default 1e-8); adagrad uses 1e-10
    adagrad_initial_accumulator: float = 0.1  # TF's Adagrad default


@dataclass
class ScheduleConfig:
    name: str = "staircase"  # staircase (official) | cosine | constant
    decay: float = 0.95  # staircase: lr · decay^floor(examples / decay_examples)
    decay_examples: int = 4_000_000
    warmup_examples: int = 0  # cosine: linear warm-up
    min_lr_ratio: float = 0.0  # cosine: final lr = lr · min_lr_ratio


@dataclass
class TrainConfig:
    epochs: int = 5  # official num_epochs
    max_steps: int | None = None  # stop earlier
    clip_gradient_norm: float = 1.0  # ≤ 0 disables
    clip_mode: str = "per_tensor"  # per_tensor (official clip_by_norm per variable) | global
    regularization_penalty: float = 1.0  # weight of model.regularization_loss()
    output_bias: float | None = None  # initial classifier bias (logit), e.g. -7; None: the official zero
    seed: int = 0
    mixed_precision: bool = False  # fp16/bf16 autocast where the device supports it
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    log_every: int = 10  # steps between log lines / CSV rows
    eval_every: int = 0  # steps between validation passes (0: once per epoch)
    eval_max_videos: int | None = None  # cap validation passes during training (None: all)
    early_stopping_patience: int = 0  # validation passes without a better GAP before stopping (0: off)
    checkpoint_every: int = 1000  # steps between checkpoints (always one at the end)
    keep_checkpoints: int = 2
    tensorboard: bool = True  # when tensorboardX is installed


@dataclass
class ExperimentConfig:
    model: dict[str, Any] = field(default_factory=lambda: {"name": "logistic"})
    data: DataConfig = field(default_factory=DataConfig)
    loss: dict[str, Any] = field(default_factory=lambda: {"name": "cross_entropy"})
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def model_name(self) -> str:
        return self.model["name"]

    @property
    def model_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.model.items() if k != "name"}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["data"]["feature_names"] = list(self.data.feature_names)
        out["data"]["feature_sizes"] = list(self.data.feature_sizes)
        out["data"]["id_keys"] = list(self.data.id_keys)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


_SECTIONS = {
    "data": DataConfig,
    "optimizer": OptimizerConfig,
    "schedule": ScheduleConfig,
    "train": TrainConfig,
}
_FREE_SECTIONS = ("model", "loss")


def config_from_dict(raw: dict[str, Any]) -> ExperimentConfig:
    """Build an ExperimentConfig; unknown sections or keys are errors that list the valid ones."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(_SECTIONS) - set(_FREE_SECTIONS))
    if unknown:
        raise ValueError(f"unknown config section(s) {', '.join(map(repr, unknown))}; valid: {', '.join(sorted([*_SECTIONS, *_FREE_SECTIONS]))}")
    kwargs: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        if raw.get(section) is not None:
            kwargs[section] = build_config(cls, dict(raw[section]), what=f"config section '{section}'")
    for section in _FREE_SECTIONS:
        if section in raw:
            kwargs[section] = dict(raw[section]) if raw[section] is not None else None
    config = ExperimentConfig(**kwargs)
    if "name" not in config.model:
        raise ValueError("config section 'model' needs a 'name' (see `yt8m models`)")
    if "name" not in config.loss:
        raise ValueError("config section 'loss' needs a 'name'")
    return config


def _parse_value(text: str) -> Any:
    return yaml.safe_load(text)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `section.key=value` overrides (values parsed as YAML: 0.1, true, [a, b], null)."""
    raw = json.loads(json.dumps(raw or {}))
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"override {item!r} must look like section.key=value (e.g. optimizer.lr=0.001)")
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        if raw.get(section) is None:
            raw[section] = {}
        raw[section][name] = _parse_value(value)
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML config (or start from defaults) and apply overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"config file {path} does not exist")
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: a config is a mapping of sections, got {type(raw).__name__}")
    return config_from_dict(apply_overrides(raw, overrides or []))


def replace(config: ExperimentConfig, **changes) -> ExperimentConfig:
    return dataclasses.replace(config, **changes)
