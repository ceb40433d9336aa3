"""The trainer for every model: one loop for video-level and frame-level models, 1 or N ranks.

Loss = label loss + regularization_penalty · model.regularization_loss() + outputs["aux_loss"]
(e.g. the sparsely gated MoE's load losses). Learning rate follows the examples seen; gradients
are clipped per tensor like the official code (or globally). Validation runs the streaming
evaluator every N steps (at epoch ends when distributed, where all ranks meet); early stopping
watches GAP.

Resume is exact: a checkpoint is taken after a step's bookkeeping (log, validation), and holds
the weights, the optimizer, the loss scaler, the loop position (epoch, batches used) and every
random state (torch, CUDA, numpy, python). The loader resumes the epoch at that batch (it draws
its shuffling and frame sampling from the seed and the position, and its worker seeds from its own
generator), and the random states are restored last, so the resumed run computes what the
uninterrupted run computes. A resume first compares the config and data with the run's own and
refuses changes that alter results unless they are named in `allow_changes`; nothing is written
before that check passes.

N ranks: the loader's global order gives every rank equally many batches, and rank r's batch is
its slice of the global batch (data.loader), so N ranks at batch B, one rank accumulating N
micro-batches of B (`optimizer.accumulate`) and one rank at batch N·B take the same steps (up to
float summation order; batch norm statistics are per micro-batch). Checkpoints hold every rank's
random states (rank 0 writes them), and a worker group restarted by `torchrun --max-restarts`
resumes from the newest intact checkpoint by itself, so a run with a killed rank ends as the
uninterrupted one does.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fnmatch
import io
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.folds import split_by_shard
from ..data.loader import VideoDataset, batch_to, gather_read_stats, loader_for, model_inputs
from ..io.report import ReadStats
from ..io.paths import expand_paths
from ..models.layers.heads import init_output_bias
from ..progress import Progress
from .build import build_loss, build_model, fit_model_features, prior_logit
from .checkpoint import latest_checkpoint, load_state_dict, load_trainer_state, load_weights, record_latest, resolve_checkpoint, save_checkpoint, write_text_atomic
from .config import ExperimentConfig, config_from_dict
from .distributed import all_reduce_min, all_reduce_sum, amp_dtype, barrier, gather_objects, grad_scaler, init_distributed, pick_device, restarted_by_torchrun
from .optim import clip_gradients, learning_rate, make_optimizer

LOG_FIELDS = ["step", "epoch", "examples", "lr", "loss", "examples_per_sec", "data_wait_fraction", "gap", "hit_at_1", "perr", "map", "segment_map"]
CONFIG, RUN = "config.json", "run.json"
# settings a resume may change freely: they do not alter what is computed
NEUTRAL_KEYS = ("train.device", "train.log_every", "train.tensorboard", "train.checkpoint_every", "train.keep_checkpoints", "train.init_from", "train.init_exclude")


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    steps: int
    examples: int
    best_gap: float | None  # the best validation score: GAP, or MAP@100K for segment runs (validation_metric)
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    read_stats: ReadStats = field(default_factory=ReadStats)  # training records read / skipped, all ranks
    validation_metric: str = "gap"  # what best_gap and early stopping watch ("segment_map" on segment data)


@dataclass
class _LoopState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    examples: int = 0
    best_gap: float = -1.0
    evals_without_improvement: int = 0


# -- the run's files and the resume check ----------------------------------------------------------


def _data_files(spec) -> list[str] | None:
    if not spec:
        return None
    return [p if "://" in p else os.path.abspath(p) for p in expand_paths(spec)]


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def _allowed(key: str, allow_changes) -> bool:
    return any(key == a or key.startswith(f"{a}.") for a in (*NEUTRAL_KEYS, *allow_changes))


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _check_resume(run_dir: Path, config: ExperimentConfig, train_files, eval_files, allow_changes) -> tuple[Path, list[str], list[str] | None]:
    """The checkpoint to resume and the data to use, or a one-line error; writes nothing."""
    if not (run_dir / CONFIG).exists():
        raise FileNotFoundError(f"--resume: {run_dir} holds no run ({CONFIG} missing)")
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise FileNotFoundError(f"--resume: no intact checkpoint in {run_dir}")
    stored = json.loads((run_dir / CONFIG).read_text())
    data = json.loads((run_dir / RUN).read_text()) if (run_dir / RUN).exists() else {}
    before = {**_flatten(config_from_dict(stored).to_dict()), "train_data": data.get("train_data"), "eval_data": data.get("eval_data")}
    after = {**_flatten(config.to_dict()), "train_data": train_files or before["train_data"], "eval_data": eval_files or before["eval_data"]}
    changed = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k) and not _allowed(k, allow_changes)]
    if changed:
        listing = ", ".join(f"{k} ({_short(before.get(k))} -> {_short(after.get(k))})" for k in changed)
        raise ValueError(f"resuming {run_dir} would change {listing}: these alter the results; allow deliberate ones by name (--allow-change KEY)")
    if not after["train_data"]:
        raise ValueError(f"--resume: {run_dir} does not record its training data: pass --train-data")
    return checkpoint, after["train_data"], after["eval_data"]


def _write_run_files(run_dir: Path, config: ExperimentConfig, train_files, eval_files) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / CONFIG, config.to_json())
    write_text_atomic(run_dir / RUN, json.dumps({"train_data": train_files, "eval_data": eval_files}, indent=2))


# -- logging ------------------------------------------------------------------------------------


class _Logger:
    """CSV rows plus TensorBoard scalars (rank 0 only). On resume the rows past the restored step
    (written before a crash) are dropped, so every step appears once."""

    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool, resume_step: int | None) -> None:
        self.enabled = enabled
        self.history: list[dict] = []
        self._tb = None
        if not enabled:
            return
        path = run_dir / "train_log.csv"
        kept = ""
        if resume_step is not None and path.exists():
            rows = [r for r in csv.DictReader(io.StringIO(path.read_text())) if r.get("step", "").isdigit() and int(r["step"]) <= resume_step]
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=LOG_FIELDS, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            kept = buffer.getvalue()
        if not kept:
            kept = ",".join(LOG_FIELDS) + "\n"
        write_text_atomic(path, kept)
        self._file = open(path, "a", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=LOG_FIELDS, extrasaction="ignore", lineterminator="\n")
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


# -- random states ------------------------------------------------------------------------------


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _random_states(device: torch.device) -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, python_state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "has_gauss": has_gauss, "cached": cached},
        "python": {"version": version, "state": list(python_state), "gauss": gauss},
    }


def _restore_random_states(saved: dict, device: torch.device) -> None:
    torch.set_rng_state(saved["torch"])
    if device.type == "cuda" and saved.get("cuda") is not None:
        torch.cuda.set_rng_state(saved["cuda"], device)
    n = saved["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = saved["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


# -- weights from another run, frozen parameters ----------------------------------------------------


class _WholeBatchLoss(torch.nn.Module):
    """A whole-batch model's `training_loss` as a module's forward: DDP arms its gradient all-reduce
    in its forward, so a loss computed beside it would leave every rank with its own gradients."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict) -> torch.Tensor:
        return self.model.training_loss(batch)


