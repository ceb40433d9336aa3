"""Resuming mid-epoch: what it costs to get back to batch K of an epoch.

A resumed run must continue with batch K of the epoch it stopped in. Reading and collating the K
batches again (what the trainer did before) costs as much as training data time for them; the
loader instead passes over the records of those batches without parsing them (shuffle order and
frame sampling depend only on the seed and the position). Measured side by side in one process
as CPU time of this process (the work is single-threaded; wall time on a shared machine is noise),
per seed: time to the first batch at position 0, time to the first batch at position K (skip), and
time to read batches 0..K-1. Claim: skipping costs less than a tenth of reading.

    python benchmarks/bench_resume.py            # ~1-2 minutes on 2 cores
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import markdown_table, threshold_verdict, write_section  # noqa: E402
from yt8m.data.loader import DataConfig, VideoDataset  # noqa: E402
from yt8m.io import VideoRecord, write_records  # noqa: E402

VIDEOS, FRAMES, BATCH, SKIP, SEEDS = 640, 60, 32, 15, (0, 1, 2)
CLAIM = 0.1  # skipping K batches costs less than this fraction of reading them


def write_data(directory: Path, seed: int) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    records = [
        VideoRecord(f"v{i:05d}", np.sort(rng.choice(100, 3, replace=False)).astype(np.int64),
                    {"rgb": rng.integers(0, 256, (FRAMES, 1024), dtype=np.uint8), "audio": rng.integers(0, 256, (FRAMES, 128), dtype=np.uint8)})
        for i in range(VIDEOS)
    ]
    write_records(directory / "train.tfrecord", records, "frame")
    write_records(directory / "train.arrow", records, "frame", format="shard")
    return {"TFRecord": str(directory / "train.tfrecord"), "shard": str(directory / "train.arrow")}


def first_batch_seconds(dataset: VideoDataset, batches_done: int) -> float:
    dataset.set_position(0, batches_done)
    start = time.process_time()
    next(iter(dataset))
    return time.process_time() - start


def read_seconds(dataset: VideoDataset, batches: int) -> float:
    dataset.set_position(0, 0)
    start = time.process_time()
    for _, _ in zip(range(batches), dataset):
        pass
    return time.process_time() - start


def main() -> None:
    config = DataConfig(num_classes=100, batch_size=BATCH, shuffle_buffer=256, sampling="random", num_samples=30, max_frames=FRAMES)
    rows, ratios = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in SEEDS:
            paths = write_data(Path(tmp) / f"s{seed}", seed)
            for kind, path in paths.items():
                dataset = VideoDataset(path, config, training=True, seed=seed)
                first_batch_seconds(dataset, 0)  # warm-up: file cache, first-use costs
                one = first_batch_seconds(dataset, 0)
                skip = first_batch_seconds(dataset, SKIP)
                read = read_seconds(dataset, SKIP)
                ratio = max(skip - one, 0.0) / read
                ratios.setdefault(kind, []).append(ratio)
                rows.append([kind, seed, one * 1e3, skip * 1e3, read * 1e3, ratio])
    table = markdown_table(["file", "seed", "first batch at 0 (CPU ms)", f"first batch at {SKIP} (CPU ms)", f"read batches 0..{SKIP - 1} (CPU ms)", "skip cost / read cost"], rows)
    summary = []
    for kind, values in ratios.items():
        mean, se = float(np.mean(values)), float(np.std(values, ddof=1) / np.sqrt(len(values)))
        summary.append([kind, f"{mean:.3f} ± {2 * se:.3f}", f"< {CLAIM}", threshold_verdict(values, CLAIM, above=False)])
    body = (
        f"{VIDEOS} frame-level videos of {FRAMES} frames (1024 + 128 uint8), batches of {BATCH}, shuffle buffer 256, random frame "
        f"sampling; resume position: batch {SKIP} of the epoch. Skip cost = (time to the first batch at position {SKIP}) − (time "
        f"to the first batch at position 0); read cost = time to read, parse and collate batches 0..{SKIP - 1}, what the "
        f"trainer did before. CPU seconds of the process (single-threaded work). {len(SEEDS)} seeds (data and shuffle), mean ± two standard errors.\n\n"
        + table + "\n\n"
        + markdown_table(["file", "skip cost / read cost", "claim", "verdict"], summary)
    )
    write_section("resume", "Resuming mid-epoch: skipping used batches", "python benchmarks/bench_resume.py", body)
    print(body)


if __name__ == "__main__":
    main()
