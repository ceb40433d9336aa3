"""The synthetic data and settings shared by the MiCRObE benchmarks (bench_microbe_*.py).

A `small`-preset world with 200 classes (im: 200 base classes, tm: 600), 2000 train videos in 8
shards (the mining workers W = 8), 1500 validate videos (noisy observed labels, like the paper's
video-level ground truth) of 40–90 frames at 1 fps. Generated once into benchmarks/.cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CACHE  # noqa: E402
from yt8m.microbe import MicrobeConfig  # noqa: E402

DATA = CACHE / "microbe-small200-seed0"
SYNTH = dict(
    num_classes=200, train_videos=2000, validate_videos=1500, test_videos=0, rated_test_videos=0,
    segment_validate_videos=0, segment_test_videos=0, train_shards=8, validate_shards=3,
    min_frames=40, max_frames=90, levels=("frame",), sparse_features=("im", "tm"),
)
FEATURE_SETS = {"IM": ["im"], "TM": ["tm"], "IM+TM": ["im", "tm"]}
M = 400  # mined examples per label (about 2% of the 20,000 mining frames; the paper: 100,000 of 108M)
# At 126k training frames a 1e-4 bucket holds about one example: the paper's compression (footnote 1)
# needs coarser buckets at this scale. bench_microbe_scale measures both widths.
BUCKET_WIDTH = 1e-2


def dataset() -> Path:
    from yt8m.synth import generate

    generate(DATA, preset="small", seed=0, workers=2, progress=False, **SYNTH)
    return DATA


def config(sources: list[str], level: str, **changes) -> MicrobeConfig:
    cfg = MicrobeConfig(
        train=[str(DATA / "frame" / "train*.tfrecord")],
        features={"synthetic": str(DATA), "sources": sources, "level": level, "window": 2},
        calibration={"lambdas": [0.1, 1.0, 10.0], "top_k": 20, "blocks": 4, "bucket_width": BUCKET_WIDTH},
        mining={"examples": M, "frames_per_video": 10, "batch_size": 256},
        second_order={"model": "moe", "mixtures": 5, "restarts": 2, "label_blocks": 8},
        dask={"scheduler": "local", "workers": 2},
    )
    return cfg.replace(**changes) if changes else cfg


def validate_files() -> str:
    return str(DATA / "frame" / "validate*.tfrecord")
