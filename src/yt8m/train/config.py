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

Values are converted and checked by the field types (yt8m.typed_config, the layer every command
uses): `lr: 1e-3` and `--set optimizer.lr=1e-4` are floats, a bad value is a one-line error naming
key, expected type and value. `yt8m config show CONFIG --set ...` prints the resolved config.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..data.loader import DataConfig
from ..typed_config import build, merge, parse_overrides, read_yaml, to_plain


@dataclass
class OptimizerConfig:
    name: str = "adam"  # adam | adagrad (the papers' choice) | rmsprop | sgd
    lr: float = 0.01  # official base_learning_rate
    batch_size: int = 1024  # official batch size (per rank and micro-batch)
    accumulate: int = 1  # micro-batches per step: one step sees batch_size · ranks · accumulate videos
    weight_decay: float = 0.0  # torch's coupled decay (added to every gradient, biases too; for Adam not AdamW's decoupled kind); the papers' L2 is model.regularization_loss()
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
    # initial classifier bias (logit): a number, "auto" (logit of labels per video / classes over the
    # first training videos: about -7 on YouTube-8M, and right for any class count), or None: the official zero
    output_bias: float | Literal["auto"] | None = None
    seed: int = 0
    mixed_precision: bool = False  # autocast: bf16 on CPU; on CUDA bf16 where supported, else fp16 + GradScaler
    amp_dtype: str = "auto"  # auto | bf16 | fp16 (fp16 always trains with a GradScaler)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    log_every: int = 10  # steps between log lines / CSV rows
    eval_every: int = 0  # steps between validation passes (0: once per epoch)
    eval_max_videos: int | None = None  # cap validation passes during training (None: all)
    early_stopping_patience: int = 0  # validation passes without a better GAP (segment runs: MAP@100K) before stopping (0: off)
    folds: int = 0  # >= 2: split the training files by shard into folds, validate on fold `fold`, train on the rest
    fold: int = 0
    checkpoint_every: int = 1000  # steps between checkpoints (always one at the end)
    keep_checkpoints: int = 2
    tensorboard: bool = True  # when tensorboardX is installed
    init_from: str | None = None  # start from another run's / checkpoint's weights (pretrain, then fine-tune)
    init_exclude: tuple[str, ...] = ()  # globs of parameter names not taken from init_from (e.g. head.*)
    freeze: tuple[str, ...] = ()  # globs of parameter names that are not trained
    # distillation (seed 004's future work): targets (1 − teacher_weight)·labels + teacher_weight·teacher's
    # predictions on the same batch; the teacher is a run reading the same examples
    teacher: str | None = None
    teacher_weight: float = 0.5


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
        return to_plain(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


_SECTIONS = {
    "data": DataConfig,
    "optimizer": OptimizerConfig,
    "schedule": ScheduleConfig,
    "train": TrainConfig,
}
_FREE_SECTIONS = ("model", "loss")


def _typed_model_options(options: dict[str, Any]) -> dict[str, Any]:
    """The model's options converted by its config class (only the keys given are kept)."""
    from ..models.registry import model_entry

    name = options["name"]
    given = {k: v for k, v in options.items() if k != "name"}
    built = build(model_entry(name).config_cls, given, what=f"model {name!r}", prefix="model.")
    return {"name": name, **{k: to_plain(getattr(built, k)) for k in given}}


def config_from_dict(raw: dict[str, Any]) -> ExperimentConfig:
    """Build an ExperimentConfig; unknown sections or keys and ill-typed values are one-line errors."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(_SECTIONS) - set(_FREE_SECTIONS))
    if unknown:
        raise ValueError(f"unknown config section(s) {', '.join(map(repr, unknown))}; valid: {', '.join(sorted([*_SECTIONS, *_FREE_SECTIONS]))}")
    kwargs: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        if raw.get(section) is not None:
            kwargs[section] = build(cls, raw[section], what=f"config section '{section}'", prefix=f"{section}.")
    for section in _FREE_SECTIONS:
        if raw.get(section) is not None:
            if not isinstance(raw[section], dict):
                raise ValueError(f"config section '{section}' must be a mapping, got {raw[section]!r}")
            kwargs[section] = dict(raw[section])
    config = ExperimentConfig(**kwargs)
    if "name" not in config.model:
        raise ValueError("config section 'model' needs a 'name' (see `yt8m models`)")
    if "name" not in config.loss:
        raise ValueError("config section 'loss' needs a 'name'")
    config.model = _typed_model_options(config.model)
    return config


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`raw` with `section.key=value` overrides applied (values are YAML: 0.1, 1e-4, true, [a, b], null)."""
    changes = parse_overrides(overrides)
    for key, value in changes.items():
        if not isinstance(value, dict):
            raise ValueError(f"--set {key}={value!r} must look like section.key=value (e.g. optimizer.lr=0.001)")
    return merge(raw, changes)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML config (a file, or a shipped config's name; or start from defaults) and apply overrides."""
    from ..shipped_configs import resolve_config

    raw = read_yaml(resolve_config(path)) if path is not None else {}
    return config_from_dict(apply_overrides(raw, overrides or []))


def replace(config: ExperimentConfig, **changes) -> ExperimentConfig:
    return dataclasses.replace(config, **changes)
