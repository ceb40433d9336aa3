"""The torch loader: exact sharding over workers and ranks, shuffling, frame sampling, collation."""

from collections import Counter

import numpy as np
import pytest
import torch

from helpers import frame_records, video_records
from yt8m.data import DataConfig, VideoDataset, make_loader, select_frames
from yt8m.io import dequantize, write_records


@pytest.fixture(scope="module")
def frame_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("frames")
    records = frame_records(53, num_classes=20)
    write_records(d / "a.tfrecord", records[:30], "frame")
    write_records(d / "b.arrow", records[30:], "frame", format="shard")
    return d, records


@pytest.mark.parametrize("pattern", ["a.tfrecord", "*"])
def test_every_record_exactly_once_over_2_workers_x_2_ranks(frame_files, pattern):
    d, records = frame_files
    config = DataConfig(num_classes=20, batch_size=4, num_workers=2, shuffle_buffer=8)
    expected = {r.id for r in (records[:30] if pattern == "a.tfrecord" else records)}
    for training in (False, True):
        seen = Counter()
        for rank in range(2):
            loader = make_loader(str(d / pattern), config, training=training, seed=3, rank=rank, world_size=2)
            for batch in loader:
                seen.update(batch["ids"])
        assert set(seen.values()) == {1}
        if training:  # full batches only: each of the 4 slots drops fewer than one batch of videos
            assert set(seen) <= expected and len(expected) - len(seen) < 4 * config.batch_size
        else:
            assert set(seen) == expected


def test_many_files_dealt_whole(tmp_path):
    records = frame_records(24, num_classes=20)
    for i in range(6):
        write_records(tmp_path / f"t{i}.tfrecord", records[i * 4 : (i + 1) * 4], "frame")
    config = DataConfig(num_classes=20, batch_size=5)
    per_slot = [
        [i for b in VideoDataset(str(tmp_path), config, rank=r, world_size=3) for i in b["ids"]] for r in range(3)
    ]
    assert sorted(sum(per_slot, [])) == sorted(r.id for r in records)
    assert all(len(s) == 8 for s in per_slot)


def test_shuffle_is_seeded_and_changes_with_epoch(frame_files):
    d, _ = frame_files
    config = DataConfig(num_classes=20, batch_size=8, shuffle_buffer=16)

    def order(seed, epoch):
        ds = VideoDataset(str(d), config, training=True, seed=seed)
        ds.set_epoch(epoch)
        return [i for b in ds for i in b["ids"]]

    assert order(1, 0) == order(1, 0)
    assert order(1, 0) != order(1, 1) and order(1, 0) != order(2, 0)
    assert sorted(order(1, 0)) == sorted(order(2, 0))
    # evaluation ignores shuffling: file order
    assert [i for b in VideoDataset(str(d), config) for i in b["ids"]] == [r.id for r in frame_files[1]]


def test_batches_hold_uint8_frames_lengths_and_multi_hot(frame_files):
    d, records = frame_files
    config = DataConfig(num_classes=20, batch_size=5, max_frames=25, pad_to="max_frames")
    batch = next(iter(VideoDataset(str(d / "a.tfrecord"), config)))
    assert batch["features"].dtype == torch.uint8 and batch["features"].shape == (5, 25, 1152)
    for i, r in enumerate(records[:5]):
        n = min(r.num_frames, 25)
        assert batch["num_frames"][i] == n
        assert torch.equal(batch["features"][i, :n, :1024], torch.from_numpy(r.features["rgb"][:n]))
        assert not batch["features"][i, n:].any()
        assert batch["labels"][i].nonzero().flatten().tolist() == r.labels.tolist()


def test_video_level_batches_are_float(tmp_path):
    records = video_records(7, num_classes=30)
    write_records(tmp_path / "v.tfrecord", records, "video")
    batch = next(iter(VideoDataset(str(tmp_path / "v.tfrecord"), DataConfig(kind="video", num_classes=30, batch_size=7))))
    assert batch["features"].dtype == torch.float32 and batch["features"].shape == (7, 1152)
    assert torch.equal(batch["features"][2, :1024], torch.from_numpy(records[2].features["mean_rgb"]))


def test_frame_sampling_strategies():
    rng = np.random.default_rng(0)
    assert select_frames(100, max_frames=30) == slice(0, 30)
    assert select_frames(100, skip_frames=20) == slice(20, 100)
    assert select_frames(10, skip_frames=20) == slice(0, 10)  # too short to skip: keep everything
    idx = select_frames(100, strategy="random", num_samples=30, skip_frames=20, rng=rng)
    assert len(idx) == 30 and idx.min() >= 20 and np.all(np.diff(idx) >= 0)
    window = select_frames(100, strategy="window", num_samples=30, rng=rng)
    assert window.stop - window.start == 30 and 0 <= window.start <= 70
    assert select_frames(12, strategy="window", num_samples=30, rng=rng) == slice(0, 12)
    with pytest.raises(ValueError, match="unknown frame sampling"):
        select_frames(10, strategy="middle")


def test_training_sampling_and_eval_determinism(frame_files):
    d, records = frame_files
    config = DataConfig(num_classes=20, batch_size=53, sampling="random", num_samples=6)
    train = next(iter(VideoDataset(str(d), config, training=True)))
    assert train["features"].shape[1] == 6 and (train["num_frames"] == 6).all()
    eval_a = next(iter(VideoDataset(str(d), config)))
    eval_b = next(iter(VideoDataset(str(d), config)))
    assert torch.equal(eval_a["features"], eval_b["features"])
    assert eval_a["num_frames"].tolist() == [min(r.num_frames, 300) for r in records]


def test_segment_examples(tmp_path):
    records = frame_records(6, segments=True, min_frames=12, num_classes=20)
    write_records(tmp_path / "s.tfrecord", records, "segment")
    config = DataConfig(kind="segment", num_classes=20, batch_size=100, segment_labels=True)
    batch = next(iter(VideoDataset(str(tmp_path / "s.tfrecord"), config)))
    expected_ids = [f"{r.id}:{s}" for r in records for s in dict.fromkeys(r.segment_start_times.tolist())]
    assert batch["ids"] == expected_ids
    assert batch["features"].shape[1:] == (5, 1152)
    r = records[0]
    start = int(r.segment_start_times[0])
    chunk = r.features["rgb"][start : start + 5]
    assert torch.equal(batch["features"][0, : len(chunk), :1024], torch.from_numpy(chunk))
    rated = r.segment_start_times == start
    for label, score in zip(r.segment_labels[rated], r.segment_scores[rated]):
        assert batch["label_weights"][0, label] == 1 and batch["labels"][0, label] == score
