"""MiCRObE end to end over record files (Figure 1), as Dask tasks, and the saved model.

Stages (each streams over the records of its partition; memory is bounded by the model):
1. calibration statistics: map over partitions -> per feature block, tree-reduced counts;
   λ tuned on the held-out videos (one task per block and λ grid), then the final fit per block,
   then the top K features per label (F_e) and the inverse lists E_f;
2. mining: map over partitions (the paper's workers, W = number of partitions), each with its own
   per-label queues of size k (pruned scan); the queues come back split into label blocks;
3. per label block: the reduce (top M of the k·W candidates), λ search and the second-order
   model of each label, and τ_e;
4. the cascade (η_{e|f} = p⁻¹(τ_e)), saved as a self-describing model directory.

Labels whose second-order model comes out constant, or that have calibrated features but no mined
positive, fall back to max-calibration (eq. 3) instead of never firing; `labels.csv` in the model
directory says which path every label took. With an output directory, `run_microbe` checkpoints
each finished stage (yt8m.microbe.checkpoints) and `resume=True` restarts at the first stage that
did not finish or whose settings changed.

`MicrobeJob` exposes the stages separately (the benchmark reuses one calibration for several
second-order models); `run_microbe` runs them all.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import operator
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from yt8m.io import RecordSchema, VideoRecord, expand_paths, read_file

from .calibration import (
    CalibrationStats, choose_lambda, fit_block, heldout_split, select_top_features, tune_block,
)
from .cascade import CascadeModel, label_thresholds
from .checkpoints import StageCheckpoints
from .dask_jobs import LocalRunner, make_runner, tree_reduce
from .features import FeatureSpace, batches, video_key
from .maxcal import MaxCalibrationModel
from .mining import (
    HardNegativeMiner, MiningPartial, RandomNegativeSampler, default_k, merge_partials, mined_labels, popular_rates,
    random_training_sets,
)
from .pairs import PairTable
from .second_order import MAX_LAMBDA, LabelModel, train_label

MODEL_FILE = "microbe.json"
LABELS_FILE = "labels.csv"
CHECKPOINTS = "checkpoints"
FORMAT_VERSION = 1
# "random": a uniform sample per label, positives at their natural rate (the paper's random negatives);
# "balanced_random": up to M/2 random positives filled with random negatives (far above the natural rate)
NEGATIVES = ("hard", "random", "balanced_random")

# how each label is scored (labels.csv, report["second_order"]["label_status"])
SECOND_ORDER = "second_order"
FALLBACK_CONSTANT = "maxcal_fallback_constant_model"
FALLBACK_NO_POSITIVE = "maxcal_fallback_no_mined_positive"
FALLBACK_NOT_MINED = "maxcal_fallback_not_mined"
NO_FEATURES = "no_features"
LABEL_STATUSES = (SECOND_ORDER, FALLBACK_CONSTANT, FALLBACK_NO_POSITIVE, FALLBACK_NOT_MINED, NO_FEATURES)


# ----------------------------------------------------------------------------------------------
# configuration


@dataclass
class FeatureConfig:
    sources: tuple[str, ...] = ("im", "tm")  # sparse feature lists in the records (<name>_ids, <name>_scores)
    sizes: tuple[int, ...] = ()  # vocabulary size of each source; empty: from `synthetic`
    synthetic: str | None = None  # a `yt8m synth` output directory: vocabulary sizes and classes from its manifest
    level: str = "frame"  # "frame": windowed frames; "video": mean and top-1..5 per feature
    window: int = 2  # frame level: average over ±window frames (±2 s at 1 fps)


@dataclass
class CalibrationConfig:
    bucket_width: float = 1e-4  # footnote 1: values quantized to buckets of 1e-4
    lambdas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)  # grid for λ of eq. 2, chosen on held-out videos
    heldout_fraction: float = 0.1  # share of training videos held out to choose λ
    top_k: int = 50  # K: features kept per label (F_e), by p(x_max)
    min_positives: int = 1  # fit a pair when the label co-occurs with the feature this often
    min_p_max: float = 0.0  # keep pairs with p(x_max) above this (the paper keeps every α > 0)
    blocks: int = 8  # feature blocks fitted in parallel


@dataclass
class MiningConfig:
    examples: int = 1000  # M: mined examples per label
    k: int | None = None  # per-worker queue size; None: the paper's kW = 2M
    frames_per_video: int = 10  # frame level: random frames per video offered to the queues
    splits_per_file: int = 1  # workers W = files x splits_per_file
    batch_size: int = 256  # examples read per batch
    prune_every: int = 32  # the pruning bounds are refreshed every this many examples, whatever the batch (1 = the paper's loop)
    prune: bool = True  # τ_{f,e}, Q_min and shrinking E_f(w); False = brute force
    popular_sampling: bool = True  # offer examples of label e with probability min(1, M / positives(e))
    negatives: str = "hard"  # "hard": max-calibration mining; "random" / "balanced_random": the baselines (see NEGATIVES)


@dataclass
class SecondOrderConfig:
    model: str = "moe"  # "logistic" or "moe"
    mixtures: int = 5  # H
    restarts: int = 3  # random k-means++ restarts for H > 1
    lambda_start: float = 1e-2
    lambda_factor: float = 2.0
    lambda_max: float = MAX_LAMBDA  # bound of the λ search: free offsets let it run away on labels that do not generalise
    min_spread: float = 1e-3  # constant model (max-calibration instead): probabilities vary less on its training set, or λ hit lambda_max
    label_blocks: int = 8  # labels trained in parallel blocks


@dataclass
class DaskConfig:
    scheduler: str | None = None  # None/"local": LocalCluster; "sync": this process; or tcp://host:port
    workers: int = 2  # LocalCluster worker processes (one thread each)


@dataclass
class MicrobeConfig:
    """Everything `yt8m microbe run` needs; saved into the model directory."""

    train: list[str] = field(default_factory=list)  # record files or globs (frame-level with sparse features)
    num_classes: int | None = None  # None: from features.synthetic
    output: str | None = None  # model directory
    features: FeatureConfig = field(default_factory=FeatureConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    mining: MiningConfig = field(default_factory=MiningConfig)
    second_order: SecondOrderConfig = field(default_factory=SecondOrderConfig)
    dask: DaskConfig = field(default_factory=DaskConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.train, str):
            self.train = [self.train]
        for name, cls in (("features", FeatureConfig), ("calibration", CalibrationConfig), ("mining", MiningConfig),
                          ("second_order", SecondOrderConfig), ("dask", DaskConfig)):
            value = getattr(self, name)
            if isinstance(value, dict):
                known = {f.name for f in dataclasses.fields(cls)}
                unknown = set(value) - known
                if unknown:
                    raise ValueError(f"unknown {name} setting(s): {', '.join(sorted(unknown))}")
                setattr(self, name, cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}))
        if self.features.synthetic and (not self.features.sizes or self.num_classes is None):
            self._from_synthetic(Path(self.features.synthetic))
        if self.num_classes is None or not self.features.sizes:
            raise ValueError("set num_classes and features.sizes (or features.synthetic: a `yt8m synth` directory)")
        if self.mining.negatives not in NEGATIVES:
            raise ValueError(f"mining.negatives must be one of {NEGATIVES}, got {self.mining.negatives!r}")
        self.space  # validates the feature settings

    def _from_synthetic(self, directory: Path) -> None:
        from yt8m.synth.sparse import vocabulary_sizes

        manifest = directory / "manifest.json"
        try:
            info = json.loads(manifest.read_text())
        except FileNotFoundError:
            raise ValueError(f"features.synthetic: {manifest} not found (expected a `yt8m synth` output directory)") from None
        classes = int(info["num_classes"])
        if self.num_classes is None:
            self.num_classes = classes
        if not self.features.sizes:
            sizes = vocabulary_sizes(classes)
            missing = [s for s in self.features.sources if s not in sizes]
            if missing:
                raise ValueError(f"{manifest}: the synthetic data has no sparse feature {missing[0]!r}")
            self.features.sizes = tuple(sizes[s] for s in self.features.sources)

    @property
    def space(self) -> FeatureSpace:
        f = self.features
        return FeatureSpace(tuple(f.sources), tuple(int(s) for s in f.sizes), f.level, f.window)

    def schema(self) -> RecordSchema:
        """Read only the sparse lists (and ids, labels): the dense frames are not decoded."""
        return RecordSchema(kind="frame", feature_names=(), feature_sizes=(), num_classes=self.num_classes,
                            sparse_features=tuple(self.features.sources))

    def to_dict(self) -> dict:
        def plain(v):
            if dataclasses.is_dataclass(v):
                return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
            return list(v) if isinstance(v, tuple) else v

        return plain(self)

    @classmethod
    def from_dict(cls, data: dict) -> "MicrobeConfig":
        """Values converted by type (yt8m.typed_config); unknown keys and bad values are one-line errors."""
        from yt8m.typed_config import build

        return build(cls, data, what="MiCRObE config")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "MicrobeConfig":
        from yt8m.typed_config import read_yaml

        data = read_yaml(path)
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def replace(self, **sections) -> "MicrobeConfig":
        """A copy with whole fields or section fields changed: replace(mining={"examples": 50})."""
        data = self.to_dict()
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return MicrobeConfig.from_dict(data)


# ----------------------------------------------------------------------------------------------
# partitions: the map tasks' inputs


@dataclass(frozen=True)
class Partition:
    """Records start, start+step, ... of one file; video keys come from (file index, record index)."""

    path: str
    file_index: int
    start: int = 0
    step: int = 1


def make_partitions(paths: Iterable[str] | str, splits_per_file: int = 1) -> list[Partition]:
    files = expand_paths(paths)
    if not files:
        raise FileNotFoundError(f"no record files match {paths!r}")
    return [Partition(p, i, s, splits_per_file) for i, p in enumerate(files) for s in range(splits_per_file)]


def read_partition(part: Partition, schema: RecordSchema) -> Iterator[tuple[int, VideoRecord]]:
    for j, record in enumerate(read_file(part.path, schema, start=part.start, step=part.step)):
        yield video_key(part.file_index, part.start + j * part.step), record


# ----------------------------------------------------------------------------------------------
# tasks (module-level functions so Dask can ship them)


@dataclass
class DataCounts:
    """Per-partition counts: videos, examples, and per label the videos and mining examples."""

    videos: int
    examples: int
    label_videos: np.ndarray
    label_mining_examples: np.ndarray  # positives(e) of the mining stream (popular-label sampling)

    def __add__(self, other: "DataCounts") -> "DataCounts":
        return DataCounts(self.videos + other.videos, self.examples + other.examples,
                          self.label_videos + other.label_videos, self.label_mining_examples + other.label_mining_examples)


def calibration_task(part: Partition, config: MicrobeConfig) -> tuple[list[CalibrationStats], DataCounts]:
    """Map: count one partition's (feature, bucket) and (label, feature, bucket) statistics."""
    space, cal = config.space, config.calibration
    stats = CalibrationStats(space.num_features, config.num_classes, cal.bucket_width)
    L = config.num_classes
    counts = DataCounts(0, 0, np.zeros(L, np.int64), np.zeros(L, np.int64))
    for examples, videos in batches(read_partition(part, config.schema()), space, frames="all"):
        stats.add(examples, heldout_split(examples.video_hash, cal.heldout_fraction))
        counts.videos += len(videos)
        counts.examples += len(examples)
        for record in videos:
            labels = np.unique(np.asarray(record.labels, dtype=np.int64))
            frames = record.sparse[space.sources[0]].num_frames
            mining = 1 if space.level == "video" else min(frames, config.mining.frames_per_video)
            counts.label_videos[labels] += 1
            counts.label_mining_examples[labels] += mining
    stats.compact()
    blocks = stats.split_blocks(cal.blocks) if cal.blocks > 1 else [stats]
    return blocks, counts


