"""`yt8m train`, `yt8m eval`, `yt8m predict`."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import List, Optional

import typer

from .app import app, fail

_EXPECTED = (ValueError, KeyError, FileNotFoundError, FileExistsError)


def _message(exc: Exception) -> str:
    return exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)


@app.command()
def train(
    config: Optional[Path] = typer.Argument(None, help="YAML config file, or a shipped config's name (`yt8m configs`); omitted: defaults, or the run's own with --resume"),
    train_data: Optional[str] = typer.Option(None, "--train-data", help="training files or glob (TFRecords or shards); a resume uses the run's own"),
    eval_data: Optional[str] = typer.Option(None, "--eval-data", help="validation files or glob; a resume uses the run's own"),
    out: Path = typer.Option(..., "--out", "-o", help="run directory (checkpoints, logs)"),
    model: Optional[str] = typer.Option(None, "--model", help="shortcut for --set model.name=NAME"),
    overrides: List[str] = typer.Option([], "--set", help="section.key=value, e.g. optimizer.lr=1e-3 (repeatable)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its newest intact checkpoint"),
    allow_change: List[str] = typer.Option([], "--allow-change", help="with --resume: a config key that may differ from the run's, e.g. optimizer.lr (repeatable)"),
    init_from: Optional[str] = typer.Option(None, "--init-from", help="start from the weights of a run or checkpoint (fine-tuning, transfer)"),
    init_exclude: List[str] = typer.Option([], "--init-exclude", help="with --init-from: parameter-name glob to leave fresh, e.g. 'head.*' (repeatable)"),
) -> None:
    """Train a model; validation, early stopping, TensorBoard/CSV logs and checkpoints as configured."""
    from ..train.config import apply_overrides, config_from_dict, load_config
    from ..train.trainer import train as run

    settings = ([f"model.name={model}"] if model else []) + list(overrides)
    try:
        if resume and config is None:
            if not (out / "config.json").exists():
                raise FileNotFoundError(f"--resume: {out} holds no run (config.json missing)")
            cfg = config_from_dict(apply_overrides(json.loads((out / "config.json").read_text()), settings))
        else:
            cfg = load_config(config, settings)
        if init_from or init_exclude:
            train_section = dataclasses.replace(cfg.train, init_from=init_from or cfg.train.init_from, init_exclude=tuple(init_exclude) or cfg.train.init_exclude)
            cfg = dataclasses.replace(cfg, train=train_section)
        result = run(cfg, train_data, out, eval_data=eval_data, resume=resume, allow_changes=list(allow_change))
    except _EXPECTED as exc:
        fail(_message(exc))
    if int(os.environ.get("RANK", "0")) != 0:
        return
    metric = "MAP@100K" if result.validation_metric == "segment_map" else "GAP"
    best = f", best validation {metric} {result.best_gap:.4f}" if result.best_gap is not None else ""
    typer.echo(f"trained {result.steps} steps ({result.examples} videos){best}; checkpoint {result.checkpoint}")
    typer.echo(f"training data: {result.read_stats.summary_line()}")


DASK = typer.Option(None, "--dask", help="run one task per file on Dask: local:N (a local cluster of N workers) or a scheduler address (tcp://host:8786)")


@app.command("eval")
def evaluate(
    checkpoint: Path = typer.Argument(..., help="checkpoint or run directory (its best, else latest, checkpoint)"),
    data: str = typer.Option(..., "--data", help="labeled files or glob"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="where to write metrics.json and per_class_ap.csv (default: CHECKPOINT/eval/<data set name>/)"),
    batch_size: int = typer.Option(256, help="videos per batch"),
    vocabulary: Optional[str] = typer.Option(None, help="vocabulary.csv for class names (default: found beside the data)"),
    segments: bool = typer.Option(False, "--segments", help="segment-rated data: metrics over rated segments and the Kaggle-2019 MAP@100K"),
    segment_label_ids: Optional[str] = typer.Option(None, "--segment-label-ids", help="rated classes for MAP@100K (default: found beside the data, else the classes the data rates)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    dask: Optional[str] = DASK,
) -> None:
    """GAP, Hit@1, Hit@5, PERR, mAP (top-20 and 1e-4 buckets) and per-class AP. Deterministic.
    One task per file, under torchrun (rank 0 writes) or on Dask: the metrics of one process."""
    from ..io.paths import expand_paths
    from ..predict.run import eval_out_dir
    from ..predict.run import evaluate as run

    try:
        out_dir = out or eval_out_dir(checkpoint, data, expand_paths(data), segments=segments)
        metrics = run(checkpoint, data, out_dir, batch_size=batch_size, vocabulary=vocabulary, device=device, segments=segments, segment_label_ids=segment_label_ids, dask=dask)
    except _EXPECTED as exc:
        fail(_message(exc))
    if "rank" in metrics:  # another torchrun rank: rank 0 reports
        return
    keys = ["num_videos", "gap", "hit_at_1", "hit_at_5", "perr", "map", "map_buckets", "segment_map_at_100k"]
    typer.echo("  ".join(f"{k}={metrics[k]:.4f}" if isinstance(metrics.get(k), float) else f"{k}={metrics.get(k)}" for k in keys if k in metrics))
    if "read" in metrics:
        typer.echo(f"data: {metrics['read_summary']}")
    typer.echo(f"wrote {out_dir / 'metrics.json'}")


@app.command()
def predict(
    checkpoint: Path = typer.Argument(..., help="checkpoint, run directory or MiCRObE model directory"),
    data: str = typer.Option(..., "--data", help="files or glob to predict"),
    out: Path = typer.Option(..., "--out", "-o", help="predictions file: .csv (Kaggle), .parquet or .jsonl"),
    format: Optional[str] = typer.Option(None, "--format", help="csv | parquet | jsonl (default: from the suffix)"),
    top_k: int = typer.Option(20, "--top-k", help="classes per video"),
    batch_size: int = typer.Option(256, help="videos per batch"),
    vocabulary: Optional[str] = typer.Option(None, help="vocabulary.csv for class names"),
    segments: bool = typer.Option(False, "--segments", help="segment retrieval: the 2019 `Class,Segments` CSV"),
    segment_label_ids: Optional[str] = typer.Option(None, "--segment-label-ids", help="rated classes (default: found beside the data)"),
    max_per_class: int = typer.Option(100_000, "--max-per-class", help="segments per class in the segment CSV"),
    exclude_first: int = typer.Option(0, "--exclude-first", help="segment CSV: skip each video's first N segments (the 2019 raters skipped 6)"),
    exclude_last: int = typer.Option(0, "--exclude-last", help="segment CSV: skip each video's last N segments (2019: 2)"),
    bucket: float = typer.Option(0.0, "--bucket", help="segment CSV: floor scores to multiples of this, ties in random order (e.g. 0.001)"),
    seed: int = typer.Option(0, "--seed", help="segment CSV: seed of the tie order when bucketing"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    embeddings: Optional[Path] = typer.Option(None, "--embeddings", help="also write each video's representation (.npz: ids, embeddings)"),
    dask: Optional[str] = DASK,
) -> None:
    """Top-k predictions per video as the Kaggle CSV, Parquet or JSONL; or segment retrieval. Streams.
    One task per file, under torchrun (rank 0 writes) or on Dask: the file one process writes."""
    from ..predict.run import predict as run
    from ..predict.run import predict_segment_file

    try:
        if segments:
            from ..predict.segments import SegmentOptions

            options = SegmentOptions(max_per_class=max_per_class, exclude_first=exclude_first, exclude_last=exclude_last, bucket=bucket, seed=seed)
            summary = predict_segment_file(checkpoint, data, out, segment_label_ids=segment_label_ids, options=options, device=device)
            typer.echo(f"wrote {summary['classes']} classes over {summary['segments']} segments of {summary['videos']} videos to {summary['out']}")
            return
        summary = run(checkpoint, data, out, format=format, top_k=top_k, batch_size=batch_size, vocabulary=vocabulary, device=device, embeddings=embeddings, dask=dask)
    except _EXPECTED as exc:
        fail(_message(exc))
    if "rank" in summary:  # another torchrun rank: rank 0 reports
        return
    typer.echo(f"wrote {summary['videos']} videos to {summary['out']} ({summary['ms_per_video']:.2f} ms/video)")
    if "read" in summary:
        typer.echo(f"data: {summary['read_summary']}")
