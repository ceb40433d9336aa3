"""A small random world for MiCRObE tests: labels with signature features, noise features.

Real arrays and records through real code; independent of the synthetic generator, so the
algorithm core is tested on its own.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from yt8m.io import RecordSchema, SparseFrames, VideoRecord, write_records
from yt8m.microbe.features import FRAME_BITS, SparseExamples, video_hash

SOURCES = ("im", "tm")


def toy_videos(*, videos: int = 200, frames: int = 8, labels: int = 12, features: int = 60, seed: int = 0, signature: int = 3,
               noise_per_frame: int = 3, world_seed: int = 0) -> list[tuple[str, np.ndarray, sparse.csr_matrix]]:
    """(video id, labels, frames [T, features]) per video. A video has 1-3 labels; each frame fires each
    label's signature features with probability 0.6 (high scores) and `noise_per_frame` random
    features (low scores). `world_seed` fixes the signatures, `seed` the videos."""
    world = np.random.default_rng(world_seed)
    signatures = [world.choice(features, size=signature, replace=False) for _ in range(labels)]
    rng = np.random.default_rng([world_seed, seed])
    out = []
    for v in range(videos):
        truth = np.sort(rng.choice(labels, size=int(rng.integers(1, 4)), replace=False))
        rows, cols, vals = [], [], []
        for t in range(frames):
            fired: dict[int, float] = {}
            for e in truth:
                for f in signatures[e]:
                    if rng.random() < 0.6:
                        fired[int(f)] = max(fired.get(int(f), 0.0), float(rng.beta(5, 2)))
            for f in rng.choice(features, size=noise_per_frame, replace=False):
                fired[int(f)] = max(fired.get(int(f), 0.0), float(rng.beta(2, 5)))
            for f, x in sorted(fired.items()):
                rows.append(t)
                cols.append(f)
                vals.append(x)
        X = sparse.csr_matrix((np.asarray(vals, np.float32), (rows, cols)), shape=(frames, features))
        out.append((f"s{seed}v{v:04d}", truth.astype(np.int64), X))
    return out


def toy_examples(**kwargs) -> SparseExamples:
    """The frames of `toy_videos` as examples (no windowing), video index in `video`."""
    vids = toy_videos(**kwargs)
    label_ids, label_indptr, uids, hashes, video = [], [0], [], [], []
    for v, (vid, truth, X) in enumerate(vids):
        for t in range(X.shape[0]):
            label_ids.extend(truth.tolist())
            label_indptr.append(len(label_ids))
            uids.append((v << FRAME_BITS) | t)
            hashes.append(video_hash(vid))
            video.append(v)
    return SparseExamples(sparse.vstack([X for _, _, X in vids], format="csr"), np.asarray(label_indptr, np.int64),
                          np.asarray(label_ids, np.int64), np.asarray(uids, np.int64), np.asarray(hashes, np.int64),
                          np.asarray(video, np.int64))


def toy_schema(num_classes: int) -> RecordSchema:
    return RecordSchema(kind="frame", feature_names=(), feature_sizes=(), num_classes=num_classes, sparse_features=SOURCES)


def toy_records(features: int = 60, **kwargs) -> list[VideoRecord]:
    """`toy_videos` as frame records: features [0, features/2) are "im", the rest "tm"."""
    half = features // 2
    records = []
    for vid, truth, X in toy_videos(features=features, **kwargs):
        record = VideoRecord(vid, truth, {})
        for name, lo, hi in (("im", 0, half), ("tm", half, features)):
            part = X[:, lo:hi].tocsr()
            part.sort_indices()
            record.sparse[name] = SparseFrames(part.indices.astype(np.int32), part.data.astype(np.float32), part.indptr.astype(np.int64))
        records.append(record)
    return records


def write_toy_files(directory, *, files: int = 2, features: int = 60, labels: int = 12, **kwargs) -> list[str]:
    """Write toy records into `files` TFRecord files; returns their paths."""
    records = toy_records(features=features, labels=labels, **kwargs)
    paths = []
    for i in range(files):
        path = str(directory / f"toy-{i}.tfrecord")
        write_records(path, records[i::files], toy_schema(labels))
        paths.append(path)
    return paths


def calibrated_toy():
    """Toy examples (160 videos of 6 frames, 4 noise features per frame) and a PairTable calibrated
    on them (20% held out, λ = 1, top 5 pairs per feature): the start of mining and cascade tests."""
    from yt8m.microbe.calibration import CalibrationStats, calibrate, heldout_split

    ex = toy_examples(videos=160, frames=6, noise_per_frame=4)
    stats = CalibrationStats(60, 12)
    stats.add(ex, heldout_split(ex.video_hash, 0.2))
    table, _ = calibrate(stats, lambdas=(1.0,), top_k=5)
    return ex, table
