"""Video ids that are file names (commas, quotes, newlines, spaces, UTF-8) survive every CSV we write and read."""

import csv

import numpy as np
import pytest

from helpers import frame_records
from yt8m.evaluation.segments import read_segment_submission
from yt8m.io import write_records
from yt8m.predict.run import predict_segment_file
from yt8m.predict.segments import SegmentOptions
from yt8m.predict.writers import PredictionWriter
from yt8m.train.config import load_config
from yt8m.train.trainer import train

AWKWARD_IDS = ["plain", "a,b", 'say "hi"', "two\nlines", "ünïcode 動画", "comma, quote\" and\r\nCRLF"]


def test_kaggle_csv_quotes_awkward_ids(tmp_path):
    rng = np.random.default_rng(0)
    predictions = rng.random((len(AWKWARD_IDS), 30))
    path = tmp_path / "predictions.csv"
    with PredictionWriter(path, top_k=5) as writer:
        writer.write(AWKWARD_IDS, predictions)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["VideoId", "LabelConfidencePairs"]
    assert [row[0] for row in rows[1:]] == AWKWARD_IDS
    for row, scores in zip(rows[1:], predictions):
        assert len(row) == 2
        classes = [int(t) for t in row[1].split(" ")[::2]]
        assert classes == list(np.argsort(-scores)[:5])
    from yt8m.predict.writers import read_predictions_csv

    assert [(vid, classes) for vid, classes, _ in read_predictions_csv(path)] == [(vid, list(np.argsort(-s)[:5])) for vid, s in zip(AWKWARD_IDS, predictions)]


@pytest.fixture(scope="module")
def segment_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("segment_ids")
    ids = ["plain", "a,b", 'say"hi"', '"quoted,"', "ünïcode動画"]  # segment ids are space-separated: no whitespace
    records = frame_records(len(ids), min_frames=10, max_frames=14, num_classes=6)
    for record, vid in zip(records, ids):
        record.id = vid
    write_records(d / "data.tfrecord", records, "frame")
    (d / "segment_label_ids.csv").write_text("Index\n1\n3\n")
    config = load_config(None, ["model.name=frame_logistic", "data.num_classes=6", "optimizer.batch_size=4", "train.epochs=1", "train.tensorboard=false"])
    train(config, str(d / "data.tfrecord"), d / "run", progress=False)
    return d, records


def test_segment_csv_quotes_awkward_ids(segment_run, tmp_path):
    d, records = segment_run
    out = tmp_path / "segments.csv"
    predict_segment_file(d / "run", str(d / "data.tfrecord"), out, options=SegmentOptions(max_per_class=1000))
    expected = {f"{r.id}:{s}" for r in records for s in range(0, r.num_frames, 5)}
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Class", "Segments"] and [row[0] for row in rows[1:]] == ["1", "3"]
    assert all(len(row) == 2 and set(row[1].split(" ")) == expected for row in rows[1:])


def test_segment_submission_reader_unquotes(segment_run, tmp_path):
    d, records = segment_run
    out = tmp_path / "segments.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Class", "Segments"])
        writer.writerow([1, " ".join(f"{r.id}:0" for r in records)])
    assert read_segment_submission(out) == [(1, [f"{r.id}:0" for r in records])]


@pytest.mark.parametrize("bad_id", ["has space", "new\nline"])
def test_segment_csv_rejects_ids_with_whitespace(tmp_path, bad_id):
    records = frame_records(2, min_frames=6, max_frames=6, num_classes=4)
    records[1].id = bad_id
    write_records(tmp_path / "data.tfrecord", records, "frame")
    config = load_config(None, ["model.name=frame_logistic", "data.num_classes=4", "optimizer.batch_size=2", "train.epochs=1", "train.tensorboard=false"])
    train(config, str(tmp_path / "data.tfrecord"), tmp_path / "run", progress=False)
    (tmp_path / "segment_label_ids.csv").write_text("Index\n1\n")
    out = tmp_path / "segments.csv"
    out.write_text("precious\n")
    with pytest.raises(ValueError, match=f"{bad_id!r}.*whitespace".replace("\\", "\\\\")):
        predict_segment_file(tmp_path / "run", str(tmp_path / "data.tfrecord"), out)
    assert out.read_text() == "precious\n"
