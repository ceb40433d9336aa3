"""Claim: MiCRObE scales as the paper says (seed 000 §3): calibration is an embarrassingly parallel
batch of tiny Newton problems, every stage runs as Dask tasks (more workers, less wall time, same
model), and inference is cheap (the paper: ≤ 1 s per 4-minute video).

Measured side by side in one run: (1) calibrations per second (pairs fitted per second by the
vectorized Newton solver) at the paper's bucket width 1e-4 and at 1e-2, on one training shard;
(2) the whole pipeline (calibration, mining, logistic second order) in one process, on a Dask
LocalCluster with 1 and with 2 worker processes, and whether the models are identical; (3) cascade
inference time per 240-frame (4-minute) video with 1- and 5-mixture models.
Run: `.venv/bin/python benchmarks/bench_microbe_scale.py`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import markdown_table, threshold_verdict, write_section  # noqa: E402
from benchmarks.microbe_data import SYNTH, config, dataset  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from yt8m.synth.config import SynthConfig  # noqa: E402
from yt8m.synth.sparse import sparse_frame_features  # noqa: E402
from yt8m.synth.truth import sample_truth  # noqa: E402
from yt8m.synth.streams import STREAM_SPARSE, video_rng
from yt8m.synth.world import World  # noqa: E402
from yt8m.io import VideoRecord  # noqa: E402
from yt8m.microbe import MicrobeJob, MicrobeModel, run_microbe  # noqa: E402
from yt8m.microbe.calibration import fit_block  # noqa: E402
from yt8m.microbe.dask_jobs import LocalRunner, make_runner  # noqa: E402
from yt8m.microbe.pipeline import Partition, calibration_task, merge_stats  # noqa: E402


def calibration_rate(width: float) -> dict:
    cfg = config(["im", "tm"], "frame", calibration={"bucket_width": width, "blocks": 1})
    part = Partition(str(dataset(0) / "frame" / "train0000.tfrecord"), 0)
    with threadpool_limits(1):
        blocks, counts = calibration_task(part, cfg)
        stats = merge_stats(*blocks)
        start = time.perf_counter()
        result = fit_block(stats, 10.0)
        seconds = time.perf_counter() - start
    labels, features = stats.candidate_pairs((0, 1))
    elements = stats.problem(labels, features, (0, 1)).x.size
    return {"width": width, "frames": counts.examples, "pairs": result.pairs_fitted, "elements": elements, "seconds": seconds,
            "iterations": result.iterations / max(result.pairs_fitted, 1)}


def pipeline(runner, cfg) -> tuple[MicrobeModel, float]:
    start = time.perf_counter()
    model = run_microbe(cfg, runner=runner)
    return model, time.perf_counter() - start


def same_model(a: MicrobeModel, b: MicrobeModel) -> bool:
    x, y = a.cascade, b.cascade
    return (np.array_equal(x.pairs.alpha, y.pairs.alpha) and np.array_equal(x.eta, y.eta)
            and np.array_equal(x.expert_weights, y.expert_weights) and np.array_equal(a.tau, b.tau))


def four_minute_videos(n: int) -> list[VideoRecord]:
    """Videos of exactly 240 frames from the benchmark's world (same classes and base classifiers)."""
    cfg = SynthConfig.from_preset("small", seed=0, **{**SYNTH, "min_frames": 240, "max_frames": 240})
    world = World.build(cfg, fit_features=False)
    out = []
    for i in range(n):
        truth = sample_truth(world, "validate", i)
        sparse = sparse_frame_features(world, truth, video_rng(cfg.seed, "validate", i, STREAM_SPARSE), cfg)
        out.append(VideoRecord(truth.id, truth.observed_labels, {}, sparse=sparse))
    return out


def inference_ms(model: MicrobeModel, videos: list[VideoRecord], stage: str) -> np.ndarray:
    """Milliseconds per video, one video at a time (as a service would), one thread."""
    times = []
    with threadpool_limits(1):
        list(model.predict_records(videos[:2], stage=stage))  # warm up
        for video in videos:
            start = time.perf_counter()
            next(model.predict_records([video], stage=stage))
            times.append(1000 * (time.perf_counter() - start))
    return np.asarray(times)


def within_a_second(ms: np.ndarray) -> str:
    """The paper's bound, judged with the uncertainty: mean + 2 SE below 1000 ms, mean − 2 SE above, else not resolved."""
    return threshold_verdict(ms, 1000.0, above=False)