def merge_stats(*parts: CalibrationStats) -> CalibrationStats:
    out = parts[0]
    for p in parts[1:]:
        out.merge(p)
    return out.compact()


def add_counts(*parts: DataCounts) -> DataCounts:
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def mining_task(part: Partition, pairs: PairTable, config: MicrobeConfig, k: int, rates: np.ndarray | None) -> tuple[list[MiningPartial], dict]:
    """Map: one worker's queues (hard negatives) over its partition, split into label blocks."""
    space, mine = config.space, config.mining
    miner = HardNegativeMiner(pairs, k, prune=mine.prune, rates=rates, seed=config.seed, prune_every=mine.prune_every)
    start = time.perf_counter()
    for examples, _ in batches(read_partition(part, config.schema()), space, frames="mining",
                               mining_count=mine.frames_per_video, seed=config.seed, batch_examples=mine.batch_size):
        miner.add(examples)
    result = miner.result()
    work = {"evaluations": result.evaluations, "brute_force_evaluations": result.brute_force_evaluations,
            "examples": result.examples_seen, "seconds": time.perf_counter() - start,
            "inverse_list_entries": miner.inverse_list_sizes(), "initial_inverse_list_entries": len(pairs),
            "full_queues": miner.full_queues()}
    blocks = config.second_order.label_blocks
    return [(result.label_block(b, blocks),) for b in range(blocks)], work


