"""Seeded fuzzing of the reading contract (issue 9): a 50-record frame TFRecord (plain and GZIP) and
a shard, damaged by bit flips, truncations, inserted garbage and swapped records. Every damaged
file either raises a RecordError naming file and offset/record, or, skipping, yields a subset of
the original records, each identical to its original, with read + skipped + unread adding up."""

import gzip

import numpy as np
import pytest

from helpers import frame_records
from yt8m.io import ReadStats, RecordError, iter_tfrecord, read_records, records_equal, write_records

N = 50
MUTATIONS = {"plain": 1000, "gzip": 500, "shard": 500}  # 2,000 mutations: ~15 s of CPU on one core


def _mutate(data: bytes, rng: np.random.Generator, frames: list[tuple[int, int]] | None) -> bytes:
    kind = rng.integers(5 if frames else 4)
    buf = bytearray(data)
    if kind == 0:  # bit flips
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(len(buf)))
            buf[pos] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # truncation
        del buf[int(rng.integers(len(buf))) :]
    elif kind == 2:  # inserted garbage
        pos = int(rng.integers(len(buf) + 1))
        buf[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8).tobytes()
    elif kind == 3:  # a deleted range
        pos = int(rng.integers(len(buf)))
        del buf[pos : pos + int(rng.integers(1, 40))]
    else:  # two records swapped (framing intact)
        i, j = sorted(rng.choice(len(frames), 2, replace=False))
        (a0, a1), (b0, b1) = frames[i], frames[j]
        buf = bytearray(data[:a0] + data[b0:b1] + data[a1:b0] + data[a0:a1] + data[b1:])
    return bytes(buf)


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    records = frame_records(N, min_frames=1, max_frames=3, sizes=(24, 8), num_classes=30)
    schema = dict(feature_sizes=(24, 8), num_classes=30)
    write_records(d / "clean.tfrecord", records, "frame", **schema)
    write_records(d / "clean.arrow", records, "frame", format="shard", **schema)
    plain = (d / "clean.tfrecord").read_bytes()
    frames = [(offset, offset + 16 + len(payload)) for _, offset, payload in iter_tfrecord(str(d / "clean.tfrecord"))]
    return d, {r.id: r for r in records}, schema, plain, frames, (d / "clean.arrow").read_bytes()


def _check(path: str, by_id: dict, schema: dict, framed_sizes: dict | None, stream_length: int | None):
    try:
        strict = list(read_records(path, "frame", **schema))
    except RecordError as err:
        assert err.path == path and (err.offset is not None or err.index is not None or err.field == "arrow"), err
        strict = None
    stats = ReadStats()
    back = list(read_records(path, "frame", skip_corrupt=True, stats=stats, **schema))
    ids = [r.id for r in back]
    assert len(set(ids)) == len(ids) and all(records_equal(r, by_id[r.id]) for r in back)
    assert stats.records == len(back)
    if strict is not None:  # no error: nothing may have been skipped, and the same records came out
        assert not stats.skipped and not stats.unread and [r.id for r in strict] == ids
    else:
        assert stats.skipped or stats.unread
    for item in stats.skipped + stats.unread:
        assert item.path == path and item.reason
    if framed_sizes is not None and stream_length is not None and stats.unread_bytes is not None:
        accounted = sum(framed_sizes[i] for i in ids) + sum(s.bytes for s in stats.skipped) + stats.unread_bytes
        assert accounted == stream_length
    return stats


@pytest.mark.parametrize("variant", ["plain", "gzip", "shard"])
def test_fuzzed_files_keep_the_reading_contract(originals, tmp_path, variant):
    d, by_id, schema, plain, frames, shard = originals
    framed_sizes = {rid: b - a for rid, (a, b) in zip(by_id, frames)}
    rng = np.random.default_rng({"plain": 1, "gzip": 2, "shard": 3}[variant])
    source = {"plain": plain, "gzip": gzip.compress(plain, mtime=0), "shard": shard}[variant]
    path = str(tmp_path / ("f.arrow" if variant == "shard" else "f.tfrecord"))
    outcomes = {"error": 0, "clean": 0}
    for _ in range(MUTATIONS[variant]):
        damaged = _mutate(source, rng, frames if variant == "plain" else None)
        with open(path, "wb") as f:
            f.write(damaged)
        if variant == "plain":
            length = len(damaged)
        elif variant == "gzip":
            try:
                length = len(gzip.decompress(damaged))
            except Exception:  # noqa: BLE001 - damaged stream: length unknown
                length = None
        else:
            length = None
        stats = _check(path, by_id, schema, framed_sizes if variant != "shard" else None, length)
        outcomes["error" if stats.skipped or stats.unread else "clean"] += 1
    assert outcomes["error"] > MUTATIONS[variant] // 2  # the mutations did damage
