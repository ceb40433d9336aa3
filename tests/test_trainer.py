"""The trainer: schedules, clipping, configs, checkpoints and exact resume, early stopping."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from helpers import video_records
from yt8m.io import write_records
from yt8m.train.config import ScheduleConfig, load_config
from yt8m.train.optim import clip_gradients, learning_rate
from yt8m.train.trainer import train


@pytest.fixture(scope="module")
def video_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("video")
    records = video_records(300, num_classes=30)
    write_records(d / "train0.tfrecord", records[:150], "video")
    write_records(d / "train1.tfrecord", records[150:240], "video")
    write_records(d / "validate.tfrecord", records[240:], "video")
    return d


def _config(*extra):
    return load_config(None, ["model.name=moe", "data.kind=video", "data.num_classes=30", "optimizer.batch_size=16", "data.shuffle_buffer=32", "train.epochs=2", "train.checkpoint_every=5", "train.tensorboard=false", *extra])


def test_staircase_schedule_matches_official():
    schedule = ScheduleConfig()  # 0.95 per 4M examples
    assert learning_rate(0.01, 0, schedule) == 0.01
    assert learning_rate(0.01, 3906 * 1024, schedule) == 0.01  # first decay at step 3907 with batch 1024
    assert learning_rate(0.01, 3907 * 1024, schedule) == pytest.approx(0.0095)
    cosine = ScheduleConfig(name="cosine", warmup_examples=10)
    assert learning_rate(1.0, 4, cosine, total_examples=110) == pytest.approx(0.5)
    assert learning_rate(1.0, 60, cosine, total_examples=110) == pytest.approx(0.5)
    assert learning_rate(1.0, 110, cosine, total_examples=110) == pytest.approx(0.0)


def test_per_tensor_clipping_like_official():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    a.grad, b.grad = torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])
    clip_gradients([a, b], 1.0, "per_tensor")
    assert torch.allclose(a.grad, torch.tensor([0.6, 0.8])) and torch.allclose(b.grad, torch.tensor([0.3, 0.4]))
    a.grad, b.grad = torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.0])
    clip_gradients([a, b], 1.0, "global")
    assert torch.allclose(a.grad, torch.tensor([0.6, 0.8]))


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="'optimizer' has no option.*'lrr'"):
        load_config(None, ["optimizer.lrr=0.1"])
    with pytest.raises(ValueError, match="unknown config section.*'optimiser'"):
        load_config(None, ["optimiser.lr=0.1"])
    with pytest.raises(ValueError, match="section.key=value"):
        load_config(None, ["lr=0.1"])
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: moe, num_mixtures: 4}\noptimizer: {name: adagrad, lr: 1.0}\n")
    config = load_config(path, ["optimizer.lr=0.5", "data.feature_names=[rgb]"])
    assert config.model_options == {"num_mixtures": 4} and config.optimizer.lr == 0.5 and config.data.feature_names == ("rgb",)


def _weights(checkpoint):
    return load_file(str(checkpoint / "model.safetensors"))


def test_resume_reaches_the_same_weights(video_data, tmp_path):
    data = str(video_data / "train*.tfrecord")
    full = train(_config(), data, tmp_path / "full", progress=False)
    assert full.steps == 2 * 15  # 240 videos in batches of 16, two epochs
    first = train(_config("train.max_steps=7"), data, tmp_path / "cut", progress=False)
    assert first.steps == 7
    with pytest.raises(FileExistsError):
        train(_config(), data, tmp_path / "cut", progress=False)
    resumed = train(_config(), data, tmp_path / "cut", resume=True, progress=False, allow_changes=["train.max_steps"])
    assert resumed.steps == full.steps and resumed.examples == full.examples
    a, b = _weights(full.checkpoint), _weights(resumed.checkpoint)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # and the run really trained: the weights moved away from a fresh model's
    fresh = train(_config("train.max_steps=1"), data, tmp_path / "one", progress=False)
    assert not all(torch.equal(a[k], _weights(fresh.checkpoint)[k]) for k in a)


def test_validation_early_stopping_and_logs(video_data, tmp_path):
    result = train(
        _config("optimizer.lr=0.0", "train.eval_every=3", "train.early_stopping_patience=2", "train.epochs=5"),
        str(video_data / "train0.tfrecord"),
        tmp_path / "run",
        eval_data=str(video_data / "validate.tfrecord"),
        progress=False,
    )
    # lr 0: the first validation is the best; two more without improvement stop the run at step 9
    assert result.stopped_early and result.steps == 9
    evals = [row for row in result.history if "gap" in row]
    assert len(evals) == 3 and len({row["gap"] for row in evals}) == 1
    meta = json.loads((tmp_path / "run" / "best" / "checkpoint.json").read_text())
    assert meta["metrics"]["gap"] == pytest.approx(evals[0]["gap"]) and meta["config"]["model"]["name"] == "moe"
    lines = (tmp_path / "run" / "train_log.csv").read_text().splitlines()
    assert lines[0].startswith("step,epoch,examples,lr,loss") and len(lines) > 3


def test_unknown_model_and_input_kind_mismatch(video_data, tmp_path):
    with pytest.raises(KeyError, match="unknown model 'nosuch'"):
        train(_config("model.name=nosuch"), str(video_data / "train0.tfrecord"), tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="takes one vector per video"):
        train(_config("data.kind=frame"), str(video_data / "train0.tfrecord"), tmp_path / "y", progress=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_torchrun_two_ranks_with_uneven_data(tmp_path):
    """DDP on CPU (gloo): 47 videos over 2 ranks in batches of 8 -> 2 global batches of 16 per epoch, the same on both ranks."""
    import subprocess
    import sys

    write_records(tmp_path / "train.tfrecord", video_records(47, num_classes=30), "video")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "yt8m", "train",
        "--set", "model.name=moe", "--set", "data.kind=video", "--set", "data.num_classes=30",
        "--set", "optimizer.batch_size=8", "--set", "train.epochs=2", "--set", "train.tensorboard=false",
        "--train-data", str(tmp_path / "train.tfrecord"), "--out", str(tmp_path / "run"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert summary["steps"] == 2 * (47 // 16)  # one global order: every rank takes its 8 of each 16
    assert done.stdout.count("trained 4 steps") == 1  # only rank 0 reports


def test_every_ready_config_loads(tmp_path):
    """configs/*.yaml parse into valid experiment and model configs (no unknown keys)."""
    from pathlib import Path

    from yt8m.models.registry import build_config, model_entry

    configs = sorted(p for p in (Path(__file__).resolve().parents[1] / "configs").glob("*.yaml") if not p.name.startswith("microbe"))
    assert len(configs) >= 18
    for path in configs:
        config = load_config(path)
        build_config(model_entry(config.model_name).config_cls, config.model_options, what=path.name)


def test_video_moe_on_frames_with_fitted_whitening(tiny_data, tmp_path):
    """MoE on [mean; std; top-5] of frames: whitening fitted before training, saved, reused by eval.

    Audio only (128 dims -> 896 statistics) keeps the covariance eigendecomposition quick."""
    import yt8m
    from yt8m.predict.run import evaluate

    config = load_config(None, [
        "model.name=moe", "model.features={aggregate: mean_std_topk, top_k: 5, whiten: true, n_components: 64}",
        "data.kind=frame", "data.feature_names=[audio]", "data.feature_sizes=[128]", "data.num_classes=64",
        "optimizer.batch_size=32", "train.epochs=2", "train.tensorboard=false",
    ])
    result = train(config, str(tiny_data / "frame" / "train*.tfrecord"), tmp_path / "run", progress=False)
    model = yt8m.load_model(tmp_path / "run")
    assert not model.model.requires_fitting
    metrics = evaluate(tmp_path / "run", str(tiny_data / "frame" / "validate*.tfrecord"))
    assert metrics["num_videos"] > 0 and 0 < metrics["gap"] <= 1
    from yt8m.io import count_records, expand_paths

    videos = sum(count_records(f) for f in expand_paths(str(tiny_data / "frame" / "train*.tfrecord")))
    assert result.examples == 2 * videos


def test_output_bias_sets_the_initial_classifier_bias(video_data, tmp_path):
    data = str(video_data / "train0.tfrecord")
    plain = train(_config("optimizer.lr=0.0", "train.max_steps=1", "train.log_every=1"), data, tmp_path / "plain", progress=False)
    prior = train(_config("optimizer.lr=0.0", "train.max_steps=1", "train.log_every=1", "train.output_bias=-3"), data, tmp_path / "prior", progress=False)
    assert torch.all(_weights(plain.checkpoint)["head.experts.bias"] == 0)
    assert torch.all(_weights(prior.checkpoint)["head.experts.bias"] == -3)
    assert prior.history[-1]["loss"] < 0.8 * plain.history[-1]["loss"]  # ~2 of 30 classes true: logit(2/30) ≈ -2.6 fits better than 0


def test_output_bias_auto_is_the_label_rate_of_the_training_videos(video_data, tmp_path):
    """`auto` follows the data: logit(labels per video / classes) over the first training videos."""
    from yt8m.io import read_records

    data = str(video_data / "train0.tfrecord")
    run = train(_config("optimizer.lr=0.0", "train.max_steps=1", "train.output_bias=auto"), data, tmp_path / "auto", progress=False)
    config = load_config(tmp_path / "auto" / "config.json")
    rate = np.mean([len(r.labels) for r in read_records(data, config.data.schema)]) / config.data.num_classes
    bias = _weights(run.checkpoint)["head.experts.bias"]
    assert torch.allclose(bias, torch.full_like(bias, float(np.log(rate / (1 - rate)))))