def random_task(part: Partition, pairs: PairTable, config: MicrobeConfig, k: int, balanced: bool) -> tuple[list[tuple[MiningPartial, ...]], dict]:
    """Map: the random baseline's samples per label (see RandomNegativeSampler), split into label blocks."""
    space, mine = config.space, config.mining
    sampler = RandomNegativeSampler(pairs, k, seed=config.seed, balanced=balanced)
    for examples, _ in batches(read_partition(part, config.schema()), space, frames="mining",
                               mining_count=mine.frames_per_video, seed=config.seed, batch_examples=mine.batch_size):
        sampler.add(examples)
    groups = sampler.result()
    blocks = config.second_order.label_blocks
    return [tuple(g.label_block(b, blocks) for g in groups) for b in range(blocks)], {"examples": sampler.examples_seen}


def merge_blocks(*blocks: tuple[MiningPartial, ...], keep: int) -> tuple[MiningPartial, ...]:
    """Reduce step: per group of the workers' label block, keep the top `keep` per label (associative)."""
    return tuple(merge_partials([b[g] for b in blocks], keep) for g in range(len(blocks[0])))


@dataclass
class TrainedBlock:
    models: dict[int, LabelModel]  # the labels scored by their second-order model
    tau: dict[int, float]
    mined: dict[int, tuple[int, int]]  # label -> (examples, positives)
    status: dict[int, str]  # label -> one of LABEL_STATUSES
    lam: dict[int, float]  # label -> λ of its second-order model (when one was trained)
    spread: dict[int, float]  # label -> max − min of its model's probability on the training set


