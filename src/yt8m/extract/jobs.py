"""`yt8m extract` and `yt8m extract fit-pca` over many videos: worker processes, resume, failures, progress.

Each worker process loads the backbone once and handles whole videos (one torch thread and one decoder
thread each, decoding overlapped with inference). The main process keeps at most 2 videos per worker
in flight, so memory is bounded by the worker count, not by the number of videos.

Resume: every finished video is written at once as two one-record part files under
`OUT/.extract/parts/` (atomic rename); a rerun skips videos whose parts exist (same settings and PCA,
checked against `OUT/.extract/settings.json`). When all are done the parts are gathered into
`OUT/frame/<split>NNNN.tfrecord` and `OUT/video/<split>NNNN.tfrecord` in input order.
Failures: a damaged or unreadable video is reported (log line, `OUT/failed.csv` with path, id, error,
the returned summary) and left out of the records; the next run tries it again.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import json
import os
import queue
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..data.vocabulary import write_vocabulary
from ..io import VideoRecord, read_records, write_records
from ..io.reader import RecordWriter
from ..progress import Progress
from .config import ExtractConfig
from .decode import VideoDecodeError
from .labels import VideoJob, plan_jobs
from .pca import FeaturePCA, fit_streaming, load_pca

STATE_DIR = ".extract"
_WORKER: dict = {}


# ---------------------------------------------------------------------------------- worker side

def _init_worker(cfg: ExtractConfig, pca: dict[str, FeaturePCA] | None) -> None:
    import torch

    from .backbone import load_backbone

    torch.set_num_threads(cfg.threads)
    _WORKER.update(cfg=cfg, pca=pca, backbone=load_backbone(cfg.backbone, cfg.weights, image_size=cfg.image_size))


def _extract_video(job: VideoJob):
    from .featurize import extract_features

    try:
        return job, extract_features(job.path, _WORKER["backbone"], _WORKER["cfg"], _WORKER["pca"]), None
    except (VideoDecodeError, OSError, ValueError) as error:
        return job, None, str(error)


def _raw_video(job: VideoJob):
    from .featurize import raw_features

    try:
        return job, raw_features(job.path, _WORKER["backbone"], _WORKER["cfg"]), None
    except (VideoDecodeError, OSError, ValueError) as error:
        return job, None, str(error)


def _on_dask_worker(job: VideoJob, *, task: Callable, cfg: ExtractConfig, pca) -> tuple:
    """One video on a Dask worker: the backbone is loaded once per worker process and kept."""
    if _WORKER.get("cfg") != cfg:
        _init_worker(cfg, pca)
    _WORKER["pca"] = pca
    return task(job)


def _run(jobs: list[VideoJob], task: Callable, cfg: ExtractConfig, pca, workers: int, dask: str | None = None) -> Iterator[tuple]:
    """(job, result, error) for every job, in completion order; in this process when workers == 1,
    one Dask task per video when `dask` is given (yt8m.jobs: retried when a worker dies)."""
    if dask:
        from ..jobs import dask_results

        remote = functools.partial(_on_dask_worker, task=task, cfg=cfg, pca=pca)
        for _, result in dask_results(remote, jobs, dask):
            yield result
        return
    if workers <= 1:
        _init_worker(cfg, pca)
        for job in jobs:
            yield task(job)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(cfg, pca)) as pool:
        pending, todo = set(), iter(jobs)
        for job in todo:
            pending.add(pool.submit(task, job))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                job = next(todo, None)
                if job is not None:
                    pending.add(pool.submit(task, job))


# ---------------------------------------------------------------------------------- extract

def _key(job: VideoJob) -> str:
    return hashlib.sha1(f"{job.path}\0{job.id}".encode()).hexdigest()[:20]


def _settings(cfg: ExtractConfig, pca: dict[str, FeaturePCA]) -> dict:
    digest = hashlib.sha1()
    for name in sorted(pca):
        for array in (pca[name].mean, pca[name].eigenvalues, pca[name].eigenvectors):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return {"config": dataclasses.asdict(cfg), "pca_sha1": digest.hexdigest()}


def _check_settings(state: Path, settings: dict) -> None:
    path = state / "settings.json"
    if path.exists():
        before = json.loads(path.read_text())
        if before != settings:
            changed = [k for k in settings["config"] if before.get("config", {}).get(k) != settings["config"][k]]
            if before.get("pca_sha1") != settings["pca_sha1"]:
                changed.append("pca")
            raise ValueError(f"{state.parent} holds an extraction with other settings ({', '.join(changed)}): use a new --out")
    state.mkdir(parents=True, exist_ok=True)
    tmp = state / f".settings.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(settings, indent=1))
    os.replace(tmp, path)


def _schemas(cfg: ExtractConfig, num_classes: int | None) -> dict:
    sizes = (cfg.rgb_size, cfg.audio_size)
    return {"frame": {"feature_sizes": sizes, "num_classes": num_classes}, "video": {"feature_sizes": sizes, "num_classes": num_classes}}


def _write_parts(parts: Path, job: VideoJob, features, cfg: ExtractConfig) -> None:
    labels = np.asarray(job.labels, dtype=np.int64)
    schema = _schemas(cfg, None)
    write_records(parts / f"{_key(job)}.video", [VideoRecord(job.id, labels, {"mean_rgb": features.mean_rgb, "mean_audio": features.mean_audio})],
                  "video", **schema["video"])
    write_records(parts / f"{_key(job)}.frame", [VideoRecord(job.id, labels, {"rgb": features.rgb, "audio": features.audio})],
                  "frame", **schema["frame"])


def _write_failures(path: Path, failures: list[tuple[VideoJob, str]]) -> None:
    if not failures:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "id", "error"])
        writer.writerows([job.path, job.id, error] for job, error in failures)
    os.replace(tmp, path)


def _gather(out: Path, parts: Path, jobs: list[VideoJob], cfg: ExtractConfig, split: str, videos_per_file: int, num_classes: int | None) -> list[str]:
    files = []
    schema = _schemas(cfg, None)
    for kind in ("frame", "video"):
        (out / kind).mkdir(parents=True, exist_ok=True)
        for number, first in enumerate(range(0, len(jobs), videos_per_file)):
            path = out / kind / f"{split}{number:04d}.tfrecord"
            with RecordWriter(path, kind, **schema[kind]) as writer:
                for job in jobs[first : first + videos_per_file]:
                    for record in read_records(str(parts / f"{_key(job)}.{kind}"), kind, **schema[kind]):
                        writer.write(record)
            files.append(str(path))
    return files


def extract(videos: Iterable[str], out: str | os.PathLike, cfg: ExtractConfig = ExtractConfig(), *, labels: str | None = None,
            pca: str | os.PathLike | None = None, workers: int = 1, split: str = "train", videos_per_file: int = 1000,
            progress: bool = True, dask: str | None = None) -> dict:
    """Extract official-format frame- and video-level records for `videos` into `out`; returns a summary.

    `dask` ("local:N" or a scheduler address): one task per video on a Dask cluster instead of
    `workers` local processes; parts are written here as results arrive, so resume and output are
    the same (the workers must see the videos; only this process writes).
    `pca`: a directory from `fit_pca` (or the official PCA files); without it a PCA is first fitted on
    these same videos and saved to OUT/pca (costs one more backbone pass).
    """
    out = Path(out)
    jobs, vocabulary = plan_jobs([str(v) for v in videos], labels)
    if not jobs:
        raise ValueError("no videos to extract")
    if pca is None:
        fit_pca([j.path for j in jobs], out / "pca", cfg, workers=workers, progress=progress)
        pca = out / "pca"
    whitening = load_pca(pca, rgb_size=cfg.rgb_size, audio_size=cfg.audio_size)
    if cfg.audio == "logmel" and "audio" not in whitening:
        raise ValueError(f"{pca} has no audio PCA (official files hold rgb only): use --audio zero, or fit one with `yt8m extract fit-pca`")
    state = out / STATE_DIR
    _check_settings(state, _settings(cfg, whitening))
    parts = state / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    todo = [j for j in jobs if not ((parts / f"{_key(j)}.frame").exists() and (parts / f"{_key(j)}.video").exists())]
    failures: list[tuple[VideoJob, str]] = []
    frames = 0
    with Progress("extract", total=len(jobs), unit="videos", enabled=progress) as bar:
        bar.update(len(jobs) - len(todo))
        for job, features, error in _run(todo, _extract_video, cfg, whitening, workers, dask):
            if error is not None:
                failures.append((job, error))
                print(f"[extract] skipped {error}", flush=True)
            else:
                _write_parts(parts, job, features, cfg)
                frames += features.num_frames
            bar.advance(1, frames_per_s=f"{frames / max(bar.elapsed, 1e-9):.1f}", failed=len(failures))
    _write_failures(out / "failed.csv", failures)
    failed = {job.path for job, _ in failures}
    done = [j for j in jobs if j.path not in failed]
    num_classes = vocabulary.num_classes if vocabulary is not None else None
    files = _gather(out, parts, done, cfg, split, videos_per_file, num_classes) if done else []
    if vocabulary is not None:
        write_vocabulary(out / "vocabulary.csv", vocabulary)
    return {"videos": len(jobs), "extracted": len(done), "frames_this_run": frames, "failed": [(j.path, e) for j, e in failures],
            "files": files, "num_classes": num_classes, "out": str(out)}


# ---------------------------------------------------------------------------------- fit-pca

def _fit_in_thread(components: int, results: list) -> tuple[queue.Queue, threading.Thread]:
    """A PCA fit consuming batches from a bounded queue (None ends it); numpy releases the GIL."""
    batches: queue.Queue = queue.Queue(maxsize=4)

    def stream():
        while (batch := batches.get()) is not None:
            yield batch

    def run() -> None:
        try:
            results.append(fit_streaming(stream(), components))
        except BaseException as error:  # reported by the caller
            results.append(error)
            while batches.get() is not None:
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return batches, thread


def fit_pca(videos: Iterable[str], out: str | os.PathLike, cfg: ExtractConfig = ExtractConfig(), *, workers: int = 1, progress: bool = True) -> dict:
    """Fit rgb (and, with logmel audio, audio) PCA + whitening streaming over `videos`; save to `out`."""
    jobs = [VideoJob(str(v), Path(v).stem) for v in videos]
    if not jobs:
        raise ValueError("fit-pca got no videos")
    streams = ["rgb"] + (["audio"] if cfg.audio == "logmel" else [])
    sizes = {"rgb": cfg.rgb_size, "audio": cfg.audio_size}
    fitted: dict[str, list] = {name: [] for name in streams}
    fits = {name: _fit_in_thread(sizes[name], fitted[name]) for name in streams}
    failures, frames = [], 0
    try:
        with Progress("fit-pca", total=len(jobs), unit="videos", enabled=progress) as bar:
            for job, features, error in _run(jobs, _raw_video, cfg, None, workers):
                if error is not None:
                    failures.append((job, error))
                    print(f"[fit-pca] skipped {error}", flush=True)
                else:
                    for name, array in zip(("rgb", "audio"), features):
                        if name in fits:
                            fits[name][0].put(array)
                    frames += len(features[0])
                bar.advance(1, frames_per_s=f"{frames / max(bar.elapsed, 1e-9):.1f}", failed=len(failures))
    finally:
        for batches, thread in fits.values():
            batches.put(None)
            thread.join()
    out = Path(out)
    for name in streams:
        result = fitted[name][0]
        if isinstance(result, BaseException):
            raise ValueError(f"fit-pca ({name}, {frames} frames from {len(jobs) - len(failures)} videos): {result}") from result
        result.save(out / name)
    return {"videos": len(jobs), "frames": frames, "failed": [(j.path, e) for j, e in failures], "out": str(out)}
