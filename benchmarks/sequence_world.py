"""Small labelled frame sequences made by a process unlike the synthetic generator's world.

The config-learning check (bench_config_learning.py, tests/test_config_learning.py) trains every
shipped config on data that was not designed alongside the models: a few hundred short videos of
a dozen uint8 features, ~10 classes, written as official-format frame TFRecords with yt8m.io.

Each video is a background random walk (not class related) plus its classes' signatures:
- a class-dependent oscillation (frequency and phase per feature),
- a class-dependent drift direction the video walks along (a mean offset that grows with time),
- an ordered pair of "events" (two class-specific frame patterns, A before B), so order matters.
Every video has one main class; 30% add a second class at half strength (multi-label, as YT8M).
Values are quantized to uint8 codes exactly as the official features are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yt8m.io import VideoRecord, dequantize, quantize, write_records


@dataclass(frozen=True)
class SequenceWorld:
    num_classes: int = 10
    feature_sizes: tuple[int, int] = (8, 4)  # "rgb" and "audio" streams: a dozen features in all
    min_frames: int = 8
    max_frames: int = 24
    second_label: float = 0.3  # probability of a second class at half strength
    noise: float = 0.35  # random-walk step size (background, class-independent)


def _class_parameters(world: SequenceWorld, rng: np.random.Generator) -> dict[str, np.ndarray]:
    dims, c = sum(world.feature_sizes), world.num_classes
    return {
        "frequency": rng.uniform(0.05, 0.45, size=(c, dims)),  # cycles per frame
        "phase": rng.uniform(0, 2 * np.pi, size=(c, dims)),
        "amplitude": rng.uniform(0.2, 0.6, size=(c, dims)),
        "drift": rng.normal(0, 0.06, size=(c, dims)),  # per-frame step along the class direction
        "event_a": rng.normal(0, 0.8, size=(c, dims)),
        "event_b": rng.normal(0, 0.8, size=(c, dims)),
    }


def _signature(params: dict[str, np.ndarray], cls: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(frames)[:, None]
    x = params["amplitude"][cls] * np.sin(2 * np.pi * params["frequency"][cls] * t + params["phase"][cls])
    x = x + params["drift"][cls] * t
    a, b = sorted(rng.choice(frames, size=2, replace=False))  # event A strictly before event B
    x[a] += params["event_a"][cls]
    x[b] += params["event_b"][cls]
    return x


def make_videos(world: SequenceWorld, n: int, *, seed: int, params_seed: int) -> list[VideoRecord]:
    """`n` labelled videos; `params_seed` fixes the classes (share it between train and validation)."""
    params = _class_parameters(world, np.random.default_rng(params_seed))
    rng = np.random.default_rng(seed)
    dims = sum(world.feature_sizes)
    records = []
    for i in range(n):
        frames = int(rng.integers(world.min_frames, world.max_frames + 1))
        main = int(rng.integers(world.num_classes))
        x = np.cumsum(rng.normal(0, world.noise, size=(frames, dims)), axis=0)  # random walk
        x -= x.mean(0)
        x += _signature(params, main, frames, rng)
        labels = [main]
        if rng.random() < world.second_label:
            other = int((main + rng.integers(1, world.num_classes)) % world.num_classes)
            x += 0.5 * _signature(params, other, frames, rng)
            labels.append(other)
        codes = quantize(np.clip(x / 2.0, -2.0, 2.0))  # official range [-2, 2] -> uint8
        split = world.feature_sizes[0]
        records.append(VideoRecord(f"s{seed}v{i:04d}", np.array(sorted(labels), np.int64), {"rgb": codes[:, :split], "audio": codes[:, split:]}))
    return records


def video_level(record: VideoRecord) -> VideoRecord:
    """The official video-level features: the mean of the dequantized frames, per stream."""
    means = {f"mean_{name}": dequantize(frames).mean(0).astype(np.float32) for name, frames in record.features.items()}
    return VideoRecord(record.id, record.labels, means)


def write_world(out: str | Path, world: SequenceWorld = SequenceWorld(), *, train: int = 320, validate: int = 160, seed: int = 0) -> dict[str, Path]:
    """frame/{train,validate}.tfrecord and video/{train,validate}.tfrecord under `out` (official format)."""
    out = Path(out)
    paths = {}
    for split, n, video_seed in (("train", train, 2 * seed + 1), ("validate", validate, 2 * seed + 2)):
        records = make_videos(world, n, seed=video_seed, params_seed=seed)
        for level in ("frame", "video"):
            path = paths[f"{level}/{split}"] = out / level / f"{split}.tfrecord"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = records if level == "frame" else [video_level(r) for r in records]
            write_records(path, rows, level, feature_sizes=world.feature_sizes)
    return paths