def _matches(name: str, globs) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


def _init_from(model: torch.nn.Module, source: str, exclude) -> None:
    """Copy weights from a run or checkpoint, except the names matching `exclude` globs."""
    checkpoint = resolve_checkpoint(source)
    saved = load_state_dict(checkpoint)
    own = model.state_dict()
    for glob in exclude:
        if not any(fnmatch.fnmatchcase(k, glob) for k in own):
            raise ValueError(f"train.init_exclude {glob!r} matches no parameter of the model")
    source = getattr(model, "init_source_key", lambda name: name)  # e.g. context_aware: both encoders from one phase-1 model
    wanted = [k for k in own if not _matches(k, exclude) and source(k) is not None]
    missing = [k for k in wanted if source(k) not in saved]
    mismatched = [f"{k} {tuple(saved[source(k)].shape)} vs {tuple(own[k].shape)}" for k in wanted if source(k) in saved and saved[source(k)].shape != own[k].shape]
    if missing or mismatched:
        problems = ", ".join([*(f"{k} (missing)" for k in missing[:5]), *mismatched[:5]])
        raise ValueError(f"train.init_from {checkpoint}: {problems} do not fit the model; skip them with train.init_exclude (e.g. --init-exclude 'head.*')")
    model.load_state_dict({k: saved[source(k)] for k in wanted}, strict=False)


def _freeze(model: torch.nn.Module, globs) -> None:
    names = [n for n, _ in model.named_parameters()]
    for glob in globs:
        if not any(fnmatch.fnmatchcase(n, glob) for n in names):
            raise ValueError(f"train.freeze {glob!r} matches no parameter of the model")
    for name, parameter in model.named_parameters():
        if _matches(name, globs):
            parameter.requires_grad_(False)


