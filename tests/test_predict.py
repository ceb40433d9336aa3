"""Prediction outputs and the eval/predict commands: formats, streaming, bad input."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import yt8m
from helpers import frame_records, video_records
from yt8m.cli import app
from yt8m.evaluation import gap, hit_at_k
from yt8m.io import write_records
from yt8m.predict.writers import top_k
from yt8m.train.config import load_config
from yt8m.train.trainer import train

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("predict")
    records = video_records(120, num_classes=25)
    write_records(d / "train.tfrecord", records[:80], "video")
    write_records(d / "validate.tfrecord", records[80:], "video")
    (d / "vocabulary.csv").write_text(
        "Index,TrainVideoCount,KnowledgeGraphId,Name,WikiUrl,Vertical1,Vertical2,Vertical3,WikiDescription\n"
        + "".join(f"{i},1,/m/{i},class {i},,V,,,\n" for i in range(25))
    )
    config = load_config(None, ["model.name=moe", "data.kind=video", "data.num_classes=25", "optimizer.batch_size=16", "train.epochs=2", "train.tensorboard=false"])
    result = train(config, str(d / "train.tfrecord"), d / "run", progress=False)
    return d, records, result


def test_top_k_sorted_with_ties_by_class():
    p = np.array([[0.1, 0.9, 0.5, 0.9], [0.3, 0.2, 0.1, 0.0]])
    classes, scores = top_k(p, 3)
    assert classes.tolist() == [[1, 3, 2], [0, 1, 2]] and scores[0].tolist() == [0.9, 0.9, 0.5]


def test_kaggle_csv(trained, tmp_path):
    d, records, _ = trained
    out = tmp_path / "predictions.csv"
    result = runner.invoke(app, ["predict", str(d / "run"), "--data", str(d / "validate.tfrecord"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().split("\n")
    assert lines[0] == "VideoId,LabelConfidencePairs" and lines[-1] == ""
    assert len(lines) == 2 + 40
    model = yt8m.load_model(d / "run")
    expected = dict(model.predict_records(records[80:]))
    for line in lines[1:-1]:
        vid, pairs = line.split(",")
        tokens = pairs.split(" ")
        classes, scores = [int(t) for t in tokens[::2]], [float(t) for t in tokens[1::2]]
        assert len(classes) == 20 and scores == sorted(scores, reverse=True)
        assert tokens[1] == f"{expected[vid][classes[0]]:g}" and classes[0] == int(np.argmax(expected[vid]))


def test_parquet_and_jsonl_with_class_names(trained, tmp_path):
    d, _, _ = trained
    runner.invoke(app, ["predict", str(d / "run"), "--data", str(d / "validate.tfrecord"), "--out", str(tmp_path / "p.parquet"), "--top-k", "5"])
    table = pq.read_table(tmp_path / "p.parquet").to_pylist()
    assert len(table) == 40 and len(table[0]["classes"]) == 5 and table[0]["names"][0] == f"class {table[0]['classes'][0]}"
    runner.invoke(app, ["predict", str(d / "run"), "--data", str(d / "validate.tfrecord"), "--out", str(tmp_path / "p.jsonl"), "--top-k", "3"])
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert rows[0]["id"] == table[0]["id"] and rows[0]["classes"] == table[0]["classes"][:3]


def test_eval_metrics_match_one_shot_metrics(trained, tmp_path):
    d, records, _ = trained
    result = runner.invoke(app, ["eval", str(d / "run"), "--data", str(d / "validate.tfrecord"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    model = yt8m.load_model(d / "run")
    predictions = np.stack([s for _, s in model.predict_records(records[80:])])
    labels = np.zeros_like(predictions)
    for i, r in enumerate(records[80:]):
        labels[i, r.labels] = 1
    assert metrics["num_videos"] == 40
    assert metrics["gap"] == pytest.approx(gap(predictions, labels), abs=1e-6)
    assert metrics["hit_at_1"] == pytest.approx(hit_at_k(predictions, labels, 1), abs=1e-6)
    header = (tmp_path / "per_class_ap.csv").read_text().splitlines()[:2]
    assert header[0] == "class,name,ap,positives" and header[1].split(",")[1].startswith("class ")
    again = runner.invoke(app, ["eval", str(d / "run"), "--data", str(d / "validate.tfrecord"), "--out", str(tmp_path / "b")])
    assert again.exit_code == 0 and json.loads((tmp_path / "b" / "metrics.json").read_text())["gap"] == metrics["gap"]


def test_bad_input_exits_nonzero_and_overwrites_nothing(trained, tmp_path):
    d, _, _ = trained
    out = tmp_path / "keep.csv"
    out.write_text("precious\n")
    empty = runner.invoke(app, ["predict", str(d / "run"), "--data", str(tmp_path / "none*.tfrecord"), "--out", str(out)])
    assert empty.exit_code != 0 and "no files match" in empty.output
    write_records(tmp_path / "small.tfrecord", frame_records(2, sizes=(16, 8)), "frame", feature_sizes=(16, 8))
    wrong = runner.invoke(app, ["predict", str(d / "run"), "--data", str(tmp_path / "small.tfrecord"), "--out", str(out)])
    assert wrong.exit_code != 0 and "frame-level records but the model was trained on video-level" in wrong.output
    write_records(tmp_path / "narrow.tfrecord", [r for r in video_records(2)], "video")
    assert out.read_text() == "precious\n"
    missing = runner.invoke(app, ["eval", str(tmp_path / "nothing"), "--data", str(d / "validate.tfrecord")])
    assert missing.exit_code != 0 and "not a yt8m checkpoint" in missing.output


def test_segment_retrieval_csv(tmp_path):
    records = frame_records(8, min_frames=12, max_frames=23, num_classes=10)
    write_records(tmp_path / "train.tfrecord", records, "frame")
    (tmp_path / "segment_label_ids.csv").write_text("Index\n1\n3\n4\n")
    config = load_config(None, ["model.name=frame_logistic", "data.num_classes=10", "optimizer.batch_size=4", "train.epochs=1", "train.tensorboard=false"])
    train(config, str(tmp_path / "train.tfrecord"), tmp_path / "run", progress=False)
    out = tmp_path / "segments.csv"
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), "--data", str(tmp_path / "train.tfrecord"), "--out", str(out), "--segments", "--max-per-class", "7"])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "Class,Segments" and [int(l.split(",")[0]) for l in lines[1:]] == [1, 3, 4]
    expected_segments = {f"{r.id}:{s}" for r in records for s in range(0, r.num_frames, 5)}
    model = yt8m.load_model(tmp_path / "run")
    for line in lines[1:]:
        cls, ids = line.split(",")
        ids = ids.split(" ")
        assert len(ids) == 7 and set(ids) <= expected_segments
        by_id = {}
        for r in records:
            starts = list(range(0, r.num_frames, 5))
            windows = [r.features["rgb"][s : s + 5] for s in starts]
            audio = [r.features["audio"][s : s + 5] for s in starts]
            frames = [np.concatenate([w, a], axis=1) for w, a in zip(windows, audio)]
            for s, score in zip(starts, model.predict(frames)[:, int(cls)]):
                by_id[f"{r.id}:{s}"] = score
        ranked = sorted(by_id, key=lambda k: -by_id[k])
        assert [by_id[i] for i in ids] == pytest.approx([by_id[i] for i in ranked[:7]])
