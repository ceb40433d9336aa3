"""eval/predict from the command line: one folder per data set, segment MAP@100K, MiCRObE and
`--segments`, `load_model(...).predict` reading frames as `yt8m predict` does, progress lines."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import yt8m
from helpers import frame_records, video_records
from yt8m.cli import app
from yt8m.evaluation.segments import segment_map_at_k, segment_ratings
from yt8m.io import write_records
from yt8m.predict.writers import top_k
from yt8m.train.config import load_config
from yt8m.train.trainer import train

runner = CliRunner()
SIZES = (16, 8)


@pytest.fixture(scope="module")
def video_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("video_run")
    records = video_records(90, num_classes=12)
    write_records(d / "train.tfrecord", records[:60], "video")
    (d / "a").mkdir()
    (d / "b").mkdir()
    write_records(d / "a" / "validate.tfrecord", records[60:80], "video")
    write_records(d / "b" / "validate.tfrecord", records[80:], "video")
    config = load_config(None, ["model.name=logistic", "data.kind=video", "data.num_classes=12", "optimizer.batch_size=16", "train.epochs=1", "train.tensorboard=false"])
    train(config, str(d / "train.tfrecord"), d / "run", progress=False)
    return d


def test_eval_writes_one_folder_per_data_set(video_run):
    d = video_run
    for data in (d / "a" / "validate.tfrecord", d / "train.tfrecord", d / "b" / "validate.tfrecord"):
        result = runner.invoke(app, ["eval", str(d / "run"), "--data", str(data)])
        assert result.exit_code == 0, result.output
    folders = sorted(p.parent.name for p in (d / "run" / "eval").glob("*/metrics.json"))
    assert len(folders) == 3 and "train" in folders and "validate" in folders, folders
    by_data = {json.loads((d / "run" / "eval" / f / "metrics.json").read_text())["data"][0]: f for f in folders}
    assert set(by_data) == {str(d / "a" / "validate.tfrecord"), str(d / "train.tfrecord"), str(d / "b" / "validate.tfrecord")}
    assert json.loads((d / "run" / "eval" / by_data[str(d / "train.tfrecord")] / "metrics.json").read_text())["num_videos"] == 60
    # the same data again goes to its own folder (and replaces only its own metrics)
    again = runner.invoke(app, ["eval", str(d / "run"), "--data", str(d / "a" / "validate.tfrecord")])
    assert again.exit_code == 0 and len(list((d / "run" / "eval").glob("*/metrics.json"))) == 3


def test_eval_and_predict_show_progress_with_known_totals(video_run, tmp_path):
    d = video_run
    result = runner.invoke(app, ["eval", str(d / "run"), "--data", str(d / "train.tfrecord"), "--out", str(tmp_path / "e")])
    assert result.exit_code == 0 and "[eval] 60/60 videos (100%)" in result.output, result.output
    result = runner.invoke(app, ["predict", str(d / "run"), "--data", str(d / "train.tfrecord"), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0 and "[predict] 60/60 videos (100%)" in result.output, result.output


def segment_rated_records(n: int, num_classes: int) -> list:
    """Frame records with unique (segment, class) ratings and at least one positive."""
    records = frame_records(n, seed=3, min_frames=15, max_frames=30, num_classes=num_classes, sizes=SIZES, segments=True)
    for i, r in enumerate(records):
        pairs = {}
        for start, label, score in zip(r.segment_start_times, r.segment_labels, r.segment_scores):
            pairs[(int(start), int(label))] = float(score)
        pairs[(0, i % num_classes)] = 1.0
        r.segment_start_times = np.array([s for s, _ in pairs], np.int64)
        r.segment_end_times = r.segment_start_times + 5
        r.segment_labels = np.array([c for _, c in pairs], np.int64)
        r.segment_scores = np.array(list(pairs.values()), np.float32)
    return records


def test_eval_segments_computes_map_at_100k(tmp_path):
    records = segment_rated_records(16, num_classes=6)
    write_records(tmp_path / "seg.tfrecord", records, "segment", feature_sizes=SIZES)
    config = load_config(None, ["model.name=frame_logistic", "data.num_classes=6", "data.feature_sizes=[16, 8]", "optimizer.batch_size=4", "train.epochs=1", "train.tensorboard=false"])
    train(config, str(tmp_path / "seg.tfrecord"), tmp_path / "run", progress=False)
    result = runner.invoke(app, ["eval", str(tmp_path / "run"), "--data", str(tmp_path / "seg.tfrecord"), "--segments"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "eval" / "seg-segments" / "metrics.json").read_text())
    # the same number from the submission `predict --segments` writes, scored by the segment metric
    (tmp_path / "segment_label_ids.csv").write_text("Index\n" + "".join(f"{c}\n" for c in sorted({int(l) for r in records for l in r.segment_labels})))
    out = tmp_path / "submission.csv"
    assert runner.invoke(app, ["predict", str(tmp_path / "run"), "--data", str(tmp_path / "seg.tfrecord"), "--out", str(out), "--segments"]).exit_code == 0
    assert metrics["segment_map_at_100k"] == pytest.approx(segment_map_at_k(out, segment_ratings(records)))
    assert 0 < metrics["segment_map_at_100k"] <= 1 and "segment_map_at_100k=" in result.output


def test_segments_on_a_microbe_model_is_a_clear_error(tmp_path):
    from microbe_toy import write_toy_files
    from yt8m.microbe import MicrobeConfig, run_microbe
    from yt8m.microbe.dask_jobs import LocalRunner

    paths = write_toy_files(tmp_path, files=1, videos=40, frames=6, noise_per_frame=2)
    config = MicrobeConfig(train=paths, num_classes=12, output=str(tmp_path / "model"),
                           features={"sources": ["im", "tm"], "sizes": [30, 30], "window": 0},
                           calibration={"lambdas": [1.0], "top_k": 4, "blocks": 1}, mining={"examples": 20},
                           second_order={"model": "logistic", "label_blocks": 1}, dask={"scheduler": "sync"})
    run_microbe(config, runner=LocalRunner())
    for command in (["predict", str(tmp_path / "model"), "--data", paths[0], "--out", str(tmp_path / "s.csv"), "--segments"],
                    ["eval", str(tmp_path / "model"), "--data", paths[0], "--segments"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and "MiCRObE model" in result.output and "segments" in result.output, result.output


@pytest.fixture(scope="module")
def frame_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("frame_run")
    records = frame_records(40, seed=5, min_frames=9, max_frames=20, num_classes=8, sizes=SIZES)
    write_records(d / "train.tfrecord", records, "frame", feature_sizes=SIZES)
    config = load_config(None, ["model.name=frame_logistic", "data.num_classes=8", "data.feature_sizes=[16, 8]", "data.skip_frames=3", "data.max_frames=5",
                                "optimizer.batch_size=8", "train.epochs=2", "train.tensorboard=false"])
    train(config, str(d / "train.tfrecord"), d / "run", progress=False)
    return d, records


def test_load_model_predict_selects_frames_like_yt8m_predict(frame_run, tmp_path):
    d, records = frame_run
    out = tmp_path / "p.jsonl"
    result = runner.invoke(app, ["predict", str(d / "run"), "--data", str(d / "train.tfrecord"), "--out", str(out), "--top-k", "5"])
    assert result.exit_code == 0, result.output
    expected = {row["id"]: row["classes"] for row in map(json.loads, out.read_text().splitlines())}
    frames = [np.concatenate([r.features["rgb"], r.features["audio"]], axis=1) for r in records]
    model = yt8m.load_model(d / "run")
    for scores in (model.predict(frames), model.predict(padded(frames), [len(f) for f in frames])):
        classes, _ = top_k(scores, 5)
        assert {r.id: c.tolist() for r, c in zip(records, classes)} == expected


def padded(frames: list[np.ndarray]) -> np.ndarray:
    batch = np.zeros((len(frames), max(len(f) for f in frames), frames[0].shape[1]), np.uint8)
    for i, f in enumerate(frames):
        batch[i, : len(f)] = f
    return batch


def test_load_model_predict_refuses_float_frames(frame_run):
    d, records = frame_run
    model = yt8m.load_model(d / "run")
    frames = np.concatenate([records[0].features["rgb"], records[0].features["audio"]], axis=1)
    for bad in ([frames.astype(np.float32)], padded([frames]).astype(np.float64), padded([frames]).astype(np.int64)):
        with pytest.raises(ValueError, match="uint8"):
            model.predict(bad)
    with pytest.raises(ValueError, match="24 dims"):
        model.predict([frames[:, :10]])