def train_block_task(block: tuple[MiningPartial, ...], pairs: PairTable, config: MicrobeConfig, model: str, mixtures: int,
                     negatives: str) -> TrainedBlock:
    """Top M of one label block's merged candidates, then each label's model (or its fallback)."""
    M, so = config.mining.examples, config.second_order
    mined = mined_labels(list(block), pairs, M) if negatives == "hard" else random_training_sets(tuple([g] for g in block), pairs, M)
    tau = label_thresholds(mined, pairs.num_labels)
    models, status, lam, spread = {}, {}, {}, {}
    for e, m in mined.items():
        if m.positives == 0:
            status[e] = FALLBACK_NO_POSITIVE  # nothing to learn from: the cascade would never fire
            continue
        trained = train_label(m.X, m.y, m.video_hash & 1, e, m.pair_rows, kind=model, mixtures=mixtures, restarts=so.restarts,
                              seed=config.seed, lambda_start=so.lambda_start, lambda_factor=so.lambda_factor,
                              lambda_max=so.lambda_max)
        lam[e], spread[e] = trained.lam, trained.spread(m.X)
        if trained.lambda_at_bound or spread[e] < so.min_spread:
            status[e] = FALLBACK_CONSTANT  # ranks nothing: max-calibration at least keeps eq. 3's ranking
            continue
        models[e], status[e] = trained, SECOND_ORDER
    return TrainedBlock(models, {e: float(tau[e]) for e in models}, {e: (len(m), m.positives) for e, m in mined.items()},
                        status, lam, spread)


# ----------------------------------------------------------------------------------------------
# the job


ProgressFn = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    pass


def stage_progress() -> tuple[ProgressFn, Callable[[], None]]:
    """A progress callback showing the running stage (yt8m.progress: a bar on a terminal, plain
    periodic lines in a log), and a function that closes it. Stages run one after another, so a
    new stage closes the previous one's display."""
    from ..progress import Progress

    current: list[Progress] = []

    def close() -> None:
        while current:
            current.pop().__exit__(None, None, None)

    def update(stage: str, done: int, total: int) -> None:
        if not current or current[0].description != stage:
            close()
            current.append(Progress(stage, total=total, unit="tasks").__enter__())
        current[0].update(done, total)

    return update, close


