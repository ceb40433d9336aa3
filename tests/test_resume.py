"""Run safety: exact resume for models that draw random numbers, checks before a resume writes,
checkpoints that are verified and never unpickled, and starting a run from another one's weights."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch
from safetensors.torch import load_file

from helpers import frame_records
from yt8m.io import write_records
from yt8m.train.config import load_config
from yt8m.train.trainer import train


@pytest.fixture(scope="module")
def frame_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("frames")
    records = frame_records(120, num_classes=12, sizes=(16, 8), min_frames=1, max_frames=12)
    write_records(d / "train0.tfrecord", records[:70], "frame", feature_sizes=(16, 8))
    write_records(d / "train1.tfrecord", records[70:100], "frame", feature_sizes=(16, 8))
    write_records(d / "validate.tfrecord", records[100:], "frame", feature_sizes=(16, 8))
    return d


def _config(*extra):
    return load_config(None, [
        "model.name=bof", "model.hidden_size=32", "model.dropout=0.3",
        "data.kind=frame", "data.num_classes=12", "data.feature_sizes=[16, 8]", "data.max_frames=12",
        "data.sampling=random", "data.num_samples=5", "data.shuffle_buffer=16",
        "optimizer.batch_size=8", "train.epochs=3", "train.checkpoint_every=4", "train.tensorboard=false",
        *extra,
    ])


def _weights(checkpoint):
    return load_file(str(checkpoint / "model.safetensors"))


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("cut, workers", [(5, 0), (13, 2)])
def test_resume_is_bit_identical_with_dropout_and_random_frames(frame_data, tmp_path, cut, workers):
    data = str(frame_data / "train*.tfrecord")
    config = _config(f"data.num_workers={workers}")
    full = train(config, data, tmp_path / "full", progress=False)
    first = train(_config(f"data.num_workers={workers}", f"train.max_steps={cut}"), data, tmp_path / "cut", progress=False)
    assert first.steps == cut < full.steps
    resumed = train(config, data, tmp_path / "cut", resume=True, progress=False, allow_changes=["train.max_steps"])
    assert resumed.steps == full.steps and resumed.examples == full.examples
    assert _same(_weights(full.checkpoint), _weights(resumed.checkpoint))


def test_training_drops_partial_batches_but_evaluation_sees_every_video(frame_data):
    from yt8m.data.loader import VideoDataset, make_loader

    config = _config("data.num_workers=2").data
    config = type(config)(**{**config.__dict__, "batch_size": 8})
    training = [b for b in make_loader(str(frame_data / "train*.tfrecord"), config, training=True)]
    # two files of 70 and 30 videos in one global order: 12 full batches shared by the workers, one 4-video tail dropped
    assert all(len(b["ids"]) == 8 for b in training) and len(training) == 100 // 8
    dataset = VideoDataset(str(frame_data / "train*.tfrecord"), config, training=True)
    assert dataset.batches_per_epoch(num_workers=2) == len(training)
    evaluation = [b for b in make_loader(str(frame_data / "train*.tfrecord"), config, training=False)]
    assert sum(len(b["ids"]) for b in evaluation) == 100


_KILLED_RUN = """
import sys
from yt8m.train.config import load_config
from yt8m.train.trainer import train
config = load_config(None, sys.argv[3:])
train(config, sys.argv[1], sys.argv[2], progress=False)
"""


def test_sigkill_mid_run_then_resume_matches_the_uninterrupted_run(frame_data, tmp_path):
    data = str(frame_data / "train*.tfrecord")
    args = [
        "model.name=bof", "model.hidden_size=32", "model.dropout=0.3", "data.kind=frame", "data.num_classes=12",
        "data.feature_sizes=[16, 8]", "data.max_frames=12", "data.sampling=random", "data.num_samples=5",
        "data.shuffle_buffer=16", "optimizer.batch_size=8", "train.epochs=10", "train.checkpoint_every=3",
        "train.tensorboard=false", "train.keep_checkpoints=2",
    ]
    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, data, str(run), *args], env=env)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "latest").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(0.05)  # a few steps on: the kill may land anywhere, even inside a checkpoint write
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (run / "train_summary.json").exists()
    config = load_config(None, args)
    resumed = train(config, data, run, resume=True, progress=False)
    full = train(config, data, tmp_path / "full", progress=False)
    assert resumed.steps == full.steps
    assert _same(_weights(full.checkpoint), _weights(resumed.checkpoint))
    steps = [int(line.split(",")[0]) for line in (run / "train_log.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps))  # rows after the restored checkpoint were not written twice


def test_resume_refuses_changes_before_writing_anything(frame_data, tmp_path):
    data = str(frame_data / "train0.tfrecord")
    run = tmp_path / "run"
    train(_config("train.max_steps=3"), data, run, eval_data=str(frame_data / "validate.tfrecord"), progress=False)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(ValueError) as err:
        train(_config("optimizer.lr=0.5", "optimizer.batch_size=4"), data, run, resume=True, progress=False)
    message = str(err.value)
    assert "\n" not in message and "optimizer.lr" in message and "optimizer.batch_size" in message and "train.max_steps" in message
    with pytest.raises(ValueError, match="train_data"):
        train(_config("train.max_steps=3"), str(frame_data / "train*.tfrecord"), run, resume=True, progress=False)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # config.json untouched
    # deliberate changes are allowed by name; the stored data paths keep validation on
    result = train(_config("optimizer.lr=0.5"), None, run, resume=True, progress=False, allow_changes=["optimizer.lr", "train.max_steps"])
    assert result.steps > 3 and any("gap" in row for row in result.history)
    assert json.loads((run / "config.json").read_text())["optimizer"]["lr"] == 0.5


def _run_with_checkpoints(frame_data, run):
    return train(_config("train.max_steps=8", "train.checkpoint_every=4", "train.keep_checkpoints=2"), str(frame_data / "train0.tfrecord"), run, progress=False)


@pytest.mark.parametrize("damage", ["truncated", "random_bytes", "broken_latest"])
def test_corrupt_latest_checkpoint_is_named_and_the_previous_one_used(frame_data, tmp_path, damage):
    from yt8m.train.checkpoint import latest_checkpoint

    run = tmp_path / "run"
    _run_with_checkpoints(frame_data, run)
    newest = run / "checkpoints" / "step_00000008"
    if damage == "truncated":
        weights = newest / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "random_bytes":
        weights = newest / "model.safetensors"
        data = bytearray(weights.read_bytes())
        data[-64:] = os.urandom(64)
        weights.write_bytes(bytes(data))
    else:
        (run / "checkpoints" / "latest").write_text("step_9\x00garbage")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chosen = latest_checkpoint(run)
    if damage == "broken_latest":
        assert chosen == newest
        return
    assert chosen == run / "checkpoints" / "step_00000004"
    assert any("step_00000008" in str(w.message) for w in caught)
    resumed = train(_config("train.max_steps=8", "train.checkpoint_every=4", "train.keep_checkpoints=2"), str(frame_data / "train0.tfrecord"), run, resume=True, progress=False)
    assert resumed.steps == 8 and all(torch.isfinite(v.float()).all() for v in _weights(resumed.checkpoint).values())


class _Exploit:
    def __reduce__(self):
        return (open, (str(_Exploit.target), "w"))


def test_resume_never_unpickles_run_files(frame_data, tmp_path):
    run = tmp_path / "run"
    _run_with_checkpoints(frame_data, run)
    checkpoint = run / "checkpoints" / "step_00000008"
    assert not list(checkpoint.glob("*.pt")) and not list(checkpoint.glob("*.pkl"))
    _Exploit.target = tmp_path / "pwned"
    (checkpoint / "trainer_state.pt").write_bytes(pickle.dumps({"optimizer": _Exploit()}))
    try:
        train(_config("train.max_steps=8", "train.checkpoint_every=4"), str(frame_data / "train0.tfrecord"), run, resume=True, progress=False)
    except (ValueError, FileNotFoundError):
        pass
    assert not _Exploit.target.exists()


def test_init_from_loads_weights_except_excluded_and_freezes(frame_data, tmp_path):
    data = str(frame_data / "train0.tfrecord")
    source = train(_config("train.max_steps=6"), data, tmp_path / "source", progress=False)
    trained = _weights(source.checkpoint)
    # a new vocabulary: another num_classes, so the classifier must be skipped
    new = _config("data.num_classes=20", "train.max_steps=2", f"train.init_from={tmp_path / 'source'}",
                  "train.init_exclude=[head.*]", "train.freeze=[input_bn.*, fc1*]")
    records = frame_records(40, seed=3, num_classes=20, sizes=(16, 8), min_frames=1, max_frames=12)
    write_records(tmp_path / "new.tfrecord", records, "frame", feature_sizes=(16, 8))
    start = train(dataclass_copy(new, max_steps=0), str(tmp_path / "new.tfrecord"), tmp_path / "start", progress=False)
    result = train(new, str(tmp_path / "new.tfrecord"), tmp_path / "target", progress=False)
    loaded, after = _weights(start.checkpoint), _weights(result.checkpoint)
    copied = [k for k in trained if not k.startswith("head.")]
    assert copied and all(torch.equal(loaded[k], trained[k]) for k in copied)
    frozen = [k for k in after if k.startswith(("input_bn.", "fc1"))]  # a frozen part keeps its batch-norm statistics too
    assert any("running_mean" in k for k in frozen) and all(torch.equal(after[k], trained[k]) for k in frozen)
    moving = [k for k in after if k.startswith("fc2.") and k.endswith("weight")]
    assert moving and not all(torch.equal(after[k], trained[k]) for k in moving)
    with pytest.raises(ValueError, match="head"):
        bad = _config("data.num_classes=20", "train.max_steps=1", f"train.init_from={tmp_path / 'source'}")
        train(bad, str(tmp_path / "new.tfrecord"), tmp_path / "bad", progress=False)


def dataclass_copy(config, **train_changes):
    import dataclasses

    return dataclasses.replace(config, train=dataclasses.replace(config.train, **train_changes))


def test_fp16_autocast_uses_a_grad_scaler(frame_data, tmp_path):
    result = train(_config("train.max_steps=3", "train.mixed_precision=true", "train.amp_dtype=fp16", "train.device=cpu"),
                   str(frame_data / "train0.tfrecord"), tmp_path / "run", progress=False)
    state = json.loads((result.checkpoint / "trainer_state.json").read_text())
    assert state["grad_scaler"] is not None and state["grad_scaler"]["scale"] > 0


def test_training_progress_has_known_totals_in_plain_lines_off_a_terminal(frame_data, tmp_path, capsys):
    train(_config("train.epochs=2"), str(frame_data / "train0.tfrecord"), tmp_path / "run")
    out = capsys.readouterr().out
    assert "[train] 16/16 steps (100%)" in out  # 70 videos: 8 full batches of 8 per epoch, two epochs


def _registered_models():
    from yt8m.models.registry import list_models

    return [(entry.name, entry.frame_level) for entry in list_models()]


def _small(name: str) -> list[str]:
    """Every size option of a model that defaults to 16 or more, set to 8 (the defaults take minutes)."""
    import dataclasses

    from yt8m.models.registry import model_entry

    fields = dataclasses.fields(model_entry(name).config_cls)
    return [f"model.{f.name}=8" for f in fields if type(f.default) is int and f.default >= 16 and f.name != "num_samples"]


@pytest.fixture(scope="module")
def video_data(tmp_path_factory):
    from helpers import video_records

    d = tmp_path_factory.mktemp("video")
    write_records(d / "train.tfrecord", video_records(48, num_classes=12), "video")
    return d


@pytest.mark.parametrize("name, frame_level", _registered_models())
def test_every_registered_model_resumes_bit_identically(frame_data, video_data, tmp_path, name, frame_level):
    if frame_level:
        data = str(frame_data / "train0.tfrecord")
        settings = ["data.kind=frame", "data.feature_sizes=[16, 8]", "data.max_frames=12", "data.sampling=random", "data.num_samples=5"]
    else:
        data = str(video_data / "train.tfrecord")
        settings = ["data.kind=video", "data.feature_sizes=[1024, 128]"]
    base = [f"model.name={name}", *_small(name), "data.num_classes=12", "data.shuffle_buffer=16", "optimizer.batch_size=8",
            "train.epochs=1", "train.checkpoint_every=2", "train.tensorboard=false", *settings]
    config = load_config(None, [*base, "train.max_steps=4"])
    full = train(config, data, tmp_path / "full", progress=False)
    train(load_config(None, [*base, "train.max_steps=2"]), data, tmp_path / "cut", progress=False)
    resumed = train(config, data, tmp_path / "cut", resume=True, progress=False, allow_changes=["train.max_steps"])
    assert full.steps == resumed.steps == 4
    assert _same(_weights(full.checkpoint), _weights(resumed.checkpoint))


def test_cli_resume_uses_the_runs_config_and_data_and_names_refused_changes(frame_data, tmp_path):
    from typer.testing import CliRunner

    from yt8m.cli import app

    run = tmp_path / "run"
    settings = ["model.name=bof", "model.hidden_size=16", "data.kind=frame", "data.num_classes=12", "data.feature_sizes=[16, 8]",
                "data.max_frames=12", "optimizer.batch_size=8", "train.max_steps=2", "train.eval_every=2", "train.tensorboard=false"]
    sets = [arg for item in settings for arg in ("--set", item)]
    runner = CliRunner()
    first = runner.invoke(app, ["train", "--train-data", str(frame_data / "train0.tfrecord"), "--eval-data", str(frame_data / "validate.tfrecord"), "--out", str(run), *sets])
    assert first.exit_code == 0, first.output
    refused = runner.invoke(app, ["train", "--resume", "--out", str(run), "--set", "optimizer.lr=1e-4"])
    assert refused.exit_code != 0 and "optimizer.lr (0.01 -> 0.0001)" in refused.output and "Traceback" not in refused.output
    resumed = runner.invoke(app, ["train", "--resume", "--out", str(run), "--set", "optimizer.lr=1e-4", "--set", "train.max_steps=4",
                                  "--allow-change", "optimizer.lr", "--allow-change", "train.max_steps"])
    assert resumed.exit_code == 0, resumed.output
    assert "trained 4 steps" in resumed.output and "validation GAP" in resumed.output  # the stored --eval-data was used
