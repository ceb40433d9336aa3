"""The 2019 segment task end to end: segment examples (rated pairs, mined negatives, context), folds by
shard, phase-2 fine-tuning from a phase-1 run with validation MAP@100K, segment inference options."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from helpers import frame_records
from yt8m.data.loader import DataConfig, make_loader
from yt8m.io import write_records

SIZES = (16, 4)
NUM_CLASSES = 10


def _segment_records(n: int, seed: int = 0) -> list:
    """Frame records whose segment ratings cover classes 1 and 2 only."""
    records = frame_records(n, seed=seed, min_frames=15, max_frames=30, num_classes=NUM_CLASSES, sizes=SIZES, segments=True)
    rng = np.random.default_rng(seed + 1)
    for record in records:
        record.segment_labels = rng.integers(1, 3, size=len(record.segment_labels)).astype(np.int64)
    return records


@pytest.fixture(scope="module")
def segment_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("segments")
    records = _segment_records(48)
    write_records(d / "train.tfrecord", frame_records(64, seed=5, min_frames=10, max_frames=30, num_classes=NUM_CLASSES, sizes=SIZES), "frame", feature_sizes=SIZES)
    for shard in range(4):
        write_records(d / f"validate{shard:04d}.tfrecord", records[shard * 12 : (shard + 1) * 12], "segment", feature_sizes=SIZES)
    (d / "segment_label_ids.csv").write_text("Index\n1\n2\n")
    return d, records


def _config(*extra):
    from yt8m.train.config import load_config

    return load_config(None, [
        "model.name=attention", "model.classifier=logistic", "model.attention_size=8",
        f"data.feature_sizes=[{SIZES[0]}, {SIZES[1]}]", f"data.num_classes={NUM_CLASSES}", "optimizer.batch_size=8",
        "train.tensorboard=false", "train.regularization_penalty=0", "train.checkpoint_every=0", *extra,
    ])


def test_segment_fine_tuning_only_moves_rated_classes(segment_data, tmp_path):
    """Defect: the trainer dropped `label_weights`, so every unrated (segment, class) pair was trained as a
    negative. Only classes 1 and 2 are rated: the classifier rows of the other classes must stay exactly as
    phase 1 left them (zero gradient under Adam means no update)."""
    from yt8m.train.trainer import train

    d, _ = segment_data
    phase1 = train(_config("data.kind=frame", "train.epochs=1"), str(d / "train.tfrecord"), tmp_path / "phase1", progress=False)
    phase2 = train(_config("data.kind=segment", "data.segment_labels=true", "train.epochs=2", f"train.init_from={tmp_path / 'phase1'}", "train.freeze=[pool.*]"),
                   str(d / "validate*.tfrecord"), tmp_path / "phase2", progress=False)
    before, after = load_file(str(phase1.checkpoint / "model.safetensors")), load_file(str(phase2.checkpoint / "model.safetensors"))
    rated = [1, 2]
    unrated = [c for c in range(NUM_CLASSES) if c not in rated]
    assert phase2.steps > 0
    assert not torch.equal(before["head.fc.weight"][rated], after["head.fc.weight"][rated])
    assert torch.equal(before["head.fc.weight"][unrated], after["head.fc.weight"][unrated])
    assert torch.equal(before["head.fc.bias"][unrated], after["head.fc.bias"][unrated])
