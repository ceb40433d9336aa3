"""The README's Usage commands run as written, on tiny data.

The commands are parsed from README.md (the ```bash blocks of its Usage section), so the test fails
when the README drifts from the CLI. They run in a fresh folder (no configs/ there: config paths
resolve to the shipped configs). Only the amount of work changes: `--preset small` becomes a few
dozen short videos, training stops after 3 steps (reading in-process), MiCRObE mines 40 examples
in one process. Skipped: `torchrun` (it starts one process per GPU and its `...` stand for the
user's data).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from yt8m.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"
SKIPPED = ("torchrun",)
TINY_SYNTH = ["--preset", "tiny", "-w", "1", "--splits", "train,validate,test", *[
    arg for key, value in dict(num_classes=30, train_videos=24, validate_videos=8, test_videos=8, rated_test_videos=4,
                                train_shards=2, min_frames=20, max_frames=40, pca_sample_frames=2048).items()
    for arg in ("--set", f"{key}={value}")]]
FEW_STEPS = ["--set", "train.max_steps=3", "--set", "data.num_workers=0", "--set", "train.tensorboard=false"]


def usage_commands(text: str) -> list[str]:
    """Every command line of the bash blocks in the Usage section (continuations joined, comments cut)."""
    section = re.search(r"^## Usage\n(.*?)(?=^## )", text, flags=re.S | re.M).group(1)
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


def tiny(words: list[str]) -> list[str]:
    """The same command on tiny data: a small synthetic set, a few training steps."""
    if words[1] == "synth" and "--preset" in words:
        i = words.index("--preset")
        words = words[:i] + words[i + 2:] + TINY_SYNTH
    if words[1] == "train":
        words = words + FEW_STEPS
    if words[1:3] == ["microbe", "run"]:
        words = words + ["--scheduler", "sync", "--set", "mining.examples=40"]
    return words[1:]


def test_readme_usage_commands_run_on_tiny_data(tmp_path, monkeypatch):
    commands = usage_commands(README.read_text())
    assert [w[0] for w in commands if w[0] != "yt8m"] == ["torchrun"], "a Usage command is neither yt8m nor the skipped torchrun"
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ran = []
    for words in commands:
        if words[0] in SKIPPED:
            continue
        result = runner.invoke(app, tiny(words))
        assert result.exit_code == 0, f"README command failed: {shlex.join(words)}\n{result.output}"
        ran.append(words[1])
    assert {"synth", "inspect", "convert", "train", "eval", "predict", "models", "configs", "microbe"} <= set(ran)
    assert (tmp_path / "runs" / "moe" / "eval" / "rated_test" / "metrics.json").exists()
    assert (tmp_path / "runs" / "microbe_frame" / "eval" / "validate" / "metrics.json").exists()
    assert (tmp_path / "predictions.csv").read_text().startswith("VideoId,LabelConfidencePairs")
    assert (tmp_path / "my_dbof.yaml").exists()
