"""Issue 9: damaged and unusual input. Every path either raises a RecordError naming file, record
and offset, or (skip_corrupt) yields exactly the intact records and reports what it skipped."""

import gzip
import os
import struct

import numpy as np
import pytest

from helpers import frame_records, video_records
from yt8m.io import (
    ReadStats,
    RecordError,
    TFRecordWriter,
    iter_tfrecord,
    masked_crc32c,
    read_records,
    records_equal,
    write_records,
)
from yt8m.io import example_pb
from yt8m.io.detect import detect_schema


def _offsets(path):
    return [offset for _, offset, _ in iter_tfrecord(path)]


def _flip(path, position):
    data = bytearray(open(path, "rb").read())
    data[position] ^= 0x01
    open(path, "wb").write(bytes(data))


def test_payload_crc_failure_skips_only_that_record(tmp_path):
    records = frame_records(48, min_frames=2, max_frames=4)
    path = str(tmp_path / "d.tfrecord")
    write_records(path, records, "frame")
    offsets = _offsets(path)
    _flip(path, offsets[5] + 12 + 30)  # a payload byte of record 5
    stats = ReadStats()
    back = list(read_records(path, "frame", skip_corrupt=True, stats=stats))
    assert [r.id for r in back] == [r.id for i, r in enumerate(records) if i != 5]
    assert all(records_equal(a, b) for a, b in zip(back, [r for i, r in enumerate(records) if i != 5]))
    assert stats.records == 47 and len(stats.skipped) == 1 and not stats.unread
    skip = stats.skipped[0]
    assert (skip.path, skip.index, skip.offset, skip.field) == (path, 5, offsets[5], "data_crc")


def test_length_crc_failure_reports_the_unread_tail(tmp_path):
    records = frame_records(6, min_frames=2, max_frames=4)
    path = str(tmp_path / "d.tfrecord")
    write_records(path, records, "frame")
    offsets = _offsets(path)
    _flip(path, offsets[3] + 1)  # record 3's length field
    stats = ReadStats()
    back = list(read_records(path, "frame", skip_corrupt=True, stats=stats))
    assert [r.id for r in back] == [r.id for r in records[:3]]
    assert not stats.skipped and len(stats.unread) == 1
    tail = stats.unread[0]
    assert (tail.path, tail.index, tail.offset, tail.bytes) == (path, 3, offsets[3], os.path.getsize(path) - offsets[3])


@pytest.mark.parametrize("length", [2**33, 2**40])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_huge_length_with_valid_crc_is_a_record_error_not_an_allocation(tmp_path, length, compression):
    header = struct.pack("<Q", length)
    raw = header + struct.pack("<I", masked_crc32c(header)) + bytes(108)
    path = tmp_path / "huge.tfrecord"
    path.write_bytes(gzip.compress(raw) if compression else raw)
    with pytest.raises(RecordError, match=f"record 0 claims {length} bytes.*108 left") as err:
        list(iter_tfrecord(str(path)))
    assert (err.value.path, err.value.index, err.value.offset) == (str(path), 0, 0)
    stats = ReadStats()
    assert list(read_records(str(path), "frame", skip_corrupt=True, stats=stats)) == []
    assert stats.unread[0].bytes == 120


def _gzip_file(tmp_path, records, name="d.tfrecord.gz"):
    path = tmp_path / name
    write_records(path, records, "frame", compression="gzip")
    return str(path)


