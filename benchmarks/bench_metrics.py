"""Claim: yt8m.evaluation computes the official metrics exactly, >= 10x faster than the official algorithm.

1. 100,000 x 3862 (float32 scores, like a model's output): each one-shot metric function, and the
   streaming Evaluator fed batches of 1024, with and without the paper's bucketed mAP.
2. 20,000 x 3862 side by side with benchmarks/official_metrics_reference.py (the official eval.py
   algorithm: per-video argpartition, per-class lists, heap AP calculators, seeded shuffle + stable sort),
   both fed batches of 1024. Scores are float64 so no two are tied and the numbers must agree.

Run from the repository root: `.venv/bin/python benchmarks/bench_metrics.py` (a few minutes, ~6 GB RAM).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import official_metrics_reference as official  # noqa: E402
from benchmarks.common import markdown_table, write_section  # noqa: E402
from yt8m.evaluation import (  # noqa: E402
    Evaluator,
    average_precision_buckets,
    gap,
    hit_at_k,
    mean_average_precision,
    perr,
)

NUM_CLASSES = 3862
BATCH = 1024


def synthetic(num_videos: int, seed: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """About 3 labels per video with Zipf-like class frequencies; scores = sigmoid(noise + 3 * label - 5)."""
    rng = np.random.default_rng(seed)
    frequency = 1.0 / np.arange(1, NUM_CLASSES + 1) ** 0.8
    frequency *= 3.0 / frequency.sum()
    labels = np.zeros((num_videos, NUM_CLASSES), dtype=dtype)
    predictions = np.empty((num_videos, NUM_CLASSES), dtype=dtype)
    for rows in range(0, num_videos, 8192):
        part = slice(rows, min(rows + 8192, num_videos))
        n = part.stop - part.start
        labels[part] = rng.random((n, NUM_CLASSES), dtype=np.float32) < frequency.astype(np.float32)
        logits = rng.standard_normal((n, NUM_CLASSES)) + 3.0 * labels[part] - 5.0
        predictions[part] = 1.0 / (1.0 + np.exp(-logits))
    return predictions, labels


def stream(predictions, labels, bucket_map: bool):
    evaluator = Evaluator(NUM_CLASSES, bucket_map=bucket_map)
    for start in range(0, len(predictions), BATCH):
        evaluator.add(predictions[start : start + BATCH], labels[start : start + BATCH])
    return evaluator.result()


def official_stream(predictions, labels) -> dict:
    metrics = official.EvaluationMetrics(NUM_CLASSES, top_k=20)
    for start in range(0, len(predictions), BATCH):
        metrics.accumulate(predictions[start : start + BATCH], labels[start : start + BATCH])
    return metrics.get()


def measure(fn, *args) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result). On a shared machine CPU time is the steadier one."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def best_of(runs: list[tuple[float, float, object]]) -> tuple[float, float, object]:
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2]


def large_scale(num_videos: int = 100_000) -> str:
    predictions, labels = synthetic(num_videos, seed=0, dtype=np.float32)
    rows = []
    for name, fn in [
        ("hit_at_k(k=1)", lambda: hit_at_k(predictions, labels, 1)),
        ("hit_at_k(k=5)", lambda: hit_at_k(predictions, labels, 5)),
        ("perr", lambda: perr(predictions, labels)),
        ("gap (top 20)", lambda: gap(predictions, labels)),
        ("mean_average_precision (top 20)", lambda: mean_average_precision(predictions, labels)),
        ("average_precision_buckets (paper mAP)", lambda: average_precision_buckets(predictions, labels)),
    ]:
        wall, cpu, value = measure(fn)
        rows.append([f"one-shot `{name}`", round(cpu, 2), round(wall, 2), f"{value:.6f}"])
        print(rows[-1], flush=True)
    for bucket_map in (False, True):
        wall, cpu, result = measure(stream, predictions, labels, bucket_map)
        what = "all metrics" + (" + bucketed mAP" if bucket_map else "")
        shown = f"GAP {result.gap:.6f}, mAP {result.map:.6f}" + (
            f", bucketed mAP {result.map_buckets:.6f}" if bucket_map else ""
        )
        rows.append([f"streaming `Evaluator` (batches of {BATCH}), {what}", round(cpu, 2), round(wall, 2), shown])
        print(rows[-1], flush=True)
    return markdown_table(["100,000 x 3862, float32 scores", "CPU s", "wall s", "value"], rows)


def side_by_side(num_videos: int = 20_000, repeats: int = 2) -> str:
    predictions, labels = synthetic(num_videos, seed=1, dtype=np.float64)
    runs: dict[str, list] = {"official": [], "ours": [], "ours+buckets": []}
    for _ in range(repeats):  # interleaved, so a change in machine load hits all three alike
        runs["official"].append(measure(official_stream, predictions, labels))
        runs["ours"].append(measure(stream, predictions, labels, False))
        runs["ours+buckets"].append(measure(stream, predictions, labels, True))
        print({name: r[-1][:2] for name, r in runs.items()}, flush=True)
    official_wall, official_cpu, reference = best_of(runs["official"])
    ours_wall, ours_cpu, ours = best_of(runs["ours"])
    buckets_wall, buckets_cpu, _ = best_of(runs["ours+buckets"])
    aps = ours.average_precisions[~np.isnan(ours.average_precisions)]
    differences = {
        "Hit@1": abs(reference["avg_hit_at_one"] - ours.hit_at_1),
        "PERR": abs(reference["avg_perr"] - ours.perr),
        "GAP": abs(reference["gap"] - ours.gap),
        "mAP": abs(reference["map"] - ours.map),
        "per-class AP (max)": float(np.max(np.abs(np.asarray(reference["aps"]) - aps))),
    }
    same_classes = reference["num_classes"] == ours.num_classes_with_positives
    table = markdown_table(
        ["20,000 x 3862, float64 scores, batches of 1024", "CPU s", "wall s", "speed-up (CPU)", "speed-up (wall)"],
        [
            ["official algorithm (benchmarks/official_metrics_reference.py)", round(official_cpu, 2),
             round(official_wall, 2), 1.0, 1.0],
            ["yt8m `Evaluator(bucket_map=False)` (same metrics)", round(ours_cpu, 2), round(ours_wall, 2),
             round(official_cpu / ours_cpu, 1), round(official_wall / ours_wall, 1)],
            ["yt8m `Evaluator()` (+ bucketed mAP, not in the official code)", round(buckets_cpu, 2),
             round(buckets_wall, 2), round(official_cpu / buckets_cpu, 1), round(official_wall / buckets_wall, 1)],
        ],
    )
    agreement = markdown_table(
        ["metric", "official", "yt8m", "abs. difference"],
        [
            ["Hit@1", f"{reference['avg_hit_at_one']:.12f}", f"{ours.hit_at_1:.12f}", f"{differences['Hit@1']:.1e}"],
            ["PERR", f"{reference['avg_perr']:.12f}", f"{ours.perr:.12f}", f"{differences['PERR']:.1e}"],
            ["GAP", f"{reference['gap']:.12f}", f"{ours.gap:.12f}", f"{differences['GAP']:.1e}"],
            ["mAP", f"{reference['map']:.12f}", f"{ours.map:.12f}", f"{differences['mAP']:.1e}"],
            ["per-class AP", f"{reference['num_classes']} classes", f"{ours.num_classes_with_positives} classes",
             f"max {differences['per-class AP (max)']:.1e}"],
        ],
    )
    verdict = "equal" if same_classes and max(differences.values()) < 1e-12 else "NOT equal"
    return (
        f"{table}\n\nNumbers: {verdict} (max abs difference {max(differences.values()):.1e}).\n\n{agreement}"
    )


def main() -> None:
    start, load = time.time(), os.getloadavg()[0]
    comparison = side_by_side()
    scale = large_scale()
    body = (
        "Synthetic data: ~3 labels per video with Zipf-like class frequencies, scores = sigmoid(N(0,1) + "
        "3·label − 5).\n\n"
        f"### Side by side with the official algorithm\n\n{comparison}\n\n"
        f"### 100,000 videos\n\n{scale}\n\n"
        "Times: CPU seconds of the process and wall seconds; side by side the best of 2 interleaved runs, the "
        f"100,000-video rows 1 run. Whole script: {time.time() - start:.0f} s; "
        f"1-minute load average at the start: {load:.1f} on {os.cpu_count()} cores (a shared machine)."
    )
    write_section(
        "metrics",
        "Evaluation metrics (yt8m.evaluation)",
        ".venv/bin/python benchmarks/bench_metrics.py",
        body,
    )
    print(body)


if __name__ == "__main__":
    main()
