"""Checkpoints: safetensors weights, JSON metadata and trainer state, checksummed, written atomically.

Layout of a run directory:

    run/config.json                          the experiment config
    run/run.json                             the data the run trains and validates on
    run/train_log.csv, run/tensorboard/      logs
    run/checkpoints/step_00001000/           one checkpoint:
        model.safetensors                    weights and buffers (incl. fitted feature normalization)
        checkpoint.json                      format marker, config, step, metrics, sha256 of each file
        trainer_state.safetensors            optimizer tensors and random states for --resume ...
        trainer_state.json                   ... and the rest of the trainer state (no pickle anywhere)
    run/checkpoints/latest                   name of the newest checkpoint (for people; the newest
                                             checkpoint that verifies is what a resume uses)
    run/best/                                the checkpoint with the best validation GAP

A checkpoint directory is written under a temporary name and renamed, so a crash never leaves a
half-written checkpoint under a real name; a damaged one (truncated, overwritten) fails its
checksum and is named in a warning while the previous kept checkpoint is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

FORMAT = "yt8m-checkpoint"
VERSION = 2
WEIGHTS, META = "model.safetensors", "checkpoint.json"
STATE_TENSORS, STATE_JSON = "trainer_state.safetensors", "trainer_state.json"


class CorruptCheckpoint(ValueError):
    """A checkpoint whose files are missing, unreadable or fail their checksum."""


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a file under a temporary name, then rename: readers see the old or the new file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- trainer state: tensors to safetensors, the structure to JSON ----------------------------------


def _split(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = value.detach().contiguous().cpu()
        return {"__tensor__": key}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _split(v, tensors) for k, v in value.items()}
        return {"__items__": [[_split(k, tensors), _split(v, tensors)] for k, v in value.items()]}  # e.g. int keys
    if isinstance(value, (list, tuple)):
        return [_split(v, tensors) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"trainer state holds a {type(value).__name__}, which is neither a tensor nor JSON")


def _join(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__items__" in value:
            return {_join(k, tensors): _join(v, tensors) for k, v in value["__items__"]}
        return {k: _join(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_join(v, tensors) for v in value]
    return value


# -- writing -----------------------------------------------------------------------------------


def save_checkpoint(directory: str | Path, model: torch.nn.Module, meta: dict[str, Any], trainer_state: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint directory atomically (an existing one of the same name is replaced)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp / WEIGHTS))
    if trainer_state is not None:
        tensors: dict[str, torch.Tensor] = {}
        structure = _split(trainer_state, tensors)
        save_file(tensors, str(tmp / STATE_TENSORS))
        (tmp / STATE_JSON).write_text(json.dumps(structure))
    files = {p.name: _sha256(p) for p in sorted(tmp.iterdir())}
    (tmp / META).write_text(json.dumps({"format": FORMAT, "version": VERSION, **meta, "files": files}, indent=2, default=str))
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def record_latest(run_dir: Path, checkpoint: Path, keep: int) -> None:
    """Point `latest` at `checkpoint` and delete all but the newest `keep` step checkpoints."""
    write_text_atomic(run_dir / "checkpoints" / "latest", checkpoint.name)
    steps = sorted(p for p in (run_dir / "checkpoints").glob("step_*") if p.is_dir())
    for old in steps[: max(len(steps) - max(keep, 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)


# -- reading -----------------------------------------------------------------------------------


def is_checkpoint(path: str | Path) -> bool:
    return (Path(path) / META).exists() and (Path(path) / WEIGHTS).exists()


def read_meta(checkpoint: str | Path) -> dict[str, Any]:
    path = Path(checkpoint) / META
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptCheckpoint(f"{path}: unreadable ({exc.__class__.__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CorruptCheckpoint(f"{checkpoint}: not a yt8m checkpoint (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    return meta


def verify_checkpoint(checkpoint: str | Path) -> dict[str, Any]:
    """The checkpoint's metadata once every file it lists matches its sha256; else CorruptCheckpoint."""
    checkpoint = Path(checkpoint)
    meta = read_meta(checkpoint)
    for name, digest in meta.get("files", {}).items():
        path = checkpoint / name
        if not path.exists():
            raise CorruptCheckpoint(f"{path} is missing")
        if _sha256(path) != digest:
            raise CorruptCheckpoint(f"{path} fails its checksum (truncated or overwritten)")
    return meta


def latest_checkpoint(run_dir: str | Path, *, with_state: bool = True) -> Path | None:
    """The newest step checkpoint of a run that verifies; damaged newer ones are named in a warning."""
    directory = Path(run_dir) / "checkpoints"
    if not directory.is_dir():
        return None
    for candidate in sorted((p for p in directory.glob("step_*") if p.is_dir()), reverse=True):
        try:
            meta = verify_checkpoint(candidate)
            if with_state and STATE_JSON not in meta.get("files", {}):
                raise CorruptCheckpoint(f"{candidate} has no trainer state (written by an older yt8m?)")
            return candidate
        except CorruptCheckpoint as exc:
            warnings.warn(f"skipping corrupt checkpoint {candidate.name}: {exc}; trying the previous one", stacklevel=2)
    return None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint dir, or a run dir (its `best` checkpoint if it has one, else the latest)."""
    path = Path(path)
    if is_checkpoint(path):
        return path
    if is_checkpoint(path / "best"):
        return path / "best"
    latest = latest_checkpoint(path, with_state=False)
    if latest is not None:
        return latest
    raise FileNotFoundError(f"{path} is not a yt8m checkpoint or run directory (no {META} / {WEIGHTS} found)")


def load_state_dict(checkpoint: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The verified weights of a checkpoint."""
    verify_checkpoint(checkpoint)
    return load_file(str(Path(checkpoint) / WEIGHTS), device=str(device))


def load_weights(checkpoint: str | Path, model: torch.nn.Module, device: str | torch.device = "cpu") -> None:
    state = load_state_dict(checkpoint, device)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{checkpoint}: weights do not match the model (missing {missing[:5]}, unexpected {unexpected[:5]})")


def load_trainer_state(checkpoint: str | Path) -> dict[str, Any]:
    """Optimizer, loop and random states: safetensors + JSON, verified, never unpickled."""
    meta = verify_checkpoint(checkpoint)
    if STATE_JSON not in meta.get("files", {}):
        raise CorruptCheckpoint(f"{checkpoint} has no trainer state")
    tensors = load_file(str(Path(checkpoint) / STATE_TENSORS))
    return _join(json.loads((Path(checkpoint) / STATE_JSON).read_text()), tensors)
