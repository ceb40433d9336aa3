"""Build a model (and its loss) from an ExperimentConfig; fit what must be fitted on training data."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ..data.loader import DataConfig, VideoDataset
from ..models.registry import create_model, model_entry
from .config import ExperimentConfig


def build_model(config: ExperimentConfig) -> torch.nn.Module:
    """The registered model with the config's options, sized by the data section."""
    data = config.data
    model = create_model(config.model_name, num_classes=data.num_classes, feature_sizes=data.feature_sizes, **config.model_options)
    check_input_kind(config)
    return model


def check_input_kind(config: ExperimentConfig) -> None:
    """Frame-level models need frame-level data; video-level models need vectors or a feature transform."""
    entry = model_entry(config.model_name)
    frame_data = config.data.frame_level
    if entry.frame_level and not frame_data:
        raise ValueError(f"model {config.model_name!r} is frame-level but data.kind is 'video': use frame-level records")
    takes_frames = entry.frame_level or bool((config.model_options.get("features") or {}).get("aggregate", "mean_std_topk") != "none" and config.model_options.get("features"))
    if frame_data and not takes_frames:
        raise ValueError(
            f"model {config.model_name!r} takes one vector per video but data.kind is {config.data.kind!r}: "
            "read video-level records (data.kind=video) or set model.features (e.g. {aggregate: mean_std_topk})"
        )


def fit_model_features(model: torch.nn.Module, train_paths, data: DataConfig, max_videos: int | None = None) -> None:
    """Fit the feature whitening of a video-level model on training videos (deterministic order)."""
    if not getattr(model, "requires_fitting", False):
        return
    loader = VideoDataset(train_paths, data.for_evaluation(), rank=0, world_size=1)
    batches = ((b["features"], b["num_frames"]) for b in loader)
    if max_videos:
        batches = itertools.islice(batches, max(1, -(-max_videos // data.batch_size)))
    model.fit_features(batches)


def class_counts(train_paths, data: DataConfig) -> torch.Tensor:
    """Positives per class over the training set (for the class-penalized loss)."""
    from ..io.reader import read_records

    counts = np.zeros(data.num_classes, dtype=np.float64)
    for record in read_records(train_paths, data.schema):
        np.add.at(counts, record.labels, 1)
    return torch.from_numpy(counts)


def build_loss(config: ExperimentConfig, train_paths=None) -> torch.nn.Module:
    from .losses import make_loss

    options = {k: v for k, v in config.loss.items() if k != "name"}
    counts = class_counts(train_paths, config.data) if options.get("class_penalized") else None
    return make_loss(config.loss["name"], class_counts=counts, **options)
