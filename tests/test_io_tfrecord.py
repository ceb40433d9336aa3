"""TFRecord framing, the Example codec, the three record kinds, and bad input."""

import gzip
import os

import numpy as np
import pytest
import tfrecord

from helpers import frame_records, video_records
from yt8m.io import (
    RecordError,
    RecordSchema,
    ReadStats,
    TFRecordWriter,
    dequantize,
    encode_record,
    iter_tfrecord,
    masked_crc32c,
    quantize,
    read_records,
    records_equal,
    write_records,
)
from yt8m.io import example_pb


def test_masked_crc32c_known_vector():
    # CRC-32C("123456789") = 0xE3069283 (the Castagnoli check value); mask = rotr15 + 0xA282EAD8
    crc = 0xE3069283
    expected = ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert masked_crc32c(b"123456789") == expected


@pytest.mark.parametrize("kind", ["frame", "segment", "video"])
def test_round_trip_all_kinds(tmp_path, kind):
    records = video_records(12) if kind == "video" else frame_records(12, segments=kind == "segment")
    path = tmp_path / "data.tfrecord"
    assert write_records(path, records, kind, num_classes=50) == 12
    back = list(read_records(str(path), kind, num_classes=50))
    assert len(back) == 12 and all(records_equal(a, b) for a, b in zip(records, back))
    if kind == "segment":
        assert all(b.has_segments for b in back)


def test_files_readable_by_independent_tfrecord_library(tmp_path):
    records = frame_records(5)
    path = tmp_path / "frames.tfrecord"
    write_records(path, records, "frame")
    loaded = list(tfrecord.tfrecord_loader(str(path), None, {"id": "byte", "labels": "int"}, sequence_description={"rgb": "byte", "audio": "byte"}))
    assert len(loaded) == 5
    context, sequence = loaded[0]
    assert bytes(context["id"]).decode() == records[0].id
    assert np.array_equal(np.frombuffer(b"".join(sequence["rgb"]), np.uint8).reshape(-1, 1024), records[0].features["rgb"])
    vpath = tmp_path / "video.tfrecord"
    vrecords = video_records(3)
    write_records(vpath, vrecords, "video")
    vloaded = list(tfrecord.tfrecord_loader(str(vpath), None, {"id": "byte", "labels": "int", "mean_rgb": "float"}))
    assert np.allclose(vloaded[2]["mean_rgb"], vrecords[2].features["mean_rgb"])


def test_gzip_files(tmp_path):
    records = frame_records(4)
    path = tmp_path / "data.tfrecord.gz"
    write_records(path, records, "frame", compression="gzip")
    with open(path, "rb") as f:
        assert f.read(2) == b"\x1f\x8b"
    assert all(records_equal(a, b) for a, b in zip(records, read_records(str(path), "frame")))


def test_video_id_key_and_unlabeled_records(tmp_path):
    records = video_records(3)
    path = tmp_path / "v1.tfrecord"
    write_records(path, records, "video", id_keys=("video_id",))
    with TFRecordWriter(tmp_path / "test.tfrecord") as writer:
        writer.write(encode_record(records[0], RecordSchema.for_kind("video"), write_labels=False))
    assert [r.id for r in read_records(str(path), "video")] == [r.id for r in records]  # default keys accept video_id
    (unlabeled,) = read_records(str(tmp_path / "test.tfrecord"), "video")
    assert unlabeled.labels.size == 0


def test_configurable_feature_names_and_sizes(tmp_path):
    records = frame_records(3, sizes=(16, 8))
    for r in records:
        r.features = {"inc3": r.features["rgb"], "audio": r.features["audio"]}
    path = tmp_path / "x.tfrecord"
    write_records(path, records, "frame", feature_names=("inc3", "audio"), feature_sizes=(16, 8))
    back = list(read_records(str(path), "frame", feature_names=("inc3",), feature_sizes=(16,)))
    assert back[1].features["inc3"].shape == records[1].features["inc3"].shape


def test_dequantize_official_constants():
    q = np.array([0, 1, 128, 255], dtype=np.uint8)
    x = dequantize(q)
    assert x.dtype == np.float32
    assert x[0] == np.float32(-1.9921875) and x[-1] == np.float32(2.0078125)  # the 4/512 bias, not 4/510
    assert np.allclose(x, q * (4 / 255) + (4 / 512 - 2))


def test_quantize_like_the_extractor():
    assert quantize(np.array([-5.0, -2.0, 0.0, 2.0, 7.0])).tolist() == [0, 0, 128, 255, 255]  # 127.5 rounds to even
    x = np.linspace(-2, 2, 1001, dtype=np.float32)
    assert np.abs(dequantize(quantize(x)) - x).max() < 4 / 255  # within one quantization step


def _write(tmp_path, records, kind="frame", name="d.tfrecord", **kw):
    path = tmp_path / name
    write_records(path, records, kind, **kw)
    return str(path)


def test_crc_mismatch_names_file_record_offset(tmp_path):
    records = frame_records(3, min_frames=2, max_frames=2)
    path = _write(tmp_path, records)
    offsets = [offset for _, offset, _ in iter_tfrecord(path)]
    data = bytearray(open(path, "rb").read())
    data[offsets[1] + 40] ^= 0xFF  # inside record 1's payload
    open(path, "wb").write(bytes(data))
    with pytest.raises(RecordError) as err:
        list(read_records(path, "frame"))
    assert err.value.index == 1 and err.value.offset == offsets[1] and err.value.field == "data_crc"
    assert path in str(err.value) and "record 1" in str(err.value)
    stats = ReadStats()
    assert len(list(read_records(path, "frame", skip_corrupt=True, stats=stats))) == 2  # only record 1 is lost
    assert len(stats.skipped) == 1


