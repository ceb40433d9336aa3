"""`yt8m convert` and `yt8m inspect` on unusual input: same-named files, manifests, resume, CLI errors."""

import json
import os

import pytest
from typer.testing import CliRunner

from helpers import frame_records
from yt8m.cli import app
from yt8m.io import ShardFile, read_records, records_equal, write_records
from yt8m.io import convert as convert_module
from yt8m.io.convert import convert
from yt8m.io.inspect import inspect_records

runner = CliRunner()


def test_same_named_inputs_keep_both_shards(tmp_path):
    train, validate = frame_records(6, seed=1), frame_records(4, seed=2)
    write_records(tmp_path / "train" / "a.tfrecord", train, "frame")
    write_records(tmp_path / "validate" / "a.tfrecord", validate, "frame")
    out = tmp_path / "shards"
    summary = convert([str(tmp_path / "train" / "a.tfrecord"), str(tmp_path / "validate" / "a.tfrecord")], str(out), workers=1, progress=False)
    shards = sorted(p for p in os.listdir(out) if p.endswith(".arrow"))
    assert len(shards) == 2 and summary.records == 10
    on_disk = sum(len(ShardFile(str(out / s))) for s in shards)
    assert on_disk == summary.records
    back = {r.id + str(len(r.labels)) + str(r.num_frames): r for r in read_records(str(out / "*.arrow"), "frame")}
    assert len(back) == 10


def test_manifest_describes_every_input_and_resume_trusts_only_matching_shards(tmp_path):
    records = frame_records(12)
    for i in range(3):
        write_records(tmp_path / f"in{i}.tfrecord", records[i * 4 : (i + 1) * 4], "frame")
    out = tmp_path / "shards"
    convert(str(tmp_path / "*.tfrecord"), str(out), workers=1, progress=False)
    manifest = json.loads((out / convert_module.MANIFEST).read_text())
    entries = manifest["inputs"]
    assert len(entries) == 3
    for entry in entries:
        assert {"input", "size", "mtime_ns", "shard", "records", "skipped", "sha256"} <= entry.keys()
        assert entry["records"] == 4 and entry["skipped"] == []
    # a shard damaged on disk (checksum differs) and an input that changed since are both redone
    first = out / entries[0]["shard"]
    first.write_bytes(first.read_bytes()[:-10])
    write_records(tmp_path / "in2.tfrecord", records[8:11], "frame")
    again = convert(str(tmp_path / "*.tfrecord"), str(out), workers=1, progress=False)
    assert (again.converted, again.skipped_existing) == (2, 1)
    assert again.records == 11  # what is on disk now: 4 + 4 + 3
    back = list(read_records(str(out / "*.arrow"), "frame"))
    assert len(back) == 11
    # another schema (here: the label bound) trusts nothing converted under the old one
    from yt8m.io.detect import detect_schema

    redo = convert(str(tmp_path / "*.tfrecord"), str(out), detect_schema(str(tmp_path / "in0.tfrecord"), num_classes=100), workers=1, progress=False)
    assert (redo.converted, redo.skipped_existing, redo.records) == (3, 0, 11)