def _train_mode(model: torch.nn.Module, frozen_globs) -> None:
    """Training mode, except normalization layers of frozen parts: their running statistics are
    part of what was frozen (a frozen encoder must compute the same features on new data)."""
    model.train()
    if not frozen_globs:
        return
    for name, module in model.named_modules():
        if getattr(module, "running_mean", None) is None:
            continue
        own = list(module.parameters(recurse=False))
        if (own and not any(p.requires_grad for p in own)) or (not own and _matches(f"{name}.running_mean", frozen_globs)):
            module.eval()


# -- the run ------------------------------------------------------------------------------------


class _Run:
    """One training run, in the order it happens: set up, resume (or initialise), epochs, finish."""

    def __init__(self, config: ExperimentConfig, run_dir: Path, train_files: list[str], eval_files: list[str] | None, progress: bool) -> None:
        self.cfg, self.tcfg = config, config.train
        self.run_dir, self.train_files, self.eval_files = run_dir, train_files, eval_files
        self.rank, self.world_size, local_rank = init_distributed()
        self.is_main = self.rank == 0
        self.device = pick_device(self.tcfg.device, local_rank)
        self.show_progress = progress and self.is_main
        self.state = _LoopState()
        self.stopped_early = False
        self.last_metrics: dict = {}
        self.last_checkpoint: Path | None = None
        self.read_stats = ReadStats()  # every training batch's read accounting (all workers), summed

    # -- set up -----------------------------------------------------------------------------------

    def set_up(self, resume_from: Path | None) -> None:
        """Model, loss, optimizer, loss scaler and data; weights fitted or initialised unless resuming."""
        cfg, tcfg = self.cfg, self.tcfg
        _seed_everything(tcfg.seed)
        self.model = build_model(cfg)
        self.loss_fn = build_loss(cfg, self.train_files)
        if resume_from is None:
            fit_model_features(self.model, self.train_files, cfg.data)
            if tcfg.output_bias is not None:
                bias = prior_logit(self.train_files, cfg.data) if tcfg.output_bias == "auto" else tcfg.output_bias
                init_output_bias(self.model, bias)
            if tcfg.init_from:
                _init_from(self.model, tcfg.init_from, tcfg.init_exclude)
        _freeze(self.model, tcfg.freeze)
        _train_mode(self.model, tcfg.freeze)
        self.model.to(self.device)
        self.teacher = None
        if tcfg.teacher:
            from ..predict.loaded import load_model  # prediction imports the trainer's modules; keep train importable alone

            self.teacher = load_model(tcfg.teacher, device=str(self.device)).model
        self.optimizer = make_optimizer([p for p in self.model.parameters() if p.requires_grad], cfg.optimizer)
        self.amp_dtype = amp_dtype(self.device, tcfg.mixed_precision, tcfg.amp_dtype)
        self.scaler = grad_scaler(self.device, self.amp_dtype)
        self.net = _WholeBatchLoss(self.model) if hasattr(self.model, "training_loss") else self.model
        if self.world_size > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        data_cfg = dataclasses.replace(cfg.data, batch_size=cfg.optimizer.batch_size)  # per-rank micro-batch
        self.accumulate = cfg.optimizer.accumulate
        self.dataset = VideoDataset(self.train_files, data_cfg, training=True, seed=tcfg.seed, rank=self.rank, world_size=self.world_size, accumulate=self.accumulate)
        # equal on every rank by construction (global order); segment examples are counted per rank: the fewest set the pace
        self.steps_per_epoch = int(all_reduce_min(self.dataset.batches_per_epoch() // self.accumulate, self.device))
        epoch_examples = self.steps_per_epoch * cfg.optimizer.batch_size * self.world_size * self.accumulate
        self.total_examples = tcfg.epochs * epoch_examples if cfg.schedule.name == "cosine" else None
        self.total_steps = tcfg.epochs * self.steps_per_epoch
        if tcfg.max_steps is not None:
            self.total_steps = min(self.total_steps, tcfg.max_steps)

    # -- resume -----------------------------------------------------------------------------------

    def resume(self, checkpoint: Path) -> None:
        """Weights, optimizer, scaler and loop position from `checkpoint`; random states last."""
        load_weights(checkpoint, self.model, self.device)
        saved = load_trainer_state(checkpoint)
        self.optimizer.load_state_dict(saved["optimizer"])
        if saved.get("grad_scaler"):
            self.scaler.load_state_dict(saved["grad_scaler"])
        self.state = _LoopState(**saved["loop"])
        self.last_checkpoint = checkpoint
        states = saved["random"] if isinstance(saved["random"], list) else [saved["random"]]  # one per rank
        if len(states) != self.world_size:
            raise ValueError(f"--resume: {checkpoint} was written by {len(states)} rank(s), this run has {self.world_size}: "
                             "the global batch and data order would change; resume with the same number of ranks")
        _restore_random_states(states[self.rank], self.device)

    # -- epochs -----------------------------------------------------------------------------------

    def run(self, resumed: bool) -> TrainResult:
        self.logger = _Logger(self.run_dir, self.is_main, self.tcfg.tensorboard, self.state.step if resumed else None)
        self._window()
        with Progress("train", total=self.total_steps, unit="steps", enabled=self.show_progress) as bar:
            bar.update(self.state.step, best_gap=self._gap_text())
            self.bar = bar
            while not self._finished() and self.state.epoch < self.tcfg.epochs:
                self.train_epoch()
                if self._finished():
                    break
                self.state.epoch += 1
                self.state.batch_in_epoch = 0
                if self.eval_files and (not self.tcfg.eval_every or self.world_size > 1):
                    self.evaluate()
        return self.finish()

    def _finished(self) -> bool:
        return self.stopped_early or (self.tcfg.max_steps is not None and self.state.step >= self.tcfg.max_steps)

    def train_epoch(self) -> None:
        """The rest of the current epoch, from the batch the loop state points at."""
        self.dataset.set_position(self.state.epoch, self.state.batch_in_epoch)
        loader = loader_for(self.dataset, pin_memory=self.device.type == "cuda")
        batches = iter(loader)
        with _merged_on_exit(self.read_stats, loader.read_stats):
            while not self._finished() and self.state.batch_in_epoch < self.steps_per_epoch * self.accumulate:
                wait_start = time.perf_counter()
                micro = [b for b in (next(batches, None) for _ in range(self.accumulate)) if b is not None]
                self.window["wait"] += time.perf_counter() - wait_start
                if len(micro) < self.accumulate:  # every rank has equally many (data.loader): none waits
                    break
                self.train_step(micro)
                self.after_step()

    def _objective(self, batch: dict):
        """(label loss, what is minimised) of one micro-batch."""
        tcfg = self.tcfg
        autocast = torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext()
        with autocast:
            if hasattr(self.model, "training_loss"):  # whole-batch models (sparse inputs) compute their own loss
                outputs, loss = {}, self.net(batch_to(batch, self.device))
            else:
                features = batch["features"].to(self.device, non_blocking=True)
                num_frames = batch["num_frames"].to(self.device, non_blocking=True)
                labels = batch["labels"].to(self.device, non_blocking=True)
                weights = batch.get("label_weights")  # segment data: only rated (and mined negative) pairs count
                weights = None if weights is None else weights.to(self.device, non_blocking=True)
                extra = model_inputs(batch, self.device)
                if self.teacher is not None:  # soft labels: a mixture of the ground truth and the teacher's predictions
                    with torch.no_grad():
                        taught = self.teacher(features, num_frames, **extra)["predictions"].float()
                    labels = (1 - tcfg.teacher_weight) * labels + tcfg.teacher_weight * taught
                outputs = self.net(features, num_frames, **extra)
                outputs = {k: v.float() for k, v in outputs.items()}
                loss = self.loss_fn(outputs, labels, weights)
            objective = loss + tcfg.regularization_penalty * self.model.regularization_loss().to(self.device)
            if "aux_loss" in outputs:
                objective = objective + outputs["aux_loss"]
        return loss, objective

    def train_step(self, micro: list[dict]) -> None:
        """One optimizer step over `accumulate` micro-batches: gradients of their mean objective."""
        cfg, tcfg, state = self.cfg, self.tcfg, self.state
        self.lr = learning_rate(cfg.optimizer.lr, state.examples, cfg.schedule, self.total_examples)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        self.optimizer.zero_grad(set_to_none=True)
        loss_value = 0.0
        for i, batch in enumerate(micro):
            last = i == len(micro) - 1
            sync = contextlib.nullcontext() if last or self.world_size == 1 else self.net.no_sync()  # all-reduce once per step
            with sync:
                loss, objective = self._objective(batch)
                self.scaler.scale(objective / len(micro)).backward()
            loss_value += float(loss.detach()) / len(micro)
        self.scaler.unscale_(self.optimizer)
        clip_gradients([p for p in self.model.parameters() if p.requires_grad], tcfg.clip_gradient_norm, tcfg.clip_mode)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"loss is {loss_value} at step {state.step + 1}: lower optimizer.lr or check the data")
        batch_examples = sum(len(b["ids"]) for b in micro) * self.world_size
        state.step += 1
        state.batch_in_epoch += len(micro)
        state.examples += batch_examples
        self.window["examples"] += batch_examples
        self.window["loss"] += loss_value
        self.window["steps"] += 1

    def after_step(self) -> None:
        """Log, validate, checkpoint: the defined point a resume restarts from."""
        tcfg, state = self.tcfg, self.state
        if state.step % tcfg.log_every == 0:
            self.log_window()
        w = self.window
        loss = w["loss"] / w["steps"] if w["steps"] else self.window_loss
        self.bar.update(state.step, loss=f"{loss:.4f}" if loss is not None else "-", best_gap=self._gap_text())
        if self.eval_files and tcfg.eval_every and self.world_size == 1 and state.step % tcfg.eval_every == 0:
            self.evaluate()
        if tcfg.checkpoint_every and state.step % tcfg.checkpoint_every == 0:
            self.checkpoint()

    def _window(self) -> None:
        self.window = {"start": time.perf_counter(), "examples": 0, "wait": 0.0, "loss": 0.0, "steps": 0}
        self.window_loss = getattr(self, "window_loss", None)

    def log_window(self) -> None:
        w = self.window
        elapsed = max(time.perf_counter() - w["start"], 1e-9)
        self.window_loss = w["loss"] / max(w["steps"], 1)
        row = {
            "step": self.state.step, "epoch": self.state.epoch, "examples": self.state.examples, "lr": self.lr,
            "loss": self.window_loss, "examples_per_sec": w["examples"] / elapsed, "data_wait_fraction": w["wait"] / elapsed,
        }
        self.logger.log(row, "train")
        self._window()

    def _gap_text(self) -> str:
        return f"{self.state.best_gap:.4f}" if self.state.best_gap >= 0 else "-"

    # -- evaluate ---------------------------------------------------------------------------------

    def evaluate(self) -> None:
        """Validation GAP and friends (rank 0), the best checkpoint, the early-stopping decision."""
        from ..evaluation.evaluate import evaluate_model  # the evaluator imports models; keep train importable alone

        state, tcfg = self.state, self.tcfg
        if self.is_main:
            if self.cfg.data.segment_labels:
                metrics = self._segment_validation()
            else:
                metrics = evaluate_model(self.model, self.eval_files, self.cfg.data, device=self.device, max_videos=tcfg.eval_max_videos, amp=tcfg.mixed_precision, bucket_map=False)
                metrics = {k: metrics[k] for k in ("gap", "hit_at_1", "perr", "map")}
            self.logger.log({"step": state.step, "epoch": state.epoch, "examples": state.examples, **metrics}, "eval")
            self.last_metrics = metrics
            watched = metrics[self.validation_metric]
            if watched > state.best_gap:
                state.best_gap, state.evals_without_improvement = watched, 0
                save_checkpoint(self.run_dir / "best", self.model, {**self._meta(), "metrics": metrics})
            else:
                state.evals_without_improvement += 1
        patience = tcfg.early_stopping_patience
        flag = all_reduce_sum(float(patience > 0 and state.evals_without_improvement >= patience), self.device)
        self.stopped_early = flag > 0
        _train_mode(self.model, self.tcfg.freeze)

    @property
    def validation_metric(self) -> str:
        return "segment_map" if self.cfg.data.segment_labels else "gap"

    def _segment_validation(self) -> dict:
        """MAP@100K of the rated held-out segments ranked by the model (the Kaggle-2019 metric), plus
        GAP over the rated pairs; one pass over the data."""
        from ..evaluation.evaluate import rated_segment_predictions
        from ..evaluation.evaluator import Evaluator
        from ..evaluation.segments import rated_segment_map

        evaluator = Evaluator(self.cfg.data.num_classes, top_k=20, bucket_map=False)
        rated = rated_segment_predictions(self.model, self.eval_files, self.cfg.data, device=self.device, max_videos=self.tcfg.eval_max_videos, amp=self.tcfg.mixed_precision, evaluator=evaluator)
        return {"segment_map": rated_segment_map(rated)["segment_map"], "gap": evaluator.result().as_dict()["gap"]}

    # -- checkpoint -------------------------------------------------------------------------------

    def _meta(self) -> dict:
        cfg, state = self.cfg, self.state
        return {
            "config": cfg.to_dict(), "model": cfg.model_name, "num_classes": cfg.data.num_classes,
            "feature_names": list(cfg.data.feature_names), "feature_sizes": list(cfg.data.feature_sizes),
            "step": state.step, "epoch": state.epoch, "examples": state.examples, "metrics": self.last_metrics,
        }

    def checkpoint(self) -> None:
        """Every rank calls it (their random states are gathered); rank 0 writes."""
        states = gather_objects(_random_states(self.device))
        path = self.run_dir / "checkpoints" / f"step_{self.state.step:08d}"
        if self.is_main:
            self._write_checkpoint(path, states)
        self.last_checkpoint = path

    def _write_checkpoint(self, path: Path, states: list) -> None:
        trainer_state = {
            "optimizer": self.optimizer.state_dict(),
            "grad_scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "loop": dataclasses.asdict(self.state),
            "random": states,  # one per rank
        }
        save_checkpoint(path, self.model, self._meta(), trainer_state)
        record_latest(self.run_dir, path, self.tcfg.keep_checkpoints)

    # -- finish -----------------------------------------------------------------------------------

    def finish(self) -> TrainResult:
        state = self.state
        if self.last_checkpoint is None or self.last_checkpoint.name != f"step_{state.step:08d}":
            self.checkpoint()
        self.read_stats = gather_read_stats(self.read_stats)  # all ranks
        barrier()
        self.logger.close()
        best = state.best_gap if state.best_gap >= 0 else None
        if self.is_main:
            summary = {"steps": state.step, "examples": state.examples, "best_gap": best, "validation_metric": self.validation_metric, "stopped_early": self.stopped_early, "checkpoint": str(self.last_checkpoint), "read": self.read_stats.as_dict()}
            write_text_atomic(self.run_dir / "train_summary.json", json.dumps(summary, indent=2))
        return TrainResult(self.run_dir, self.last_checkpoint, state.step, state.examples, best, self.logger.history, self.stopped_early, self.read_stats, self.validation_metric)


def train(
    config: ExperimentConfig,
    train_data,
    out_dir: str | Path,
    *,
    eval_data=None,
    resume: bool = False,
    allow_changes=(),
    progress: bool = True,
) -> TrainResult:
    """Train `config` on `train_data` (files, globs), writing the run to `out_dir`.

    With `resume=True` the newest intact checkpoint in `out_dir` is restored and training continues
    exactly; `train_data`/`eval_data` may then be None (the run's own are used). A resume that would
    change the config or data is refused unless each changed key is named in `allow_changes`
    (e.g. ["optimizer.lr", "train.epochs"]).
    """
    run_dir = Path(out_dir)
    train_files, eval_files = _data_files(train_data), _data_files(eval_data)
    if config.train.folds and train_files:
        if eval_files:
            raise ValueError(f"train.folds={config.train.folds} validates on a held-out fold of the training files: pass no eval data, or set train.folds=0")
        train_files, eval_files = split_by_shard(train_files, config.train.folds, config.train.fold)
    resume = resume or (restarted_by_torchrun() and latest_checkpoint(run_dir) is not None)
    resume_from = None
    if resume:
        resume_from, train_files, eval_files = _check_resume(run_dir, config, train_files, eval_files, allow_changes)
    else:
        if any((run_dir / "checkpoints").glob("step_*")):  # a run that never checkpointed may be started again
            raise FileExistsError(f"{run_dir} already holds a run: pass resume=True (--resume) or choose another --out")
        if not train_files:
            raise ValueError("no training data: pass --train-data")
    run = _Run(config, run_dir, train_files, eval_files, progress)
    run.set_up(resume_from)
    if run.is_main:
        _write_run_files(run_dir, config, train_files, eval_files)
    if resume_from is not None:
        run.resume(resume_from)
    return run.run(resumed=resume_from is not None)


@contextlib.contextmanager
def _merged_on_exit(total: ReadStats, part: ReadStats):
    """Add an epoch's read accounting to the run's, however the epoch ends."""
    try:
        yield
    finally:
        total.merge(part)
