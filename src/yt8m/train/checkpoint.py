"""Checkpoints: safetensors weights + the full config + trainer state, written atomically.

Layout of a run directory:

    run/config.json                          the experiment config
    run/train_log.csv, run/tensorboard/      logs
    run/checkpoints/step_00001000/           one checkpoint:
        model.safetensors                    weights and buffers (incl. fitted feature normalization)
        checkpoint.json                      format marker, config, step, examples, metrics
        trainer_state.pt                     optimizer, RNG and loop state for --resume
    run/checkpoints/latest                   name of the newest checkpoint
    run/best -> a copy of the checkpoint with the best validation GAP (when validating)

A checkpoint directory is written under a temporary name and renamed, so a crash never leaves a
half-written checkpoint under a real name.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

FORMAT = "yt8m-checkpoint"
VERSION = 1
WEIGHTS, META, STATE = "model.safetensors", "checkpoint.json", "trainer_state.pt"


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_checkpoint(directory: str | Path, model: torch.nn.Module, meta: dict[str, Any], trainer_state: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint directory atomically (an existing one of the same name is replaced)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / WEIGHTS))
    (tmp / META).write_text(json.dumps({"format": FORMAT, "version": VERSION, **meta}, indent=2, default=str))
    if trainer_state is not None:
        torch.save(trainer_state, tmp / STATE)
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def is_checkpoint(path: str | Path) -> bool:
    return (Path(path) / META).exists() and (Path(path) / WEIGHTS).exists()


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint dir, or a run dir (its `best` checkpoint if it has one, else the latest)."""
    path = Path(path)
    if is_checkpoint(path):
        return path
    if is_checkpoint(path / "best"):
        return path / "best"
    latest = path / "checkpoints" / "latest"
    if latest.exists() and is_checkpoint(path / "checkpoints" / latest.read_text().strip()):
        return path / "checkpoints" / latest.read_text().strip()
    raise FileNotFoundError(f"{path} is not a yt8m checkpoint or run directory (no {META} / {WEIGHTS} found)")


def read_meta(checkpoint: str | Path) -> dict[str, Any]:
    meta = json.loads((Path(checkpoint) / META).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{checkpoint}: not a yt8m checkpoint (format {meta.get('format')!r})")
    return meta


def load_weights(checkpoint: str | Path, model: torch.nn.Module, device: str | torch.device = "cpu") -> None:
    state = load_file(str(Path(checkpoint) / WEIGHTS), device=str(device))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{checkpoint}: weights do not match the model (missing {missing[:5]}, unexpected {unexpected[:5]})")


def load_trainer_state(checkpoint: str | Path) -> dict[str, Any]:
    return torch.load(Path(checkpoint) / STATE, map_location="cpu", weights_only=False)


def record_latest(run_dir: Path, checkpoint: Path, keep: int) -> None:
    """Point `latest` at `checkpoint` and delete all but the newest `keep` step checkpoints."""
    _write_text_atomic(run_dir / "checkpoints" / "latest", checkpoint.name)
    steps = sorted(p for p in (run_dir / "checkpoints").glob("step_*") if p.is_dir())
    for old in steps[: max(len(steps) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    latest = Path(run_dir) / "checkpoints" / "latest"
    if latest.exists():
        candidate = latest.parent / latest.read_text().strip()
        if is_checkpoint(candidate):
            return candidate
    return None