def test_truncated_file(tmp_path):
    path = _write(tmp_path, frame_records(2))
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 10)
    with pytest.raises(RecordError, match="truncated") as err:
        list(read_records(path, "frame"))
    assert err.value.index == 1


def test_wrong_message_kind(tmp_path):
    path = _write(tmp_path, video_records(2), "video")
    with pytest.raises(RecordError, match="kind='video'") as err:
        list(read_records(path, "frame"))
    assert err.value.index == 0 and err.value.field == "rgb"
    fpath = _write(tmp_path, frame_records(2), name="f.tfrecord")
    with pytest.raises(RecordError, match="missing video-level feature"):
        list(read_records(fpath, "video"))
    with TFRecordWriter(tmp_path / "junk.tfrecord") as writer:
        writer.write(b"\xff\xff\xff\xff not a protobuf")
    with pytest.raises(RecordError, match="not a tf.train.SequenceExample"):
        list(read_records(str(tmp_path / "junk.tfrecord"), "frame"))


def _sequence_with(frame_bytes: list[bytes], labels=(1,), with_id=True) -> bytes:
    msg = example_pb.SequenceExample()
    if with_id:
        msg.context.feature["id"].bytes_list.value.append(b"abcd")
    msg.context.feature["labels"].int64_list.value.extend(labels)
    for b in frame_bytes:
        msg.feature_lists.feature_list["rgb"].feature.add().bytes_list.value.append(b)
        msg.feature_lists.feature_list["audio"].feature.add().bytes_list.value.append(bytes(128))
    return msg.SerializeToString()


@pytest.mark.parametrize(
    "payload,field,message",
    [
        (_sequence_with([bytes(1024), bytes(1000)]), "rgb", "frame 1 has 1000 bytes"),
        (_sequence_with([bytes(1024)], labels=(3, 3862)), "labels", "label 3862 outside"),
        (_sequence_with([bytes(1024)], with_id=False), "id", "missing video id"),
    ],
)
def test_bad_fields_are_named(tmp_path, payload, field, message):
    path = tmp_path / "bad.tfrecord"
    with TFRecordWriter(path) as writer:
        writer.write(_sequence_with([bytes(1024)]))
        writer.write(payload)
    with pytest.raises(RecordError, match=message) as err:
        list(read_records(str(path), "frame"))
    assert (err.value.index, err.value.field, err.value.path) == (1, field, str(path))
    assert err.value.offset > 0
    stats = ReadStats()
    good = list(read_records(str(path), "frame", skip_corrupt=True, stats=stats))
    assert len(good) == 1 and len(stats.skipped) == 1 and message in stats.messages()[0]


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "out.tfrecord"
    with pytest.raises(RuntimeError):
        with TFRecordWriter(path) as writer:
            writer.write(b"x")
            raise RuntimeError("interrupted")
    assert not path.exists() and not list(tmp_path.iterdir())


def test_empty_glob_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no files match"):
        list(read_records(str(tmp_path / "*.tfrecord"), "frame"))


def test_video_matrix_pads_each_feature_with_exact_zeros():
    from yt8m.io.reader import frames_matrix

    rng = np.random.default_rng(0)
    rgb, audio = rng.integers(0, 256, (7, 5), dtype=np.uint8), rng.integers(0, 256, (4, 3), dtype=np.uint8)
    matrix = frames_matrix([rgb, audio], 10, dequantized=True)
    expected = np.zeros((10, 8), np.float32)
    expected[:7, :5], expected[:4, 5:] = dequantize(rgb), dequantize(audio)
    assert np.array_equal(matrix, expected)  # padding is 0.0, not dequantize(0) = -1.99
    codes = frames_matrix([rgb, audio], 6)
    assert codes.dtype == np.uint8 and np.array_equal(codes[:, :5], rgb[:6]) and not codes[4:, 5:].any()


def test_fast_frame_path_equals_protobuf_path():
    from yt8m.io.records import _decode_plain_frames, decode_record

    schema = RecordSchema(num_classes=50)
    for record in frame_records(6, segments=True):
        data = encode_record(record, schema)
        fast = _decode_plain_frames(data, schema)
        assert fast is not None and records_equal(fast, record)
    # a layout the fast path does not know (feature lists before the context, a frame of other size)
    msg = example_pb.SequenceExample()
    msg.feature_lists.feature_list["rgb"].feature.add().bytes_list.value.append(bytes(range(256)) * 4)
    msg.feature_lists.feature_list["audio"].feature.add().bytes_list.value.append(bytes(128))
    msg.context.feature["id"].bytes_list.value.append(b"zz")
    odd = msg.SerializeToString()
    record = decode_record(odd, schema)
    assert record.id == "zz" and record.features["rgb"][0, 255] == 255
    extra = example_pb.SequenceExample()
    extra.feature_lists.feature_list["rgb"].feature.add().bytes_list.value.extend([bytes(1024), bytes(1024)])
    assert _decode_plain_frames(extra.SerializeToString(), schema) is None  # two strings in one frame: protobuf path