@pytest.mark.parametrize("damage", ["truncate", "trailer", "middle"])
def test_gzip_damage_is_a_record_error_with_uncompressed_offset(tmp_path, damage):
    records = frame_records(20, min_frames=30, max_frames=40)
    path = _gzip_file(tmp_path, records)
    data = bytearray(open(path, "rb").read())
    if damage == "truncate":
        data = data[: len(data) * 2 // 3]
    elif damage == "trailer":
        data[-6] ^= 0xFF  # the CRC32 of the gzip trailer
    else:
        data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(RecordError) as err:
        list(read_records(path, "frame"))
    assert err.value.path == path and err.value.offset is not None
    assert "GZIP" in str(err.value) or (damage == "middle" and err.value.field == "data_crc")  # inflated to wrong bytes
    stats = ReadStats()
    back = list(read_records(path, "frame", skip_corrupt=True, stats=stats))
    by_id = {r.id: r for r in records}
    assert all(records_equal(r, by_id[r.id]) for r in back)  # only intact records
    assert len(back) < 20 or damage == "trailer"
    assert stats.records == len(back) and len(stats.unread) + len(stats.skipped) >= 1


def test_plain_tfrecord_that_starts_like_gzip_is_read_as_plain(tmp_path):
    payload = bytes(range(256)) * 3000
    payload = payload[: 0x088B1F]  # little-endian length bytes 1f 8b 08: a gzip header's first 3 bytes
    path = tmp_path / "looks_gzip.tfrecord"
    with TFRecordWriter(path) as writer:
        writer.write(payload)
        writer.write(b"second")
    assert open(path, "rb").read(3) == b"\x1f\x8b\x08"
    assert [data for _, _, data in iter_tfrecord(str(path))] == [payload, b"second"]
    with pytest.raises(RecordError, match="GZIP"):
        list(iter_tfrecord(str(path), compression="gzip"))


def _sequence(rgb_frames, labels=None, label_kind="int64"):
    msg = example_pb.SequenceExample()
    msg.context.feature["id"].bytes_list.value.append(b"abcd")
    if labels is not None:
        target = msg.context.feature["labels"]
        if label_kind == "int64":
            target.int64_list.value.extend(labels)
        elif label_kind == "float":
            target.float_list.value.extend(float(x) for x in labels)
        else:
            target.bytes_list.value.extend(str(x).encode() for x in labels)
    for frame in rgb_frames:
        msg.feature_lists.feature_list["rgb"].feature.add().bytes_list.value.append(frame)
        msg.feature_lists.feature_list["audio"].feature.add().bytes_list.value.append(bytes(128))
    return msg.SerializeToString()


@pytest.mark.parametrize("label_kind", ["float", "bytes"])
def test_labels_of_the_wrong_type_are_a_record_error(tmp_path, label_kind):
    path = tmp_path / "l.tfrecord"
    with TFRecordWriter(path) as writer:
        writer.write(_sequence([bytes(1024)], labels=[1, 2], label_kind=label_kind))
    with pytest.raises(RecordError, match="int64") as err:
        list(read_records(str(path), "frame"))
    assert (err.value.index, err.value.field) == (0, "labels")


def test_schema_detected_over_first_valid_records(tmp_path):
    good = frame_records(5, min_frames=3, max_frames=5)
    first = tmp_path / "a0.tfrecord"
    first.write_bytes(b"")  # an empty first file in the glob
    path = tmp_path / "a1.tfrecord"
    with TFRecordWriter(path) as writer:
        writer.write(b"\xff\xff\xff not a protobuf")
        writer.write(_sequence([bytes(1024), bytes(1000), bytes(1024)], labels=[1]))  # one bad frame
        for record in good:
            from yt8m.io import encode_record
            from yt8m.io.records import RecordSchema

            writer.write(encode_record(record, RecordSchema()))
    schema = detect_schema([str(first), str(path)])
    assert (schema.kind, schema.feature_names, schema.feature_sizes) == ("frame", ("rgb", "audio"), (1024, 128))
    with pytest.raises(RecordError) as err:
        list(read_records(str(tmp_path / "*.tfrecord"), schema))
    assert err.value.index == 0 and err.value.path == str(path)
    stats = ReadStats()
    back = list(read_records(str(tmp_path / "*.tfrecord"), schema, skip_corrupt=True, stats=stats))
    assert all(records_equal(a, b) for a, b in zip(back, good)) and len(back) == 5
    assert [s.index for s in stats.skipped] == [0, 1]


def test_schema_detection_without_any_valid_record_is_a_clear_error(tmp_path):
    (tmp_path / "empty.tfrecord").write_bytes(b"")
    with TFRecordWriter(tmp_path / "junk.tfrecord") as writer:
        writer.write(b"\xff\xff junk")
    with pytest.raises(RecordError, match="no valid record"):
        detect_schema(str(tmp_path / "*.tfrecord"))


def test_shards_are_readable_through_fsspec_urls(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    records = frame_records(7, segments=True)
    local = tmp_path / "s.arrow"
    write_records(local, records, "segment", format="shard")
    fs = fsspec.filesystem("memory")
    fs.pipe("/yt8m-test/shards/s.arrow", local.read_bytes())
    back = list(read_records("memory://yt8m-test/shards/*.arrow", "segment"))
    assert len(back) == 7 and all(records_equal(a, b) for a, b in zip(back, records))
    assert detect_schema("memory://yt8m-test/shards/s.arrow").kind == "segment"
    fs.rm("/yt8m-test", recursive=True)
