"""Stage checkpoints of a MiCRObE run, so `yt8m microbe run --resume` restarts at the failed stage.

Each finished stage (calibration, max_calibration, mining, second_order) is pickled into
<output>/checkpoints/<stage>.pkl, written to a temporary file and renamed, so a crash leaves either
the old checkpoint or the new one, never half of one. Every checkpoint carries a key: a hash of the
settings that stage and the ones before it depend on (and of the training files' names, sizes and
modification times). On resume a stage is reused only when its key
matches the current config; a changed setting therefore restarts the first stage it affects and
every stage after it, and nothing earlier. The checkpoints are this package's own files (pickle):
load only run directories you wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

STAGES = ("calibration", "max_calibration", "mining", "second_order")
FORMAT = 1

# the config settings each stage adds to the ones before it (section.name, or a whole top-level field)
_DEPENDS = {
    "calibration": ("train", "num_classes", "features", "calibration.bucket_width", "calibration.lambdas",
                    "calibration.heldout_fraction", "calibration.min_positives", "calibration.blocks",
                    "mining.frames_per_video", "mining.splits_per_file"),
    "max_calibration": ("calibration.top_k", "calibration.min_p_max"),
    "mining": ("mining", "second_order.label_blocks", "seed"),
    "second_order": ("second_order",),
}


def stage_keys(config: dict, files: list[str]) -> dict[str, str]:
    """stage -> hash of everything it depends on (its settings and every earlier stage's key)."""
    keys, previous = {}, f"format {FORMAT}; files {files}"
    for stage in STAGES:
        values = {}
        for name in _DEPENDS[stage]:
            section, _, field = name.partition(".")
            values[name] = config[section][field] if field else config[section]
        previous = hashlib.sha256((previous + json.dumps(values, sort_keys=True, default=str)).encode()).hexdigest()
        keys[stage] = previous
    return keys


class StageCheckpoints:
    """Read and write the checkpoints of one run directory; `resume=False` ignores existing ones."""

    def __init__(self, directory: str | os.PathLike, config: dict, files: list[str], *, resume: bool) -> None:
        self.directory = Path(directory)
        self.keys = stage_keys(config, files)
        self.resume = resume
        self.reused: list[str] = []
        self.restarted: dict[str, str] = {}  # stage -> why its checkpoint was not used

    def path(self, stage: str) -> Path:
        return self.directory / f"{stage}.pkl"

    def load(self, stage: str) -> Any | None:
        """The stage's saved result when resuming and its key matches the config, else None."""
        if not self.resume:
            return None
        path = self.path(stage)
        if not path.is_file():
            self.restarted[stage] = "no checkpoint"
            return None
        with open(path, "rb") as f:
            saved = pickle.load(f)
        if saved.get("key") != self.keys[stage]:
            self.restarted[stage] = "the config changed a setting this stage depends on"
            return None
        self.reused.append(stage)
        return saved["value"]

    def save(self, stage: str, value: Any) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(stage)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump({"stage": stage, "key": self.keys[stage], "value": value}, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
