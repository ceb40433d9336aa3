"""convert, synth and microbe report progress through yt8m.progress: with stdout not a terminal
(as here, and under SLURM or nohup) they print plain lines with the known total."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from helpers import frame_records
from yt8m.cli import app
from yt8m.io import write_records

runner = CliRunner()
MINI = ["--set", "num_classes=30", "--set", "train_videos=5", "--set", "train_shards=1", "--set", "pca_sample_frames=2048",
        "--set", "min_frames=40", "--set", "max_frames=60"]


def test_convert_prints_files_done_of_the_total(tmp_path):
    for i in range(2):
        write_records(tmp_path / f"train{i}.tfrecord", frame_records(3, seed=i, sizes=(16, 8)), "frame", feature_sizes=(16, 8))
    result = runner.invoke(app, ["convert", str(tmp_path / "train*.tfrecord"), "--out", str(tmp_path / "shards"), "--workers", "1",
                                 "--feature-sizes", "16,8"])
    assert result.exit_code == 0, result.output
    assert "[convert] 2/2 files (100%)" in result.output and "records 6" in result.output


def test_synth_prints_videos_done_of_the_total(tmp_path):
    result = runner.invoke(app, ["synth", str(tmp_path / "d"), "--preset", "tiny", "--splits", "train", "-w", "1", *MINI])
    assert result.exit_code == 0, result.output
    assert re.search(r"\[synth tiny seed 0\] 5/5 videos \(100%\)", result.output), result.output


def test_microbe_prints_every_stage_with_its_total(tmp_path, capsys):
    from microbe_toy import write_toy_files
    from yt8m.microbe import MicrobeConfig, run_microbe
    from yt8m.microbe.dask_jobs import LocalRunner

    paths = write_toy_files(tmp_path, files=2, videos=30, frames=6, noise_per_frame=2)
    config = MicrobeConfig(train=paths, num_classes=12, features={"sources": ["im", "tm"], "sizes": [30, 30], "window": 0},
                           calibration={"lambdas": [1.0], "top_k": 4, "blocks": 1}, mining={"examples": 20},
                           second_order={"model": "logistic", "label_blocks": 1}, dask={"scheduler": "sync"})
    run_microbe(config, runner=LocalRunner(), progress=True)
    done = re.findall(r"^\[(.+?)\] (\d+)/(\d+) tasks \(100%\)", capsys.readouterr().out, flags=re.M)
    assert len({stage for stage, _, _ in done}) >= 3 and all(a == b for _, a, b in done), done
