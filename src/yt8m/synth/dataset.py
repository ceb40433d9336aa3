"""`yt8m synth`: write a synthetic YouTube-8M in the exact official layout and record format.

Output under one directory (docs/synthetic.md has the full description):

    vocabulary.csv, segment_label_ids.csv, manifest.json, pca/{rgb,audio}/{mean,eigenvals,eigenvecs}.npy
    frame/{train,validate,test,rated_test}NNNN.tfrecord      SequenceExamples (rgb, audio bytes per frame)
    video/{train,validate,test,rated_test}NNNN.tfrecord      Examples (mean_rgb, mean_audio)
    segments/{validate,test,rated_test}NNNN.tfrecord         2019 segment-rated SequenceExamples

train/validate carry the noisy observed labels, test none (like the real test set), rated_test the
exhaustive true labels of the first test videos (the paper's human-rated set). Work is split into
shard jobs run in worker processes; each job writes its files atomically and then a marker under
`.synth/`, so an interrupted run resumes where it stopped and the bytes never depend on the number
of workers.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..data.vocabulary import write_segment_label_ids, write_vocabulary
from ..io import SEGMENT_SIZE, RecordSchema, RecordWriter, VideoRecord
from ..io.quantization import BIAS, SCALE
from ..progress import Progress
from .config import GENERATOR_VERSION, SPLITS, SynthConfig, completed, split_bounds
from .kinds import APART, KIND_NAMES, PLAIN
from .render import render_many
from .streams import STREAM_SPARSE, video_rng
from .truth import MAIN, VideoTruth, sample_truth
from .world import World

__all__ = ["ShardJob", "generate", "generate_config", "load_world", "plan_jobs", "run_job"]

MANIFEST_VERSION = 1
STATE_DIR = ".synth"
RENDER_CHUNK = 16  # videos rendered per matrix product
_BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Where each split's shards go: (directory, file prefix, record kind, which labels the records carry).
_OUTPUTS = {
    "train": [("frame", "train", "frame", "observed"), ("video", "train", "video", "observed")],
    "validate": [("frame", "validate", "frame", "observed"), ("video", "validate", "video", "observed")],
    "test": [("frame", "test", "frame", "none"), ("video", "test", "video", "none")],
    "rated_test": [("frame", "rated_test", "frame", "true"), ("video", "rated_test", "video", "true")],
    "segment_validate": [("segments", "validate", "segment", "observed")],
    "segment_test": [("segments", "test", "segment", "none")],
    "segment_rated_test": [("segments", "rated_test", "segment", "true")],
}


def _level_of(kind: str) -> str:
    return "video" if kind == "video" else "frame"


@dataclass(frozen=True)
class ShardJob:
    """One shard of one split: videos [start, stop). Test jobs also write the matching rated_test shard."""

    split: str
    shard: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"{self.split}-{self.shard:04d}"

    def outputs(self, config: SynthConfig) -> list[tuple[str, str, str, str, int]]:
        """(relative path, output split, record kind, labels, number of videos) of every file it writes."""
        width = max(4, len(str(getattr(config, f"{self.split}_shards") - 1)))
        groups = [(self.split, self.stop - self.start)]
        if self.split == "test" and self.start < config.rated_test_videos:
            groups.append(("rated_test", min(self.stop, config.rated_test_videos) - self.start))
        if self.split == "segment_test":
            groups.append(("segment_rated_test", self.stop - self.start))
        out = []
        for group, count in groups:
            for directory, prefix, kind, labels in _OUTPUTS[group]:
                if _level_of(kind) not in config.levels:
                    continue
                out.append((f"{directory}/{prefix}{self.shard:0{width}d}.tfrecord", group, kind, labels, count))
        return out


def plan_jobs(config: SynthConfig, splits=SPLITS) -> list[ShardJob]:
    """All shard jobs of the requested splits, in a fixed order."""
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown split {unknown[0]!r}: choose from {', '.join(SPLITS)}")
    jobs = []
    for split in SPLITS:
        if split not in splits:
            continue
        videos, shards = getattr(config, f"{split}_videos"), getattr(config, f"{split}_shards")
        for shard in range(shards if videos else 0):
            start, stop = split_bounds(videos, shards, shard)
            jobs.append(ShardJob(split, shard, start, stop))
    return jobs


# ---------------------------------------------------------------------- one job


def _schemas(config: SynthConfig) -> dict[str, RecordSchema]:
    sizes = (config.rgb_size, config.audio_size)
    return {
        "frame": RecordSchema(kind="frame", feature_sizes=sizes, num_classes=config.num_classes, sparse_features=config.sparse_features),
        "segment": RecordSchema(kind="segment", feature_sizes=sizes, num_classes=config.num_classes, sparse_features=config.sparse_features),
        "video": RecordSchema.for_kind("video", feature_sizes=sizes, num_classes=config.num_classes),
    }


def _record(truth: VideoTruth, features: dict[str, np.ndarray], kind: str, labels: str, sparse) -> VideoRecord:
    label_ids = {"observed": truth.observed_labels, "true": truth.labels, "none": np.zeros(0, np.int64)}[labels]
    if kind == "video":
        # the mean of the dequantized frames; dequantization is affine, so it is exact (in float64) on the mean code
        means = {f"mean_{name}": (frames.mean(axis=0, dtype=np.float64) * SCALE + BIAS).astype(np.float32) for name, frames in features.items()}
        return VideoRecord(truth.id, label_ids, means)
    record = VideoRecord(truth.id, label_ids, features, sparse=sparse)
    if kind == "segment" and labels != "none":
        record.segment_start_times = truth.segment_start_times
        record.segment_end_times = truth.segment_start_times + SEGMENT_SIZE
        record.segment_labels = truth.segment_labels
        record.segment_scores = truth.segment_scores
    return record


def run_job(world: World, job: ShardJob, out_dir: str | os.PathLike) -> dict:
    """Generate and write one shard job; returns its statistics (also saved as the job's marker)."""
    config, out = world.config, Path(out_dir)
    schemas = _schemas(config)
    outputs = job.outputs(config)
    stats = _JobStats(config.num_classes, job.split == "train")
    writers = []
    try:
        for path, group, kind, labels, count in outputs:
            writers.append((RecordWriter(out / path, schemas[kind]), group, kind, labels, job.start + count))
        for chunk_start in range(job.start, job.stop, RENDER_CHUNK):
            truths = [sample_truth(world, job.split, i) for i in range(chunk_start, min(chunk_start + RENDER_CHUNK, job.stop))]
            for truth, features in zip(truths, render_many(world, truths)):
                sparse = {}
                if config.sparse_features:
                    from .sparse import sparse_frame_features

                    rng = video_rng(config.seed, truth.split, truth.index, STREAM_SPARSE)
                    sparse = sparse_frame_features(world, truth, rng, config)
                for writer, group, kind, labels, stop in writers:
                    if truth.index < stop:
                        writer.write(_record(truth, features, kind, labels, sparse))
                stats.add(truth)
    except BaseException:
        for writer, *_ in writers:
            writer.close(discard=True)
        raise
    for writer, *_ in writers:
        writer.close()
    result = stats.to_dict()
    result["files"] = {path: {"split": group, "records": count, "bytes": (out / path).stat().st_size} for path, group, _, _, count in outputs}
    _write_json(out / STATE_DIR / f"{job.name}.json", result)
    return result


class _JobStats:
    """Counts a job reports: videos, frames, label noise against the truth, segment ratings."""

    def __init__(self, num_classes: int, count_labels: bool) -> None:
        self.counts = np.zeros(num_classes, dtype=np.int64) if count_labels else None
        self.totals = dict.fromkeys(
            ("videos", "frames", "intro_frames", "true_labels", "main_labels", "observed_labels", "observed_true",
             "visible_label_frames", "segment_ratings", "segment_positives"), 0)

    def add(self, truth: VideoTruth) -> None:
        t = self.totals
        t["videos"] += 1
        t["frames"] += truth.num_frames
        t["intro_frames"] += truth.intro_frames
        t["true_labels"] += len(truth.labels)
        t["main_labels"] += int((truth.roles == MAIN).sum())
        t["observed_labels"] += len(truth.observed_labels)
        t["observed_true"] += len(np.intersect1d(truth.observed_labels, truth.labels))
        t["visible_label_frames"] += int(truth.visible.sum())
        if truth.segment_scores is not None:
            t["segment_ratings"] += len(truth.segment_scores)
            t["segment_positives"] += int(truth.segment_scores.sum())
        if self.counts is not None:
            self.counts[truth.observed_labels] += 1

    def to_dict(self) -> dict:
        out = {"totals": dict(self.totals)}
        if self.counts is not None:
            nonzero = np.flatnonzero(self.counts)
            out["train_label_counts"] = [[int(c), int(self.counts[c])] for c in nonzero]
        return out


# ---------------------------------------------------------------------- workers

_WORKER_WORLD: World | None = None


def _init_worker(world: World) -> None:
    """Pool initializer: every worker process receives the parent's World once (no refit)."""
    global _WORKER_WORLD
    _WORKER_WORLD = world


def _worker_job(job: ShardJob, out_dir: str) -> dict:
    return run_job(_WORKER_WORLD, job, out_dir)


@contextmanager
def _single_threaded_blas():
    """Worker processes inherit one BLAS thread each: N processes on N cores, no oversubscription."""
    saved = {name: os.environ.get(name) for name in _BLAS_THREAD_VARIABLES}
    os.environ.update({name: "1" for name in _BLAS_THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _write_pca(world: World, out: Path) -> None:
    """The PCA in the layout of the official yt8m_pca.tgz: mean [H, 1], eigenvals [D, 1], eigenvecs [D, H]."""
    summary = {}
    for name, feature_map in (("rgb", world.rgb_map), ("audio", world.audio_map)):
        directory = out / "pca" / name
        directory.mkdir(parents=True, exist_ok=True)
        for file, array in (("mean", feature_map.mean_[:, None]), ("eigenvals", feature_map.eigenvalues_[:, None]),
                            ("eigenvecs", feature_map.components_)):
            tmp = directory / f".{file}.npy.tmp-{os.getpid()}"
            with open(tmp, "wb") as f:
                np.save(f, array)
            os.replace(tmp, directory / f"{file}.npy")
        summary[name] = {
            "hidden_size": int(len(feature_map.mean_)),
            "explained_variance": float(feature_map.eigenvalues_.sum() / feature_map.total_variance_),
        }
    _write_json(out / STATE_DIR / "pca.json", summary)


# ---------------------------------------------------------------------- orchestration


def generate(
    out_dir: str | os.PathLike,
    preset: str = "tiny",
    seed: int = 0,
    workers: int | None = None,
    *,
    splits=SPLITS,
    progress: bool = True,
    **overrides,
) -> dict:
    """Write a synthetic dataset to `out_dir` and return its manifest (also written as manifest.json).

    `overrides` are SynthConfig fields (e.g. `num_classes=100`, `train_videos=500`). `workers`
    processes (default: all cores), each with one BLAS thread, generate the shard jobs; workers=1
    runs them in this process. More workers use `spawn`, so a calling script needs the usual
    `if __name__ == "__main__":` guard. Finished shards of an earlier run with the same config are
    kept (resume); a different config is an error. The bytes depend only on the config and seed.
    """
    config = SynthConfig.from_preset(preset, seed=seed, **overrides)
    return generate_config(out_dir, config, workers, splits=splits, progress=progress)


def load_world(out_dir: str | os.PathLike, *, fit_features: bool = True) -> World:
    """The World behind a generated directory (from its manifest.json), e.g. to recover any video's
    VideoTruth with `world.video_truth(split, index)`; fit_features=False skips the PCA fit."""
    manifest = json.loads((Path(out_dir) / "manifest.json").read_text())
    return World.build(SynthConfig.from_dict(manifest["config"]), fit_features=fit_features)


def generate_config(out_dir, config: SynthConfig, workers: int | None = None, *, splits=SPLITS, progress: bool = True) -> dict:
    """`generate` for a ready SynthConfig."""
    out = Path(out_dir)
    splits = tuple(splits)
    jobs = plan_jobs(config, splits)
    _claim(out, config)
    pending = [job for job in jobs if not _finished(out, config, job)]
    need_pca = not (out / STATE_DIR / "pca.json").exists()
    with threadpool_limits(1):  # one BLAS thread, like the workers: the same numerics everywhere
        world = World.build(config, fit_features=bool(pending) or need_pca)
    write_segment_label_ids(out / "segment_label_ids.csv", world.rated_classes)
    if need_pca:
        _write_pca(world, out)
    workers = max(1, min(workers or os.cpu_count() or 1, len(pending)))
    total = sum(job.stop - job.start for job in pending)
    with Progress(f"synth {config.preset} seed {config.seed}", total=total, unit="videos", enabled=progress and total > 0) as bar:
        advance = bar.advance
        if workers == 1:  # in this process: no spawn, no `__main__` guard needed
            with threadpool_limits(1):
                for job in pending:
                    run_job(world, job, out)
                    advance(job.stop - job.start)
        else:
            with _single_threaded_blas(), ProcessPoolExecutor(
                workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(world,)
            ) as pool:
                futures = {pool.submit(_worker_job, job, str(out)): job for job in pending}
                try:
                    for future in as_completed(futures):
                        future.result()
                        advance(futures[future].stop - futures[future].start)
                except BaseException:  # a failed or interrupted job stops the run (finished shards stay)
                    for future in futures:
                        future.cancel()
                    raise
    return _finish(out, config, world)


def _claim(out: Path, config: SynthConfig) -> None:
    """Record the config; refuse to mix shards of different configs or generator versions in one directory."""
    path = out / STATE_DIR / "config.json"
    mine = {k: v for k, v in config.to_dict().items() if k != "levels"}
    mine["generator_version"] = config.world_version  # the version whose bytes this config gives
    if path.exists():
        theirs = completed(json.loads(path.read_text()))  # an older generator's config, in today's terms
        differing = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        if differing:
            if "generator_version" in differing:  # the same config now gives other bytes
                version = theirs.get("generator_version", "unknown (1)")
                why = (f"was written by synthetic generator version {version}, this config gives version "
                       f"{config.world_version} (the generator writes versions 2..{GENERATOR_VERSION}: --set world_version=N)")
            else:
                why = f"holds a synthetic dataset made with a different config ({', '.join(differing[:5])} differ)"
            raise ValueError(f"{out} {why}; use another directory or delete it")
        return
    _write_json(path, mine)


def _finished(out: Path, config: SynthConfig, job: ShardJob) -> bool:
    marker = out / STATE_DIR / f"{job.name}.json"
    return marker.exists() and all((out / path).exists() for path, *_ in job.outputs(config))


def _finish(out: Path, config: SynthConfig, world: World) -> dict:
    """Aggregate the markers of every finished job (this run's and earlier ones) into vocabulary.csv
    (TrainVideoCount from the train labels) and manifest.json."""
    counts = np.zeros(config.num_classes, dtype=np.int64)
    totals: dict[str, dict[str, int]] = {}
    files: dict[tuple[str, str], dict[str, int]] = {}
    for job in plan_jobs(config):
        if not _finished(out, config, job):
            continue
        stats = json.loads((out / STATE_DIR / f"{job.name}.json").read_text())
        for cls_id, count in stats.get("train_label_counts", []):
            counts[cls_id] += count
        split_totals = totals.setdefault(job.split, dict.fromkeys(stats["totals"], 0))
        for key, value in stats["totals"].items():
            split_totals[key] += value
        for path, info in stats["files"].items():
            level = "video" if path.startswith("video/") else "frame"
            entry = files.setdefault((info["split"], level), {"records": 0, "bytes": 0, "shards": 0})
            entry["records"] += info["records"]
            entry["bytes"] += info["bytes"]
            entry["shards"] += 1
    write_vocabulary(out / "vocabulary.csv", world.vocabulary(counts))
    manifest = _manifest(config, world, totals, files, counts)
    manifest["pca"] = json.loads((out / STATE_DIR / "pca.json").read_text())
    _write_json(out / "manifest.json", manifest)
    return manifest


def _label_stats(totals: dict[str, int]) -> dict[str, float]:
    n = totals["videos"]
    entry = {
        "videos": n,
        "mean_frames": totals["frames"] / n,
        "mean_intro_frames": totals["intro_frames"] / n,
        "true_labels_per_video": totals["true_labels"] / n,
        "main_labels_per_video": totals["main_labels"] / n,
        "observed_labels_per_video": totals["observed_labels"] / n,
        "observed_precision": totals["observed_true"] / max(totals["observed_labels"], 1),
        "observed_recall": totals["observed_true"] / max(totals["true_labels"], 1),
        "visible_frame_fraction": totals["visible_label_frames"] / max(totals["true_labels"] * totals["frames"] / n, 1),
    }
    if totals["segment_ratings"]:
        entry["segment_ratings_per_video"] = totals["segment_ratings"] / n
        entry["segment_positive_fraction"] = totals["segment_positives"] / totals["segment_ratings"]
    return entry


def _manifest(config: SynthConfig, world: World, totals: dict, files: dict, train_counts: np.ndarray) -> dict:
    outputs = {}
    for group, specs in _OUTPUTS.items():
        levels = [(directory, prefix, _level_of(kind)) for directory, prefix, kind, _ in specs if (group, _level_of(kind)) in files]
        if not levels:
            continue
        first = files[(group, levels[0][2])]
        outputs[group] = {
            "videos": first["records"],
            "shards": first["shards"],
            "bytes": sum(files[(group, level)]["bytes"] for _, _, level in levels),
            "labels": specs[0][3],
            "files": {level: f"{directory}/{prefix}*.tfrecord" for directory, prefix, level in levels},
        }
    return {
        "format": "yt8m-synthetic",
        "version": MANIFEST_VERSION,
        "generator_version": config.world_version,
        "preset": config.preset,
        "seed": config.seed,
        "config": config.to_dict(),
        "num_classes": config.num_classes,
        "feature_names": {"frame": ["rgb", "audio"], "video": ["mean_rgb", "mean_audio"]},
        "feature_sizes": [config.rgb_size, config.audio_size],
        "outputs": outputs,
        "label_stats": {split: _label_stats(t) for split, t in totals.items() if t["videos"]},
        "truth": {
            "verticals": list(world.vertical_names),
            "classes_per_vertical": np.bincount(world.vertical, minlength=len(world.vertical_names)).tolist(),
            "zipf_exponent": config.zipf_exponent,
            "zipf_offset": config.zipf_offset,
            "popularity_head": [round(float(p), 6) for p in world.popularity[:20]],
            "general_classes": np.flatnonzero(world.is_general).tolist(),
            "hierarchy_pairs": world.hierarchy_pairs().tolist(),
            "multimodal_classes": np.flatnonzero(world.num_modes > 1).tolist(),
            "audio_dominant_classes": np.flatnonzero(world.audio_dominant).tolist(),
            "class_kinds": {name: np.flatnonzero(world.kinds.kind == k).tolist() for k, name in enumerate(KIND_NAMES)
                            if k != PLAIN and (k != APART or config.apart_twins)},
            "anchors": {int(c): int(world.kinds.anchor[c]) for c in np.flatnonzero(world.kinds.anchor >= 0)},
            "rated_classes": len(world.rated_classes),
            "classes_seen_in_train": int((train_counts > 0).sum()),
        },
    }


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
