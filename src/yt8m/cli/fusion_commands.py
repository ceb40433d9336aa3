"""`yt8m fuse`: late fusion of two runs (e.g. the sparse LSTM and MiCRObE) with a weight fitted on held-out data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app, fail


@app.command()
def fuse(
    run_a: Path = typer.Argument(..., help="first run: checkpoint, run directory or MiCRObE model directory"),
    run_b: Path = typer.Argument(..., help="second run"),
    heldout: str = typer.Option(..., "--heldout", help="labeled files or glob to fit the fusion weight on"),
    data: str = typer.Option(..., "--data", help="files or glob to predict"),
    out: Path = typer.Option(..., "--out", "-o", help="fused predictions: .csv (Kaggle), .parquet or .jsonl"),
    metric: str = typer.Option("hit_at_1", help="hit_at_1 | gap: what the weight maximizes on --heldout"),
    normalize: str = typer.Option("max", help="max (each video's scores over its top score) | none"),
    top_k: int = typer.Option(20, "--top-k", help="classes per video"),
    format: Optional[str] = typer.Option(None, "--format", help="csv | parquet | jsonl (default: from the suffix)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
) -> None:
    """Fuse two runs' video scores: w·a + (1−w)·b with w fitted on held-out videos; writes predictions and <out>.fusion.json."""
    from ..predict.fusion import fuse_runs

    try:
        summary = fuse_runs(run_a, run_b, heldout, data, out, metric=metric, normalize=normalize, top_k=top_k, format=format, device=device)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        fail(str(exc))
    f = summary["fusion"]
    typer.echo(f"weight of a = {f['weight']:.2f}; held-out {metric}: a={f['heldout']['a']:.4f} b={f['heldout']['b']:.4f} fused={f['heldout']['fused']:.4f}")
    if "test" in summary:
        t = summary["test"]
        typer.echo(f"--data {metric}: a={t['a']:.4f} b={t['b']:.4f} fused={t['fused']:.4f}")
    typer.echo(f"wrote {summary['videos']} videos to {summary['out']}")


@app.command("segment-ensemble")
def segment_ensemble(
    runs: list[Path] = typer.Argument(..., help="two or more segment-scoring runs (e.g. context-aware and context-agnostic)"),
    heldout: str = typer.Option(..., "--heldout", help="segment-rated files or glob (a held-out fold) to fit the weights on"),
    data: str = typer.Option(..., "--data", help="files or glob to write the segment submission for"),
    out: Path = typer.Option(..., "--out", "-o", help="the `Class,Segments` CSV"),
    step: float = typer.Option(0.1, "--step", help="weight grid step (weights are multiples of it summing to 1)"),
    segment_label_ids: Optional[str] = typer.Option(None, "--segment-label-ids", help="rated classes (default: found beside the data)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
) -> None:
    """Average segment scores of several runs with weights fitted on held-out MAP@100K; writes <out>.ensemble.json too."""
    from ..predict.segment_ensemble import ensemble_segment_file

    try:
        report = ensemble_segment_file(runs, heldout, data, out, segment_label_ids=segment_label_ids, step=step, device=device)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        fail(str(exc))
    members = ", ".join(f"{m:.4f}" for m in report["heldout_map"]["members"])
    typer.echo(f"weights {', '.join(f'{w:.2f}' for w in report['weights'])}; held-out MAP@100K: runs {members}, ensemble {report['heldout_map']['ensemble']:.4f}")
    typer.echo(f"wrote {report['classes']} classes over {report['segments']} segments of {report['videos']} videos to {report['out']}")
