"""Small record factories for I/O and loader tests (real records, written through real code)."""

from __future__ import annotations

import numpy as np

from yt8m.io import SparseFrames, VideoRecord


def frame_records(n: int, *, seed: int = 0, min_frames: int = 3, max_frames: int = 40, num_classes: int = 50, sizes=(1024, 128), segments: bool = False, sparse: tuple[str, ...] = ()) -> list[VideoRecord]:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        frames = int(rng.integers(min_frames, max_frames + 1))
        feats = {name: rng.integers(0, 256, (frames, size), dtype=np.uint8) for name, size in zip(("rgb", "audio"), sizes)}
        labels = np.sort(rng.choice(num_classes, size=int(rng.integers(0, 4)), replace=False)).astype(np.int64)
        record = VideoRecord(f"{i:04d}", labels, feats)
        if segments:
            k = int(rng.integers(1, 4))
            record.segment_start_times = rng.choice(np.arange(0, frames, 5), size=k).astype(np.int64)
            record.segment_end_times = record.segment_start_times + 5
            record.segment_labels = rng.integers(0, num_classes, size=k).astype(np.int64)
            record.segment_scores = rng.integers(0, 2, size=k).astype(np.float32)
        for name in sparse:
            ids = [np.sort(rng.choice(100, size=int(rng.integers(0, 4)), replace=False)) for _ in range(frames)]
            record.sparse[name] = SparseFrames.from_lists(ids, [rng.random(len(x)).astype(np.float32) for x in ids])
        records.append(record)
    return records


def video_records(n: int, *, seed: int = 0, num_classes: int = 50) -> list[VideoRecord]:
    rng = np.random.default_rng(seed)
    return [
        VideoRecord(
            f"v{i:04d}",
            np.sort(rng.choice(num_classes, size=int(rng.integers(1, 4)), replace=False)).astype(np.int64),
            {"mean_rgb": rng.normal(size=1024).astype(np.float32), "mean_audio": rng.normal(size=128).astype(np.float32)},
        )
        for i in range(n)
    ]
