"""Arrow shards: round trips, format detection, conversion and its resume."""

import os

import numpy as np
import pytest

from helpers import frame_records, video_records
from yt8m.io import RecordError, ShardFile, file_format, read_records, records_equal, write_records
from yt8m.io.convert import convert
from yt8m.io.detect import detect_schema
from yt8m.io.inspect import inspect_records


@pytest.mark.parametrize("kind", ["frame", "segment", "video"])
def test_shard_round_trip(tmp_path, kind):
    records = video_records(30) if kind == "video" else frame_records(30, segments=kind == "segment", sparse=("im",) if kind == "frame" else ())
    path = tmp_path / "x.arrow"
    extra = {"sparse_features": ("im",)} if kind == "frame" else {}
    write_records(path, records, kind, format="shard", **extra)
    assert file_format(str(path)) == "shard"
    back = list(read_records(str(path), kind, **extra))
    assert all(records_equal(a, b) for a, b in zip(records, back)) and len(back) == 30
    shard = ShardFile(str(path))
    assert len(shard) == 30 and records_equal(shard.record(17), records[17])


def test_shard_rejects_missing_feature(tmp_path):
    path = tmp_path / "x.arrow"
    write_records(path, frame_records(2), "frame", format="shard")
    with pytest.raises(RecordError, match="field 'inc3'"):
        list(read_records(str(path), "frame", feature_names=("inc3",), feature_sizes=(1024,)))
    with pytest.raises(RecordError, match="size 1024 in the shard, expected 512"):
        list(read_records(str(path), "frame", feature_names=("rgb",), feature_sizes=(512,)))


def test_detect_schema(tmp_path):
    write_records(tmp_path / "s.tfrecord", frame_records(2, segments=True, sparse=("tm",)), "segment", sparse_features=("tm",))
    schema = detect_schema(str(tmp_path / "s.tfrecord"))
    assert (schema.kind, schema.feature_names, schema.feature_sizes, schema.sparse_features) == ("segment", ("rgb", "audio"), (1024, 128), ("tm",))
    write_records(tmp_path / "v.tfrecord", video_records(2), "video")
    assert detect_schema(str(tmp_path / "v.tfrecord")).feature_names == ("mean_rgb", "mean_audio")


def test_convert_round_trip_and_resume(tmp_path):
    records = frame_records(40, segments=True)
    for i in range(4):
        write_records(tmp_path / f"train{i:04d}.tfrecord", records[i * 10 : (i + 1) * 10], "segment")
    out = tmp_path / "shards"
    summary = convert(str(tmp_path / "*.tfrecord"), str(out), workers=2, progress=False)
    assert summary.converted == 4 and summary.records == 40
    assert sorted(p for p in os.listdir(out) if p.endswith(".arrow")) == [f"train{i:04d}.arrow" for i in range(4)]
    back = list(read_records(str(out / "*.arrow"), "segment"))
    assert all(records_equal(a, b) for a, b in zip(records, back))
    # resume: finished shards are never rewritten, a missing one is redone, leftovers of a crash are ignored
    kept = out / "train0001.arrow"
    mtime = os.stat(kept).st_mtime_ns
    os.remove(out / "train0002.arrow")
    (out / "train0002.arrow.tmp-99999").write_bytes(b"half written")
    again = convert(str(tmp_path / "*.tfrecord"), str(out), workers=1, progress=False)
    assert (again.converted, again.skipped_existing) == (1, 3)
    assert os.stat(kept).st_mtime_ns == mtime
    assert records_equal(ShardFile(str(out / "train0002.arrow")).record(3), records[23])


def test_convert_skip_corrupt_and_failure_leaves_nothing(tmp_path):
    path = tmp_path / "a.tfrecord"
    write_records(path, frame_records(5, num_classes=4000), "frame", num_classes=4000)
    out = tmp_path / "shards"
    with pytest.raises(RecordError, match="outside"):
        convert(str(path), str(out), detect_schema(str(path), num_classes=3), workers=1, progress=False)
    assert not out.exists() or not os.listdir(out)
    summary = convert(str(path), str(out), detect_schema(str(path), num_classes=3), workers=1, skip_corrupt=True, progress=False)
    assert summary.skipped_records + summary.records == 5 and summary.skipped_records > 0


def test_inspect_summary(tmp_path):
    records = frame_records(10)
    write_records(tmp_path / "a.tfrecord", records, "frame")
    lines, summary = inspect_records(str(tmp_path / "a.tfrecord"))
    lines = list(lines)
    assert len(lines) == 10 and lines[3]["id"] == records[3].id
    from yt8m.io import dequantize

    assert lines[3]["features"]["rgb"]["mean"] == pytest.approx(float(dequantize(records[3].features["rgb"]).mean()), abs=1e-5)
    result = summary.as_dict()
    assert result["videos_without_labels"] == sum(r.labels.size == 0 for r in records)
    assert result["frames"]["max"] == max(r.num_frames for r in records)


def test_loader_checks_frame_shard_rows_unless_told_not_to(tmp_path):
    """A flipped feature byte in a frame shard: the loader names the record (or skips only it);
    `data.verify_checksums: false` trades that check for read speed and reads the damaged row as is."""
    from yt8m.data.loader import DataConfig, VideoDataset

    records = frame_records(12)
    path = tmp_path / "x.arrow"
    write_records(path, records, "frame", format="shard")
    data = bytearray(path.read_bytes())
    at = data.find(records[5].features["rgb"].tobytes()[:256])
    assert at > 0
    data[at + 100] ^= 0x40
    path.write_bytes(bytes(data))

    def ids(**options):
        config = DataConfig(kind="frame", batch_size=4, **options)
        return [i for batch in VideoDataset([str(path)], config) for i in batch["ids"]]

    with pytest.raises(RecordError, match="record 5.*checksum"):
        ids()
    assert ids(skip_corrupt=True) == [r.id for i, r in enumerate(records) if i != 5]
    assert ids(verify_checksums=False) == [r.id for r in records]


@pytest.mark.parametrize("kind", ["segment", "video"])
def test_format2_shards_still_read_and_checked(tmp_path, kind):
    """Shards written before format 3 (CRC32C sums; fixtures written by that code) read back exactly,
    and a flipped byte in one row is still caught by its CRC32C."""
    fixture = os.path.join(os.path.dirname(__file__), "data", f"shard_format2_{'frame' if kind == 'segment' else 'video'}.arrow")
    if kind == "segment":
        records, extra = frame_records(6, max_frames=8, segments=True, sparse=("im",)), {"sparse_features": ("im",)}
    else:
        records, extra = video_records(6), {}
    back = list(read_records(fixture, kind, **extra))
    assert len(back) == 6 and all(records_equal(a, b) for a, b in zip(records, back))
    raw = bytearray(open(fixture, "rb").read())
    needle = (records[3].features["rgb"].tobytes()[:64] if kind == "segment" else records[3].features["mean_rgb"].tobytes()[:64])
    at = bytes(raw).index(needle)
    raw[at + 5] ^= 0xFF
    damaged = tmp_path / "damaged.arrow"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(RecordError) as err:
        list(read_records(str(damaged), kind, **extra))
    assert err.value.index == 3 and err.value.field == "crc32c"
    kept = list(read_records(str(damaged), kind, skip_corrupt=True, **extra))
    assert [r.id for r in kept] == [r.id for i, r in enumerate(records) if i != 3]
