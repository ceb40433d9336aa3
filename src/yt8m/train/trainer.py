"""The trainer for every model: one loop for video-level and frame-level models, 1 or N ranks.

Loss = label loss + regularization_penalty · model.regularization_loss() + outputs["aux_loss"]
(e.g. the sparsely gated MoE's load losses). Learning rate follows the examples seen; gradients
are clipped per tensor like the official code (or globally). Validation runs the streaming
evaluator every N steps (at epoch ends when distributed, where all ranks meet); early stopping
watches GAP. Checkpoints are atomic and `resume=True`
continues a run to the same weights an uninterrupted run reaches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.loader import VideoDataset, batch_to
from ..io.paths import expand_paths
from ..io.reader import count_records
from ..models.layers.heads import init_output_bias
from .build import build_loss, build_model, fit_model_features
from .checkpoint import latest_checkpoint, load_trainer_state, load_weights, record_latest, save_checkpoint
from .config import ExperimentConfig
from .distributed import all_reduce_sum, autocast, barrier, init_distributed, pick_device
from .optim import clip_gradients, learning_rate, make_optimizer

LOG_FIELDS = ["step", "epoch", "examples", "lr", "loss", "examples_per_sec", "data_wait_fraction", "gap", "hit_at_1", "perr", "map"]


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    steps: int
    examples: int
    best_gap: float | None
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False


@dataclass
class _LoopState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    examples: int = 0
    best_gap: float = -1.0
    evals_without_improvement: int = 0


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


class _Logger:
    """CSV rows plus TensorBoard scalars (rank 0 only)."""

    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool, append: bool) -> None:
        self.enabled = enabled
        self.history: list[dict] = []
        self._tb = None
        if not enabled:
            return
        path = run_dir / "train_log.csv"
        new = not (append and path.exists())
        self._file = open(path, "w" if new else "a", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=LOG_FIELDS, extrasaction="ignore")
        if new:
            self._csv.writeheader()
        if tensorboard:
            try:
                from tensorboardX import SummaryWriter

                self._tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                self._tb = None

    def log(self, row: dict, prefix: str) -> None:
        if not self.enabled:
            return
        self.history.append(row)
        self._csv.writerow(row)
        self._file.flush()
        if self._tb is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)) and value == value:
                    self._tb.add_scalar(f"{prefix}/{key}", value, row["step"])

    def close(self) -> None:
        if self.enabled:
            self._file.close()
            if self._tb is not None:
                self._tb.close()


def _progress(enabled: bool, total: int | None):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}  {task.fields[speed]} videos/s  GAP {task.fields[gap]}"),
        TimeElapsedColumn(),
        disable=not enabled,
    )


def train(
    config: ExperimentConfig,
    train_data,
    out_dir: str | Path,
    *,
    eval_data=None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train `config` on `train_data` (files, globs), writing the run to `out_dir`.

    With `resume=True` the latest checkpoint in `out_dir` is restored (weights, optimizer, RNG and
    the position inside the epoch) and training continues.
    """
    from ..evaluation.evaluate import evaluate_model  # the evaluator package imports models; keep train importable alone

    rank, world_size, local_rank = init_distributed()
    device = pick_device(config.train.device, local_rank)
    is_main = rank == 0
    run_dir = Path(out_dir)
    train_files = expand_paths(train_data)
    eval_files = expand_paths(eval_data) if eval_data else None
    cfg, tcfg = config, config.train

    _seed_everything(tcfg.seed)
    model = build_model(cfg)
    loss_fn = build_loss(cfg, train_files)
    state = _LoopState()
    resume_from = latest_checkpoint(run_dir) if resume else None
    if resume and resume_from is None:
        raise FileNotFoundError(f"--resume: no checkpoint in {run_dir}")
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume and latest_checkpoint(run_dir) is not None:
            raise FileExistsError(f"{run_dir} already holds a run: pass resume=True (--resume) or choose another --out")
        (run_dir / "config.json").write_text(cfg.to_json())
    if resume_from is None:
        fit_model_features(model, train_files, cfg.data)
        if tcfg.output_bias is not None:
            init_output_bias(model, tcfg.output_bias)
    model.to(device)
    optimizer = make_optimizer(model.parameters(), cfg.optimizer)
    if resume_from is not None:
        load_weights(resume_from, model, device)
        saved = load_trainer_state(resume_from)
        optimizer.load_state_dict(saved["optimizer"])
        state = _LoopState(**saved["loop"])
        torch.set_rng_state(saved["torch_rng"])
        if device.type == "cuda" and saved.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(saved["cuda_rng"], device)
        np.random.set_state(saved["numpy_rng"])

    net = model
    if world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    data_cfg = dataclasses.replace(cfg.data, batch_size=cfg.optimizer.batch_size)  # per-rank training batch
    dataset = VideoDataset(train_files, data_cfg, training=True, seed=tcfg.seed, rank=rank, world_size=world_size)
    total_examples = None
    if cfg.schedule.name == "cosine":
        total_examples = tcfg.epochs * sum(count_records(f) for f in train_files)
    logger = _Logger(run_dir, is_main, tcfg.tensorboard, append=resume_from is not None)
    steps_total = tcfg.max_steps
    if steps_total is None and total_examples:
        steps_total = math.ceil(total_examples / (cfg.optimizer.batch_size * world_size))
    last_ckpt: Path | None = resume_from
    stopped_early = False
    last_metrics: dict = {}

    def checkpoint(metrics: dict | None = None) -> Path:
        meta = {
            "config": cfg.to_dict(),
            "model": cfg.model_name,
            "num_classes": cfg.data.num_classes,
            "feature_names": list(cfg.data.feature_names),
            "feature_sizes": list(cfg.data.feature_sizes),
            "step": state.step,
            "epoch": state.epoch,
            "examples": state.examples,
            "metrics": metrics or last_metrics,
        }
        trainer_state = {
            "optimizer": optimizer.state_dict(),
            "loop": state.__dict__.copy(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "numpy_rng": np.random.get_state(),
        }
        path = save_checkpoint(run_dir / "checkpoints" / f"step_{state.step:08d}", model, meta, trainer_state)
        record_latest(run_dir, path, tcfg.keep_checkpoints)
        return path

    def validate() -> dict:
        nonlocal stopped_early
        metrics = {}
        if is_main:
            metrics = evaluate_model(model, eval_files, cfg.data, device=device, max_videos=tcfg.eval_max_videos, amp=tcfg.mixed_precision, bucket_map=False)
            metrics = {k: metrics[k] for k in ("gap", "hit_at_1", "perr", "map")}
            row = {"step": state.step, "epoch": state.epoch, "examples": state.examples, **metrics}
            logger.log(row, "eval")
            if metrics["gap"] > state.best_gap:
                state.best_gap, state.evals_without_improvement = metrics["gap"], 0
                save_checkpoint(run_dir / "best", model, {**checkpoint_meta(), "metrics": metrics})
            else:
                state.evals_without_improvement += 1
        flag = all_reduce_sum(float(tcfg.early_stopping_patience > 0 and state.evals_without_improvement >= tcfg.early_stopping_patience), device)
        stopped_early = flag > 0
        model.train()
        return metrics

    def checkpoint_meta() -> dict:
        return {"config": cfg.to_dict(), "model": cfg.model_name, "num_classes": cfg.data.num_classes, "feature_names": list(cfg.data.feature_names), "feature_sizes": list(cfg.data.feature_sizes), "step": state.step, "epoch": state.epoch, "examples": state.examples}

    model.train()
    window_start, window_examples, window_wait, window_loss, window_steps = time.perf_counter(), 0, 0.0, 0.0, 0
    done = tcfg.max_steps is not None and state.step >= tcfg.max_steps
    with _progress(progress and is_main, steps_total) as bar:
        task = bar.add_task("train", total=steps_total, completed=state.step, loss="-", speed="-", gap=f"{state.best_gap:.4f}" if state.best_gap >= 0 else "-")
        while not done and state.epoch < tcfg.epochs:
            dataset.set_epoch(state.epoch)
            batches = iter(torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=data_cfg.num_workers, pin_memory=device.type == "cuda"))
            for _ in range(state.batch_in_epoch):  # resume inside an epoch: skip what was consumed
                next(batches)
            join = contextlib.nullcontext()
            if world_size > 1:
                from torch.distributed.algorithms.join import Join

                join = Join([net])
            with join:
                while True:
                    wait_start = time.perf_counter()
                    batch = next(batches, None)
                    window_wait += time.perf_counter() - wait_start
                    if batch is None:
                        break
                    features = batch["features"].to(device, non_blocking=True)
                    num_frames = batch["num_frames"].to(device, non_blocking=True)
                    labels = batch["labels"].to(device, non_blocking=True)
                    lr = learning_rate(cfg.optimizer.lr, state.examples, cfg.schedule, total_examples)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    with autocast(device, tcfg.mixed_precision):
                        if hasattr(model, "training_loss"):  # whole-batch models (sparse inputs) compute their own loss
                            outputs, loss = {}, model.training_loss(batch_to(batch, device))
                        else:
                            outputs = net(features, num_frames)
                            outputs = {k: v.float() for k, v in outputs.items()}
                            loss = loss_fn(outputs, labels)
                        objective = loss + tcfg.regularization_penalty * model.regularization_loss().to(device)
                        if "aux_loss" in outputs:
                            objective = objective + outputs["aux_loss"]
                    optimizer.zero_grad(set_to_none=True)
                    objective.backward()
                    clip_gradients(model.parameters(), tcfg.clip_gradient_norm, tcfg.clip_mode)
                    optimizer.step()
                    # no collectives inside the loop besides DDP's own (ranks may run out of data at
                    # different steps; Join covers the gradients): count examples as if every rank
                    # had a full batch like this one.
                    batch_examples = len(batch["ids"]) * world_size
                    state.step += 1
                    state.batch_in_epoch += 1
                    state.examples += batch_examples
                    window_examples += batch_examples
                    window_loss += float(loss.detach())
                    window_steps += 1
                    if not math.isfinite(float(loss.detach())):
                        raise FloatingPointError(f"loss is {float(loss)} at step {state.step}: lower optimizer.lr or check the data")
                    if state.step % tcfg.log_every == 0:
                        elapsed = time.perf_counter() - window_start
                        row = {
                            "step": state.step,
                            "epoch": state.epoch,
                            "examples": state.examples,
                            "lr": lr,
                            "loss": window_loss / window_steps,
                            "examples_per_sec": window_examples / max(elapsed, 1e-9),
                            "data_wait_fraction": window_wait / max(elapsed, 1e-9),
                        }
                        logger.log(row, "train")
                        bar.update(task, loss=f"{row['loss']:.3f}", speed=f"{row['examples_per_sec']:.0f}")
                        window_start, window_examples, window_wait, window_loss, window_steps = time.perf_counter(), 0, 0.0, 0.0, 0
                    bar.update(task, completed=state.step)
                    if eval_files and tcfg.eval_every and world_size == 1 and state.step % tcfg.eval_every == 0:
                        last_metrics = validate()
                        if is_main and last_metrics:
                            bar.update(task, gap=f"{last_metrics['gap']:.4f}")
                    if is_main and tcfg.checkpoint_every and state.step % tcfg.checkpoint_every == 0:
                        last_ckpt = checkpoint()
                    if stopped_early or (tcfg.max_steps is not None and state.step >= tcfg.max_steps):
                        done = True
                        break
            if done:
                break
            state.epoch += 1
            state.batch_in_epoch = 0
            if eval_files and (not tcfg.eval_every or world_size > 1):
                last_metrics = validate()
                if is_main and last_metrics:
                    bar.update(task, gap=f"{last_metrics['gap']:.4f}")
                if stopped_early:
                    break
    if is_main and (last_ckpt is None or last_ckpt.name != f"step_{state.step:08d}"):
        last_ckpt = checkpoint()
    barrier()
    logger.close()
    if is_main:
        (run_dir / "train_summary.json").write_text(
            json.dumps({"steps": state.step, "examples": state.examples, "best_gap": state.best_gap if state.best_gap >= 0 else None, "stopped_early": stopped_early, "checkpoint": str(last_ckpt)}, indent=2)
        )
    return TrainResult(run_dir, last_ckpt, state.step, state.examples, state.best_gap if state.best_gap >= 0 else None, logger.history, stopped_early)
