"""`yt8m train`, `yt8m eval`, `yt8m predict`."""

from __future__ import annotations

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
    config: Optional[Path] = typer.Argument(None, help="YAML config (see configs/); omitted: defaults"),
    train_data: Optional[str] = typer.Option(None, "--train-data", help="training files or glob (TFRecords or shards)"),
    eval_data: Optional[str] = typer.Option(None, "--eval-data", help="validation files or glob"),
    out: Path = typer.Option(..., "--out", "-o", help="run directory (checkpoints, logs)"),
    model: Optional[str] = typer.Option(None, "--model", help="shortcut for --set model.name=NAME"),
    overrides: List[str] = typer.Option([], "--set", help="section.key=value, e.g. optimizer.lr=0.001 (repeatable)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its latest checkpoint"),
) -> None:
    """Train a model; validation, early stopping, TensorBoard/CSV logs and checkpoints as configured."""
    from ..train.checkpoint import latest_checkpoint
    from ..train.config import config_from_dict, load_config
    from ..train.trainer import train as run

    try:
        if resume and config is None and (out / "config.json").exists():
            from ..train.config import apply_overrides

            cfg = config_from_dict(apply_overrides(json.loads((out / "config.json").read_text()), list(overrides)))
        else:
            cfg = load_config(config, ([f"model.name={model}"] if model else []) + list(overrides))
        if train_data is None:
            raise ValueError("--train-data is required")
        result = run(cfg, train_data, out, eval_data=eval_data, resume=resume)
    except _EXPECTED as exc:
        fail(_message(exc))
    if int(os.environ.get("RANK", "0")) != 0:
        return
    best = f", best validation GAP {result.best_gap:.4f}" if result.best_gap is not None else ""
    typer.echo(f"trained {result.steps} steps ({result.examples} videos){best}; checkpoint {result.checkpoint}")


@app.command("eval")
def evaluate(
    checkpoint: Path = typer.Argument(..., help="checkpoint or run directory (its best, else latest, checkpoint)"),
    data: str = typer.Option(..., "--data", help="labeled files or glob"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="where to write metrics.json and per_class_ap.csv (default: beside the checkpoint)"),
    batch_size: int = typer.Option(256, help="videos per batch"),
    vocabulary: Optional[str] = typer.Option(None, help="vocabulary.csv for class names (default: found beside the data)"),
    segments: bool = typer.Option(False, "--segments", help="score rated 5-second segments (segment-rated data)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
) -> None:
    """GAP, Hit@1, Hit@5, PERR, mAP (top-20 and 1e-4 buckets) and per-class AP. Deterministic."""
    from ..predict.run import evaluate as run

    try:
        out_dir = out or Path(checkpoint) / ("eval_segments" if segments else "eval")
        metrics = run(checkpoint, data, out_dir, batch_size=batch_size, vocabulary=vocabulary, device=device, segments=segments)
    except _EXPECTED as exc:
        fail(_message(exc))
    keys = ["num_videos", "gap", "hit_at_1", "hit_at_5", "perr", "map", "map_buckets"]
    typer.echo("  ".join(f"{k}={metrics[k]:.4f}" if isinstance(metrics.get(k), float) else f"{k}={metrics.get(k)}" for k in keys if k in metrics))
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
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    embeddings: Optional[Path] = typer.Option(None, "--embeddings", help="also write each video's representation (.npz: ids, embeddings)"),
) -> None:
    """Top-k predictions per video as the Kaggle CSV, Parquet or JSONL; or segment retrieval. Streams."""
    from ..predict.run import predict as run
    from ..predict.run import predict_segment_file

    try:
        if segments:
            summary = predict_segment_file(checkpoint, data, out, segment_label_ids=segment_label_ids, max_per_class=max_per_class, device=device)
            typer.echo(f"wrote {summary['classes']} classes over {summary['segments']} segments of {summary['videos']} videos to {summary['out']}")
            return
        summary = run(checkpoint, data, out, format=format, top_k=top_k, batch_size=batch_size, vocabulary=vocabulary, device=device, embeddings=embeddings)
    except _EXPECTED as exc:
        fail(_message(exc))
    typer.echo(f"wrote {summary['videos']} videos to {summary['out']} ({summary['ms_per_video']:.2f} ms/video)")