class MicrobeJob:
    """The pipeline's stages on a runner (LocalRunner or Dask)."""

    def __init__(self, config: MicrobeConfig, runner=None, progress: ProgressFn | None = None) -> None:
        self.config = config
        self.runner = runner if runner is not None else LocalRunner()
        self.progress = progress or _quiet
        self.partitions = make_partitions(config.train, config.mining.splits_per_file)
        self.timings: dict[str, float] = {}
        self.counts: DataCounts | None = None
        self.calibration_report: dict = {}
        self.mining_report: dict = {}

    def _wait(self, stage: str, handles: list) -> None:
        total = len(handles)
        self.progress(stage, 0, total)
        for done, _ in enumerate(self.runner.as_completed(handles), 1):
            self.progress(stage, done, total)

    # -- stage 1 -------------------------------------------------------------------------------

    def fit_calibration(self) -> "CalibrationResult":
        """Stage 1: every (label, feature) curve p_{e|f}, with λ of eq. 2 chosen on held-out videos."""
        cfg, run = self.config, self.runner
        start = time.perf_counter()
        maps = [run.submit(calibration_task, part, cfg) for part in self.partitions]
        self._wait("calibration statistics", maps)
        n_blocks = cfg.calibration.blocks if cfg.calibration.blocks > 1 else 1
        block_lists = [run.submit(operator.getitem, m, 0) for m in maps]
        counts = tree_reduce(run, [run.submit(operator.getitem, m, 1) for m in maps], add_counts)
        blocks = [tree_reduce(run, [run.submit(operator.getitem, bl, b) for bl in block_lists], merge_stats) for b in range(n_blocks)]
        self._wait("merge statistics", blocks)
        counts = run.gather([counts])[0]
        run.release(maps + block_lists)
        lambdas = tuple(cfg.calibration.lambdas)
        if len(lambdas) > 1:
            tuned = [run.submit(tune_block, b, lambdas, cfg.calibration.min_positives) for b in blocks]
            self._wait("calibration: choose λ", tuned)
            losses = np.sum(run.gather(tuned), axis=0)
        else:
            losses = np.zeros(1)
        lam = choose_lambda(lambdas, losses)
        fitted_handles = [run.submit(fit_block, b, lam, cfg.calibration.min_positives) for b in blocks]
        self._wait("calibration: fit pairs", fitted_handles)
        fitted = run.gather(fitted_handles)
        run.release(blocks + fitted_handles)
        seconds = time.perf_counter() - start
        self.timings["calibration"] = seconds
        report = {
            "lambda": lam, "lambdas": list(lambdas), "heldout_loss_change": [float(v) for v in losses],
            "pairs_fitted": sum(b.pairs_fitted for b in fitted), "newton_iterations": sum(b.iterations for b in fitted),
            "videos": counts.videos, "examples": counts.examples, "seconds": seconds,
        }
        return CalibrationResult(fitted, counts, report)

    def max_calibration(self, calibration: "CalibrationResult") -> PairTable:
        """Stage 2: the max-calibration model (eq. 3), i.e. the top K features per label."""
        cfg = self.config
        self.counts = calibration.counts
        pairs = select_top_features(calibration.fitted, cfg.calibration.top_k, cfg.space.num_features, cfg.num_classes,
                                    cfg.calibration.min_p_max)
        self.calibration_report = {**calibration.report, "pairs_kept": len(pairs)}
        return pairs

    def calibrate(self) -> PairTable:
        """Stages 1 and 2."""
        return self.max_calibration(self.fit_calibration())

    # -- mining --------------------------------------------------------------------------------

    @property
    def workers(self) -> int:
        """W: the mining map tasks (the paper's workers)."""
        return len(self.partitions)

    @property
    def queue_size(self) -> int:
        return self.config.mining.k or default_k(self.config.mining.examples, self.workers)

    def mine(self, pairs: PairTable, negatives: str | None = None) -> list:
        """Stage 3: map the mining over partitions, then per label block reduce all workers' queues to
        the top M per label; returns per label block a handle of its (tuple of) merged partials."""
        cfg, run = self.config, self.runner
        negatives = negatives or cfg.mining.negatives
        if self.counts is None:
            raise RuntimeError("calibrate() first: mining needs the label counts")
        start = time.perf_counter()
        shared = run.scatter(pairs)
        if negatives == "hard":
            rates = popular_rates(self.counts.label_mining_examples, cfg.mining.examples) if cfg.mining.popular_sampling else None
            maps = [run.submit(mining_task, part, shared, cfg, self.queue_size, rates) for part in self.partitions]
        else:
            k = cfg.mining.examples  # exact uniform samples: every worker keeps M random candidates
            maps = [run.submit(random_task, part, shared, cfg, k, negatives == "balanced_random") for part in self.partitions]
        self._wait(f"mining ({negatives} negatives)", maps)
        work = run.gather([run.submit(operator.getitem, m, 1) for m in maps])
        lists = [run.submit(operator.getitem, m, 0) for m in maps]
        combine = functools.partial(merge_blocks, keep=cfg.mining.examples)
        blocks = [tree_reduce(run, [run.submit(operator.getitem, pl, b) for pl in lists], combine)
                  for b in range(cfg.second_order.label_blocks)]
        self._wait("mining: top M per label", blocks)
        seconds = time.perf_counter() - start
        self.timings[f"mining_{negatives}"] = seconds
        if negatives == "hard":
            self.mining_report = mining_report(work, self.workers, self.queue_size, cfg, seconds)
        return blocks

    # -- second order --------------------------------------------------------------------------

    def train_blocks(self, pairs: PairTable, mined_blocks: list, *, model: str | None = None, mixtures: int | None = None,
                     negatives: str | None = None) -> list[TrainedBlock]:
        """Stage 4: each label block's second-order models (or the reason a label falls back)."""
        cfg, run = self.config, self.runner
        model = model or cfg.second_order.model
        mixtures = mixtures or cfg.second_order.mixtures
        negatives = negatives or cfg.mining.negatives
        shared = run.scatter(pairs)
        tasks = [run.submit(train_block_task, block, shared, cfg, model, mixtures, negatives) for block in mined_blocks]
        self._wait(f"second order ({model}, H={mixtures})", tasks)
        return run.gather(tasks)

    def assemble(self, pairs: PairTable, trained: list[TrainedBlock], *, model: str | None = None,
                 mixtures: int | None = None, negatives: str | None = None, seconds: float = 0.0) -> "TrainResult":
        """Stage 5: the cascade, with max-calibration for the labels that fell back, and the per-label table."""
        cfg = self.config
        model = model or cfg.second_order.model
        mixtures = mixtures or cfg.second_order.mixtures
        negatives = negatives or cfg.mining.negatives
        models = {e: m for t in trained for e, m in t.models.items()}
        tau = np.full(pairs.num_labels, np.inf)
        for t in trained:
            for e, v in t.tau.items():
                tau[e] = v
        labels = label_table(pairs, trained, tau)
        fallback = np.array([row["status"] not in (SECOND_ORDER, NO_FEATURES) for row in labels])
        cascade = CascadeModel.assemble(pairs, models, model, tau, fallback=fallback)
        mined = {e: v for t in trained for e, v in t.mined.items()}
        statuses = [row["status"] for row in labels]
        report = {
            "model": model, "mixtures": mixtures, "negatives": negatives, "labels_trained": len(models),
            "labels_mined": len(mined), "mined_examples": int(sum(n for n, _ in mined.values())),
            "mined_positives": int(sum(p for _, p in mined.values())),
            "mean_lambda": float(np.mean([m.lam for m in models.values()])) if models else None,
            "max_lambda": float(max((v for t in trained for v in t.lam.values()), default=0.0)),
            "label_status": {s: statuses.count(s) for s in LABEL_STATUSES}, "seconds": seconds,
        }
        return TrainResult(cascade, tau, report, labels)

    def train(self, pairs: PairTable, mined_blocks: list, *, model: str | None = None, mixtures: int | None = None,
              negatives: str | None = None) -> "TrainResult":
        """Stages 4 and 5."""
        model = model or self.config.second_order.model
        mixtures = mixtures or self.config.second_order.mixtures
        negatives = negatives or self.config.mining.negatives
        start = time.perf_counter()
        trained = self.train_blocks(pairs, mined_blocks, model=model, mixtures=mixtures, negatives=negatives)
        seconds = time.perf_counter() - start
        self.timings[f"train_{model}_{mixtures}_{negatives}"] = seconds
        return self.assemble(pairs, trained, model=model, mixtures=mixtures, negatives=negatives, seconds=seconds)


