"""The synthetic data and settings shared by the MiCRObE benchmarks (bench_microbe_*.py).

A `small`-preset world with 60 classes (im: 60 base classes, tm: 180), 600 train videos in 8
shards and 450 validate videos in 3 (noisy observed labels, like the paper's video-level ground
truth) of 40–90 frames at 1 fps; one such dataset per seed (the world, the videos and the base
classifiers all change with it). The benchmarks train on the first 4 train shards (300 videos,
W = 4 mining workers) and evaluate on the first 2 validate shards (300 videos): sized so that the
seeds finish within the session on the shared, heavily loaded 2-core machine (the earlier runs
used 200 classes, 2000 videos, M = 400, K = 20 and one seed). Generated once into benchmarks/.cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CACHE  # noqa: E402
from yt8m.microbe import MicrobeConfig  # noqa: E402

SEEDS = (0, 1, 2)
SYNTH = dict(
    num_classes=60, train_videos=600, validate_videos=450, test_videos=0, rated_test_videos=0,
    segment_validate_videos=0, segment_test_videos=0, train_shards=8, validate_shards=3,
    min_frames=40, max_frames=90, levels=("frame",), sparse_features=("im", "tm"),
)
FEATURE_SETS = {"IM": ["im"], "TM": ["tm"], "IM+TM": ["im", "tm"]}
TRAIN_FILES, VALIDATE_FILES = 4, 2  # of the 8 train and 3 validate shards
M = 60  # mined examples per label (2% of the 3,000 mining frames; the paper: 100,000 of 108M)
TOP_K = 10  # K features per label
RESTARTS = 1  # MoE k-means++ starts (the shipped configs: 3)
# At ~20k training frames a 1e-4 bucket holds about one example: the paper's compression (footnote 1)
# needs coarser buckets at this scale. bench_microbe_scale measures both widths.
BUCKET_WIDTH = 1e-2


def data_dir(seed: int = 0) -> Path:
    from yt8m.synth.config import GENERATOR_VERSION

    return CACHE / f"microbe-small{SYNTH['num_classes']}-v{GENERATOR_VERSION}-seed{seed}"


def dataset(seed: int = 0) -> Path:
    from yt8m.synth import generate

    generate(data_dir(seed), preset="small", seed=seed, workers=2, progress=False, **SYNTH)
    return data_dir(seed)


def config(sources: list[str], level: str, seed: int = 0, **changes) -> MicrobeConfig:
    data = data_dir(seed)
    cfg = MicrobeConfig(
        train=[str(data / "frame" / f"train{i:04d}.tfrecord") for i in range(TRAIN_FILES)],
        features={"synthetic": str(data), "sources": sources, "level": level, "window": 2},
        calibration={"lambdas": [0.1, 1.0, 10.0], "top_k": TOP_K, "blocks": 4, "bucket_width": BUCKET_WIDTH},
        mining={"examples": M, "frames_per_video": 10, "batch_size": 256},
        second_order={"model": "moe", "mixtures": 5, "restarts": RESTARTS, "label_blocks": 8},
        dask={"scheduler": "local", "workers": 2}, seed=seed,
    )
    return cfg.replace(**changes) if changes else cfg


def validate_files(seed: int = 0) -> list[str]:
    return [str(data_dir(seed) / "frame" / f"validate{i:04d}.tfrecord") for i in range(VALIDATE_FILES)]
