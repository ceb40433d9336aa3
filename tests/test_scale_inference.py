"""Past one machine, inference: `yt8m predict` / `yt8m eval` one task per file, locally, under
torchrun (2 gloo CPU ranks) and on a 2-worker Dask cluster, give the single-process output."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import video_records
from yt8m.evaluation import Evaluator
from yt8m.io import write_records
from yt8m.predict.run import evaluate, predict
from yt8m.train.config import load_config
from yt8m.train.trainer import train


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("sharded")
    records = video_records(150, num_classes=25, seed=4)
    write_records(d / "train.tfrecord", records[:80], "video")
    write_records(d / "test" / "a.tfrecord", records[80:117], "video")  # uneven files, one of them a shard
    write_records(d / "test" / "b.arrow", records[117:120], "video", format="shard")
    write_records(d / "test" / "c.tfrecord", records[120:], "video")
    config = load_config(None, ["model.name=moe", "data.kind=video", "data.num_classes=25", "optimizer.batch_size=16", "train.epochs=2", "train.tensorboard=false"])
    train(config, str(d / "train.tfrecord"), d / "run", progress=False)
    return d


def test_evaluator_states_merge_exactly():
    """Two evaluators over consecutive halves, merged, equal one evaluator over everything (ties included)."""
    rng = np.random.default_rng(0)
    labels = (rng.random((300, 40)) < 0.05).astype(np.float32)
    predictions = np.round(rng.random((300, 40)), 2)  # many tied scores
    whole = Evaluator(40)
    whole.add(predictions, labels)
    first, second = Evaluator(40), Evaluator(40)
    first.add(predictions[:170], labels[:170])
    second.add(predictions[170:], labels[170:])
    merged = first.merge(second).result()
    expected = whole.result()
    assert merged.as_dict() == expected.as_dict()
    np.testing.assert_array_equal(merged.average_precisions_buckets, expected.average_precisions_buckets)


def _yt8m_torchrun(*args):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "yt8m", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _metrics(path):
    metrics = json.loads(path.read_text())
    return {k: v for k, v in metrics.items() if k != "seconds"}


def test_predict_and_eval_on_two_ranks_and_on_dask_equal_one_process(run_and_data, tmp_path):
    d = run_and_data
    data = str(d / "test" / "*")
    local = predict(d / "run", data, tmp_path / "local.csv", progress=False)
    evaluate(d / "run", data, tmp_path / "eval-local", progress=False)
    assert local["videos"] == 70

    out = _yt8m_torchrun("predict", str(d / "run"), "--data", data, "--out", str(tmp_path / "ranks.csv"))
    assert out.count("wrote 70 videos") == 1  # rank 0 writes and reports
    _yt8m_torchrun("eval", str(d / "run"), "--data", data, "--out", str(tmp_path / "eval-ranks"))
    assert (tmp_path / "ranks.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert _metrics(tmp_path / "eval-ranks" / "metrics.json") == _metrics(tmp_path / "eval-local" / "metrics.json")
    assert (tmp_path / "eval-ranks" / "per_class_ap.csv").read_bytes() == (tmp_path / "eval-local" / "per_class_ap.csv").read_bytes()

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:  # a running scheduler
        on_dask = predict(d / "run", data, tmp_path / "dask.csv", progress=False, dask=cluster.scheduler_address)
        evaluate(d / "run", data, tmp_path / "eval-dask", progress=False, dask=cluster.scheduler_address)
    assert on_dask["read"] == local["read"]
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert _metrics(tmp_path / "eval-dask" / "metrics.json") == _metrics(tmp_path / "eval-local" / "metrics.json")