@dataclass
class CalibrationResult:
    """Stage 1's output: the fitted curves of every candidate pair, per feature block."""

    fitted: list
    counts: DataCounts
    report: dict


@dataclass
class TrainResult:
    cascade: CascadeModel
    tau: np.ndarray
    report: dict
    labels: list[dict]  # one row per label: how it is scored and why (labels.csv)


def mining_report(work: list[dict], workers: int, k: int, config: MicrobeConfig, seconds: float) -> dict:
    """The mining counters, and when pruning could not help: a worker prunes only once some of its
    queues hold k examples, so a worker that offers no label k examples scans by brute force."""
    evaluations = sum(w["evaluations"] for w in work)
    brute = sum(w["brute_force_evaluations"] for w in work)
    unpruned = [i for i, w in enumerate(work) if w["full_queues"] == 0]
    report = {
        "workers": workers, "k": k, "M": config.mining.examples, "evaluations": evaluations,
        "brute_force_evaluations": brute, "pruned_evaluations": brute - evaluations,
        "pruned_share": (brute - evaluations) / brute if brute else 0.0, "examples": sum(w["examples"] for w in work),
        "seconds": seconds, "prune": config.mining.prune, "prune_every": config.mining.prune_every,
        "workers_without_full_queue": len(unpruned), "task_seconds": [w["seconds"] for w in work],
    }
    if config.mining.prune and unpruned:
        fewest = min(work[i]["examples"] for i in unpruned)
        report["pruning_note"] = (
            f"{len(unpruned)} of {workers} workers could not prune (no label's queue reached k = {k}; "
            f"such a worker offers as few as {fewest} examples): their scan was brute force")
    return report


def label_table(pairs: PairTable, trained: list[TrainedBlock], tau: np.ndarray) -> list[dict]:
    """One row per label: features |F_e|, mined examples and positives, λ, model spread, τ_e, status."""
    features = np.bincount(pairs.label, minlength=pairs.num_labels)
    rows = []
    merged = {k: {e: v for t in trained for e, v in getattr(t, k).items()} for k in ("mined", "status", "lam", "spread")}
    for e in range(pairs.num_labels):
        examples, positives = merged["mined"].get(e, (0, 0))
        if features[e] == 0:
            status = NO_FEATURES
        else:
            status = merged["status"].get(e, FALLBACK_NOT_MINED)
        rows.append({"label": e, "status": status, "features": int(features[e]), "mined_examples": int(examples),
                     "mined_positives": int(positives), "lambda": merged["lam"].get(e), "spread": merged["spread"].get(e),
                     "tau": float(tau[e]) if np.isfinite(tau[e]) else None})
    return rows


# ----------------------------------------------------------------------------------------------
# the model