def test_interrupted_convert_resumed_equals_uninterrupted(tmp_path):
    records = frame_records(20)
    for i in range(4):
        write_records(tmp_path / "in" / f"p{i}.tfrecord", records[i * 5 : (i + 1) * 5], "frame")
    pattern = str(tmp_path / "in" / "*.tfrecord")
    whole = tmp_path / "whole"
    convert(pattern, str(whole), workers=1, progress=False)
    part = tmp_path / "part"
    convert(pattern, str(part), workers=1, progress=False)
    # the interruption: one shard never finished (only a temp file), the manifest lacks its entry
    manifest = json.loads((part / convert_module.MANIFEST).read_text())
    lost = manifest["inputs"].pop(2)
    os.replace(part / lost["shard"], part / (lost["shard"] + ".tmp-12345"))
    (part / convert_module.MANIFEST).write_text(json.dumps(manifest))
    resumed = convert(pattern, str(part), workers=1, progress=False)
    assert (resumed.converted, resumed.skipped_existing) == (1, 3)
    assert sorted(p for p in os.listdir(part) if p.endswith(".arrow")) == sorted(p for p in os.listdir(whole) if p.endswith(".arrow"))
    a, b = list(read_records(str(part / "*.arrow"), "frame")), list(read_records(str(whole / "*.arrow"), "frame"))
    assert len(a) == 20 and all(records_equal(x, y) for x, y in zip(a, b))
    strip = lambda m: [{k: v for k, v in e.items() if k != "mtime_ns"} for e in m["inputs"]]  # noqa: E731
    assert strip(json.loads((part / convert_module.MANIFEST).read_text())) == strip(json.loads((whole / convert_module.MANIFEST).read_text()))


def test_convert_skip_corrupt_records_reasons_in_manifest(tmp_path):
    path = tmp_path / "a.tfrecord"
    write_records(path, frame_records(6, min_frames=2, max_frames=3), "frame")
    from yt8m.io import iter_tfrecord

    offsets = [o for _, o, _ in iter_tfrecord(str(path))]
    data = bytearray(path.read_bytes())
    data[offsets[2] + 20] ^= 1
    path.write_bytes(bytes(data))
    out = tmp_path / "shards"
    summary = convert(str(path), str(out), workers=1, skip_corrupt=True, progress=False)
    assert summary.records == 5 and summary.skipped_records == 1
    entry = json.loads((out / convert_module.MANIFEST).read_text())["inputs"][0]
    assert entry["records"] == 5 and entry["skipped"][0]["index"] == 2 and "CRC" in entry["skipped"][0]["reason"]


def test_inspect_checks_labels_against_3862_by_default(tmp_path):
    path = tmp_path / "a.tfrecord"
    write_records(path, frame_records(3, num_classes=5000, seed=3), "frame", num_classes=5000)
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code != 0 and "outside [0, 3862)" in result.output and "--num-classes" in result.output
    lines, summary = inspect_records(str(path), num_classes=5000)
    assert len(list(lines)) == 3 and summary.as_dict()["num_classes"] == 5000


def test_cli_gzip_damage_is_one_clear_line(tmp_path):
    path = tmp_path / "d.tfrecord.gz"
    write_records(path, frame_records(10, min_frames=20, max_frames=30), "frame", compression="gzip")
    path.write_bytes(path.read_bytes()[:-300])
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 2 and "GZIP" in result.output and str(path) in result.output and "offset" in result.output
    assert "Traceback" not in result.output and "Aborted" not in result.output
    result = runner.invoke(app, ["convert", str(path), "--out", str(tmp_path / "out"), "--skip-corrupt", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "unread" in result.output


def test_convert_on_dask_writes_what_the_local_run_writes(tmp_path):
    """`yt8m convert --dask local:2`: one task per file on a 2-worker cluster, same shards and manifest."""
    records = frame_records(30, num_classes=20)
    for i in range(3):
        write_records(tmp_path / "in" / f"t{i}.tfrecord", records[i * 10 : (i + 1) * 10], "frame")
    for name, extra in (("local", ["--workers", "1"]), ("dask", ["--dask", "local:2"])):
        out = CliRunner().invoke(app, ["convert", str(tmp_path / "in" / "*.tfrecord"), "--out", str(tmp_path / name), *extra])
        assert out.exit_code == 0, out.output
    for i in range(3):
        assert (tmp_path / "local" / f"t{i}.arrow").read_bytes() == (tmp_path / "dask" / f"t{i}.arrow").read_bytes()
    manifest = {n: json.loads((tmp_path / n / convert_module.MANIFEST).read_text()) for n in ("local", "dask")}
    assert manifest["local"] == manifest["dask"]