def main() -> None:
    dataset(0)
    rates = [calibration_rate(w) for w in (1e-4, 1e-2)]
    cal_rows = [[f"{r['width']:g}", r["frames"], f"{r['pairs']:,}", f"{r['elements']:,}", f"{r['elements'] / max(r['pairs'], 1):.0f}",
                 f"{r['seconds']:.1f}", f"{r['pairs'] / r['seconds']:,.0f}", f"{r['elements'] / r['seconds'] / 1e6:.1f}",
                 f"{r['iterations']:.1f}"] for r in rates]

    cfg = config(["im", "tm"], "frame", 0, second_order={"model": "logistic", "mixtures": 1})
    runs = {}
    runs["one process (LocalRunner)"] = pipeline(LocalRunner(), cfg)
    for workers in (1, 2):
        runner = make_runner("local", workers=workers)
        try:
            runs[f"Dask LocalCluster, {workers} worker{'s' if workers > 1 else ''}"] = pipeline(runner, cfg)
        finally:
            runner.close()
    base_model, base_seconds = runs["one process (LocalRunner)"]
    one_worker = runs["Dask LocalCluster, 1 worker"][1]
    dask_rows = []
    for name, (model, seconds) in runs.items():
        r = model.report
        dask_rows.append([name, f"{r['calibration']['seconds']:.0f}", f"{r['mining']['seconds']:.0f}", f"{r['second_order']['seconds']:.0f}",
                          f"{seconds:.0f}", f"{one_worker / seconds:.2f}", "yes" if same_model(model, base_model) else "NO"])

    videos = four_minute_videos(10)
    runner = make_runner("local", workers=2)
    try:
        job = MicrobeJob(cfg.replace(second_order={"model": "moe", "mixtures": 5, "restarts": 1}), runner)
        pairs = job.calibrate()
        result = job.train(pairs, job.mine(pairs), model="moe", mixtures=5)
    finally:
        runner.close()
    moe5 = MicrobeModel(job.config, result.cascade, result.tau)
    inf_rows = []
    for name, model in (("Logit (hard negs)", base_model), ("MiCRObE 5 mix", moe5)):
        for stage in ("maxcal", "cascade"):
            ms = inference_ms(model, videos, stage)
            inf_rows.append([name, stage, f"{ms.mean():.1f} ± {ms.std(ddof=1) / np.sqrt(len(ms)):.1f}", f"{ms.max():.1f}",
                             within_a_second(ms)])
    nnz = np.mean([sum(len(v.sparse[s].ids) for s in ("im", "tm")) for v in videos])
    body = (
        "**Calibrations per second** (frame level, IM+TM, one training shard = "
        f"{rates[0]['frames']:,} windowed frames, λ = 10, one process; an element is one (pair, value bucket)):\n\n"
        + markdown_table(["bucket width", "frames", "pairs fitted", "elements", "elements per pair", "seconds", "pairs / s",
                          "M elements / s", "Newton iterations per pair"], cal_rows)
        + "\n\nThe cost of a pair is its number of value buckets: the paper's 1e-4 buckets compress only when a feature fires "
        "far more often than 10,000 times (billions of frames); at this scale the wider buckets fit the same curves with "
        "fewer elements.\n\n"
        f"**Dask: the same pipeline on 1 and 2 workers** (frame level, IM+TM, logistic second order, W = 8 map tasks, "
        f"{cfg.calibration.blocks} calibration blocks, {cfg.second_order.label_blocks} label blocks; 2 cores shared with the "
        "scheduler and client):\n\n"
        + markdown_table(["runner", "calibration s", "mining s", "second order s", "total s", "speed-up vs 1 worker",
                          "model identical to one process"], dask_rows)
        + f"\n\n**Inference per 4-minute video** ({len(videos)} videos of 240 frames at 1 fps, {nnz:.0f} sparse scores per "
        "video on average; read from memory; window ±2 frames, cascade per frame, max over frames; one video at a time, one "
        "thread; mean ± one standard error over the videos; the paper: ≤ 1 s):\n\n"
        + markdown_table(["model", "stage", "ms per video", "slowest video (ms)", "≤ 1 s per video"], inf_rows) + "\n"
    )
    write_section("microbe_scale", "MiCRObE at scale: calibrations/s, Dask workers, inference time (seed 000 §3)",
                  ".venv/bin/python benchmarks/bench_microbe_scale.py", body)


if __name__ == "__main__":
    main()
