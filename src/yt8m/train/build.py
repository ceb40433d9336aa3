"""Build a model (and its loss) from an ExperimentConfig; fit what must be fitted on training data."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..data.loader import DataConfig, VideoDataset, tally_read_stats
from ..io.report import ReadStats
from ..models.registry import create_model, model_entry
from .config import ExperimentConfig


def build_model(config: ExperimentConfig) -> torch.nn.Module:
    """The registered model with the config's options, sized by the data section.

    Frame-level models need frame-level data; video-level models need video vectors, or frames
    when they hold a feature transform (model.features). A mismatch is a clear error.
    """
    data = config.data
    options = config.model_options
    if data.sparse_features and "sparse_sizes" in {f.name for f in dataclasses.fields(model_entry(config.model_name).config_cls)}:
        options.setdefault("sparse_sizes", data.sparse_sizes)  # the sparse input vocabulary comes from the data section
    model = create_model(config.model_name, num_classes=data.num_classes, feature_sizes=data.feature_sizes, **options)
    takes_frames = model_entry(config.model_name).frame_level or getattr(model, "expects_frames", False)
    if takes_frames and not data.frame_level:
        raise ValueError(f"model {config.model_name!r} takes frames but data.kind is 'video': use frame-level records")
    if data.frame_level and not takes_frames:
        raise ValueError(
            f"model {config.model_name!r} takes one vector per video but data.kind is {data.kind!r}: "
            "read video-level records (data.kind=video) or set model.features (e.g. {aggregate: mean_std_topk})"
        )
    reads_segments = getattr(model, "reads_segments", False)
    if getattr(model, "needs_whole_video", False) and data.segment_labels and not data.segment_whole_video:
        raise ValueError(f"model {config.model_name!r} reads segments inside their whole videos: set data.segment_whole_video=true")
    if data.segment_whole_video and not reads_segments:
        raise ValueError(f"data.segment_whole_video gives whole videos with segment ranges, which only models that read segment ranges take (context_aware, attention; not {config.model_name!r})")
    return model


def fit_model_features(model: torch.nn.Module, train_paths, data: DataConfig) -> None:
    """Fit the feature whitening of a video-level model on training videos (file order; the model's
    `features.fit_max_videos` caps how many). Every rank fits on the same videos, so all agree."""
    if not getattr(model, "requires_fitting", False):
        return
    loader = tally_read_stats(VideoDataset(train_paths, data.for_evaluation(), rank=0, world_size=1), ReadStats())
    model.fit_features((b["features"], b["num_frames"]) for b in loader)


def class_counts(train_paths, data: DataConfig) -> torch.Tensor:
    """Positives per class over the training set (for the class-penalized loss)."""
    from ..io.reader import read_records

    counts = np.zeros(data.num_classes, dtype=np.float64)
    for record in read_records(train_paths, data.schema):
        np.add.at(counts, record.labels, 1)
    return torch.from_numpy(counts)


PRIOR_RECORDS = 2000  # videos read (file order) to estimate labels per video for output_bias: auto


def prior_logit(train_paths, data: DataConfig, max_records: int = PRIOR_RECORDS) -> float:
    """logit(labels per video / classes) over the first training videos: the classifier bias at
    which every class starts at the average label rate (YouTube-8M: 3.4 of 3862, about -7)."""
    from itertools import islice

    from ..io.reader import read_records

    counts = [len(record.labels) for record in islice(read_records(train_paths, data.schema), max_records)]
    if not counts:
        raise ValueError(f"output_bias: auto found no training videos in {train_paths}")
    rate = min(max(float(np.mean(counts)) / data.num_classes, 1e-6), 1 - 1e-6)
    return float(np.log(rate / (1 - rate)))


def build_loss(config: ExperimentConfig, train_paths=None) -> torch.nn.Module:
    from .losses import make_loss

    options = {k: v for k, v in config.loss.items() if k != "name"}
    counts = class_counts(train_paths, config.data) if options.get("class_penalized") else None
    return make_loss(config.loss["name"], class_counts=counts, **options)