@dataclass
class MicrobeModel:
    """A trained MiCRObE cascade with its config: predicts video scores from records."""

    config: MicrobeConfig
    cascade: CascadeModel
    tau: np.ndarray
    report: dict = field(default_factory=dict)
    labels: list[dict] = field(default_factory=list)  # per label: how it is scored (labels.csv)

    def fallback_labels(self) -> dict[str, list[int]]:
        """status -> labels scored by max-calibration instead of their second-order model."""
        out: dict[str, list[int]] = {}
        for row in self.labels:
            if row["status"].startswith("maxcal_fallback"):
                out.setdefault(row["status"], []).append(row["label"])
        return out

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def predict_batch(self, examples, num_videos: int, stage: str = "cascade") -> np.ndarray:
        """[num_videos, C] video scores: the cascade ("cascade") or eq. 3 ("maxcal"), frame scores max-aggregated."""
        if stage == "cascade":
            return self.cascade.predict_videos(examples.X, examples.video, num_videos)
        if stage == "maxcal":
            return MaxCalibrationModel(self.cascade.pairs).predict_videos(examples.X, examples.video, num_videos)
        raise ValueError(f"unknown stage {stage!r}: use 'cascade' or 'maxcal'")

    def predict_records(self, records: Iterable[VideoRecord], *, stage: str = "cascade", batch_examples: int = 4096) -> Iterator[tuple[str, np.ndarray]]:
        """(video id, scores [num_classes]) per record, in input order."""
        indexed = ((0, r) for r in records)
        for examples, videos in batches(indexed, self.config.space, frames="all", batch_examples=batch_examples):
            scores = self.predict_batch(examples, len(videos), stage)
            for i, record in enumerate(videos):
                yield record.id, scores[i].astype(np.float32)

    def predict_files(self, paths, **kwargs) -> Iterator[tuple[str, np.ndarray]]:
        """(video id, scores) for every record of the files (frame-level records with the sparse lists)."""
        schema = self.config.schema()
        records = (r for path in expand_paths(paths) for r in read_file(path, schema))
        return self.predict_records(records, **kwargs)

    def labeled_predictions(self, paths, *, stage: str = "cascade", batch_videos: int = 256) -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
        """Batches of (ids, scores [B, C], dense 0/1 labels [B, C]) over labeled files."""
        schema = self.config.schema()
        records = (r for path in expand_paths(paths) for r in read_file(path, schema))
        ids, scores, labels = [], [], []
        for record, (vid, s) in _zip_records(records, self, stage):
            y = np.zeros(self.num_classes, dtype=np.float32)
            y[np.asarray(record.labels, dtype=np.int64)] = 1.0
            ids.append(vid)
            scores.append(s)
            labels.append(y)
            if len(ids) == batch_videos:
                yield ids, np.stack(scores), np.stack(labels)
                ids, scores, labels = [], [], []
        if ids:
            yield ids, np.stack(scores), np.stack(labels)

    def evaluate(self, paths, *, stage: str = "cascade", bucket_map: bool = True) -> dict:
        """GAP, Hit@1, Hit@5, PERR, mAP (yt8m.evaluation.Evaluator) of the video scores on labeled files."""
        from yt8m.evaluation import Evaluator

        evaluator = Evaluator(self.num_classes, bucket_map=bucket_map)
        positives = np.zeros(self.num_classes, dtype=np.int64)
        start = time.perf_counter()
        for _, scores, labels in self.labeled_predictions(paths, stage=stage):
            evaluator.add(scores, labels)
            positives += (labels > 0).sum(axis=0).astype(np.int64)
        result = evaluator.result()
        metrics = result.as_dict()
        metrics["per_class_ap"] = [None if np.isnan(ap) else float(ap) for ap in result.average_precisions]
        metrics["positives_per_class"] = positives.tolist()
        metrics["model"] = "microbe"
        metrics["stage"] = stage
        metrics["seconds"] = time.perf_counter() - start
        return metrics

    def predict_to_file(self, paths, out, *, format: str | None = None, top_k: int = 20, stage: str = "cascade") -> dict:
        """Top-k predictions of every video to csv / parquet / jsonl (yt8m.predict.writers)."""
        from yt8m.predict.writers import PredictionWriter

        start = time.perf_counter()
        with PredictionWriter(out, format=format, top_k=top_k) as writer:
            ids, scores = [], []
            for vid, s in self.predict_files(paths, stage=stage):
                ids.append(vid)
                scores.append(s)
                if len(ids) == 256:
                    writer.write(ids, np.stack(scores))
                    ids, scores = [], []
            if ids:
                writer.write(ids, np.stack(scores))
        seconds = time.perf_counter() - start
        return {"videos": writer.count, "out": str(out), "seconds": seconds, "ms_per_video": 1000 * seconds / max(writer.count, 1)}

    # -- persistence --------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        c = self.cascade
        np.savez(out / "pairs.npz", **c.pairs.to_arrays(), eta=c.eta, gate_weights=c.gate_weights, expert_weights=c.expert_weights)
        np.savez(out / "labels.npz", tau=self.tau, gate_bias=c.gate_bias, expert_bias=c.expert_bias, has_model=c.has_model,
                 fallback=c.fallback)
        write_label_table(out / LABELS_FILE, self.labels)
        meta = {
            "type": "microbe", "format_version": FORMAT_VERSION, "num_classes": self.num_classes,
            "num_features": c.pairs.num_features, "level": self.config.features.level,
            "model": {"kind": c.kind, "mixtures": c.mixtures},
            "files": {"pairs": "pairs.npz", "labels": "labels.npz", "label_table": LABELS_FILE},
            "config": self.config.to_dict(), "report": _jsonable(self.report),
        }
        tmp = out / f".{MODEL_FILE}.tmp"
        tmp.write_text(json.dumps(meta, indent=2))
        tmp.replace(out / MODEL_FILE)
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "MicrobeModel":
        path = Path(directory)
        meta_path = path / MODEL_FILE if path.is_dir() else path
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{meta_path}: not a MiCRObE model directory (no {MODEL_FILE})") from None
        if meta.get("type") != "microbe":
            raise ValueError(f"{meta_path}: field 'type' is {meta.get('type')!r}, expected 'microbe'")
        root = meta_path.parent
        config = MicrobeConfig.from_dict(meta["config"])
        with np.load(root / meta["files"]["pairs"]) as p, np.load(root / meta["files"]["labels"]) as lab:
            pairs = PairTable.from_arrays(p, meta["num_features"], meta["num_classes"])
            fallback = lab["fallback"] if "fallback" in lab.files else np.zeros(meta["num_classes"], dtype=bool)
            cascade = CascadeModel(pairs, p["eta"], meta["model"]["kind"], p["gate_weights"], p["expert_weights"],
                                   lab["gate_bias"], lab["expert_bias"], lab["has_model"], fallback)
            tau = lab["tau"]
        table = root / meta["files"].get("label_table", LABELS_FILE)
        return cls(config, cascade, tau, meta.get("report", {}), read_label_table(table) if table.is_file() else [])


LABEL_COLUMNS = ("label", "status", "features", "mined_examples", "mined_positives", "lambda", "spread", "tau")


def write_label_table(path: Path, rows: list[dict]) -> None:
    """labels.csv (atomically): one row per label, empty cells where a value does not apply."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LABEL_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in LABEL_COLUMNS})
    tmp.replace(path)


def read_label_table(path: Path) -> list[dict]:
    numbers = {"label": int, "features": int, "mined_examples": int, "mined_positives": int, "lambda": float, "spread": float,
               "tau": float}
    with open(path, newline="") as f:
        return [{k: (numbers[k](v) if v != "" else None) if k in numbers else v for k, v in row.items()} for row in csv.DictReader(f)]


def _zip_records(records: Iterable[VideoRecord], model: "MicrobeModel", stage: str) -> Iterator[tuple[VideoRecord, tuple[str, np.ndarray]]]:
    """Pair each record with its prediction (predictions come back in input order)."""
    kept: list[VideoRecord] = []

    def remember(stream):
        for record in stream:
            kept.append(record)
            yield record

    for vid, scores in model.predict_records(remember(records), stage=stage):
        record = kept.pop(0)
        yield record, (vid, scores)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else str(value)
    return value


def is_microbe_model(path: str | os.PathLike) -> bool:
    """True for a directory (or its microbe.json) written by MicrobeModel.save."""
    p = Path(path)
    meta = p / MODEL_FILE if p.is_dir() else p
    if meta.name != MODEL_FILE or not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("type") == "microbe"
    except (OSError, ValueError):
        return False


def load_microbe_model(directory: str | os.PathLike) -> MicrobeModel:
    return MicrobeModel.load(directory)


# ----------------------------------------------------------------------------------------------
# end to end


def run_microbe(config: MicrobeConfig, *, runner=None, progress: bool | ProgressFn = False, resume: bool = False) -> MicrobeModel:
    """Calibrate, mine, train and assemble; saves to config.output when set.

    With an output directory every finished stage is checkpointed under <output>/checkpoints;
    `resume=True` reuses the checkpoints whose settings match the config and restarts at the first
    stage that is missing or affected by a change (report["stages"] says which were reused).
    """
    own_runner = runner is None
    runner = runner if runner is not None else make_runner(config.dask.scheduler, config.dask.workers)
    close_bar = None
    if progress is True:
        callback, close_bar = stage_progress()
    else:
        callback = progress or None
    try:
        job = MicrobeJob(config, runner, callback)
        checkpoints = None
        if config.output:
            files = [f"{p.path} ({os.stat(p.path).st_size} bytes, mtime {os.stat(p.path).st_mtime_ns})" for p in job.partitions]
            checkpoints = StageCheckpoints(Path(config.output) / CHECKPOINTS, config.to_dict(), files, resume=resume)

        def stage(name: str, compute: Callable):
            value = checkpoints.load(name) if checkpoints is not None else None
            if value is None:
                value = compute()
                if checkpoints is not None:
                    checkpoints.save(name, value)
            return value

        start = time.perf_counter()
        calibration = stage("calibration", job.fit_calibration)
        pairs = stage("max_calibration", lambda: job.max_calibration(calibration))
        job.counts = calibration.counts  # (set by max_calibration, unless its checkpoint was reused)
        job.calibration_report = {**calibration.report, "pairs_kept": len(pairs)}
        mined = stage("mining", lambda: {"blocks": runner.gather(job.mine(pairs)), "report": job.mining_report})
        job.mining_report = mined["report"]
        trained = stage("second_order", lambda: job.train_blocks(pairs, mined["blocks"]))
        result = job.assemble(pairs, trained)
        report = {
            "calibration": job.calibration_report, "mining": job.mining_report, "second_order": result.report,
            "seconds": time.perf_counter() - start, "partitions": len(job.partitions), "runner": type(runner).__name__,
            "stages": {"reused": checkpoints.reused if checkpoints else [],
                       "restarted": checkpoints.restarted if checkpoints else {}},
        }
        model = MicrobeModel(config, result.cascade, result.tau, report, result.labels)
        if config.output:
            model.save(config.output)
        return model
    finally:
        if close_bar is not None:
            close_bar()
        if own_runner:
            runner.close()
