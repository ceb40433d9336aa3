"""`yt8m inspect` and `yt8m convert`: look inside files, turn TFRecords into shards."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from .app import app, fail


def _schema(kind: Optional[str], feature_names: Optional[str], feature_sizes: Optional[str], num_classes: Optional[int], sparse: Optional[str], files: list[str]):
    from ..io.detect import detect_schema
    from ..io.records import RecordSchema

    if kind is None and feature_names is None:
        schema = detect_schema(files, num_classes=num_classes)
    else:
        overrides = {}
        if feature_names:
            overrides["feature_names"] = tuple(n.strip() for n in feature_names.split(","))
        if feature_sizes:
            overrides["feature_sizes"] = tuple(int(s) for s in feature_sizes.split(","))
        schema = RecordSchema.for_kind(kind or "frame", num_classes=num_classes, **overrides)
    if sparse:
        schema = schema.replace(sparse_features=tuple(s.strip() for s in sparse.split(",")))
    return schema


KIND = typer.Option(None, help="video | frame | segment (default: detected from the first record)")
NAMES = typer.Option(None, "--feature-names", help="comma-separated, e.g. rgb,audio")
SIZES = typer.Option(None, "--feature-sizes", help="comma-separated, e.g. 1024,128")
CLASSES = typer.Option(3862, "--num-classes", help="labels must be < N (the official vocabulary: 3862; 0: no check)")
COMPRESSION = typer.Option("auto", "--compression", help="auto (a full GZIP header check) | gzip | none")


def _bound(num_classes: Optional[int]) -> Optional[int]:
    return num_classes or None


def _explain(exc: Exception, num_classes: Optional[int]) -> str:
    """The error line, plus which label bound was used when a label was out of range."""
    message = str(exc)
    if getattr(exc, "field", None) in ("labels", "segment_labels") and "outside" in message:
        message += f" (labels checked against {num_classes}; --num-classes sets the bound, 0 disables the check)"
    return message
SPARSE = typer.Option(None, "--sparse-features", help="sparse per-frame lists to read, e.g. im,tm")


@app.command()
def inspect(
    paths: List[str] = typer.Argument(..., help="files, globs or URLs"),
    kind: Optional[str] = KIND,
    feature_names: Optional[str] = NAMES,
    feature_sizes: Optional[str] = SIZES,
    num_classes: Optional[int] = CLASSES,
    sparse_features: Optional[str] = SPARSE,
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line, then a summary object"),
    limit: Optional[int] = typer.Option(None, help="stop after N records"),
    skip_corrupt: bool = typer.Option(False, "--skip-corrupt", help="count and report bad records instead of failing"),
    compression: str = COMPRESSION,
) -> None:
    """One line per record (id, labels, frames, features, dequantized means), then summary counts."""
    from ..io import RecordError, expand_paths
    from ..io.inspect import inspect_records

    try:
        files = expand_paths(paths)
        schema = _schema(kind, feature_names, feature_sizes, _bound(num_classes), sparse_features, files)
        lines, summary = inspect_records(files, schema, skip_corrupt=skip_corrupt, limit=limit, compression=compression)
        for info in lines:
            if as_json:
                typer.echo(json.dumps(info))
            else:
                feats = " ".join(f"{k}{tuple(v['shape'])}~{v['mean']:+.4f}" for k, v in info["features"].items())
                frames = f" frames={info['num_frames']}" if info["num_frames"] is not None else ""
                segs = f" segments={len(info['segments']['start_times'])}" if "segments" in info else ""
                typer.echo(f"{info['id']} labels={info['labels']}{frames} {feats}{segs}")
    except (RecordError, FileNotFoundError, ValueError, OSError) as exc:
        fail(_explain(exc, _bound(num_classes)))
    result = summary.as_dict()
    if as_json:
        typer.echo(json.dumps({"summary": result}))
        return
    typer.echo(f"-- {result['records']} records ({schema.kind}-level: {', '.join(f'{n}[{s}]' for n, s in zip(schema.feature_names, schema.feature_sizes))})")
    bound = f"all < {result['num_classes']}" if result["num_classes"] else "not range-checked (--num-classes 0)"
    typer.echo(f"   videos without labels: {result['videos_without_labels']}; labels {bound}")
    typer.echo(f"   top labels (class: videos): {', '.join(f'{c}: {n}' for c, n in result['top_labels'])}")
    if result["frames"]:
        f = result["frames"]
        typer.echo(f"   frames per video: min {f['min']}, mean {f['mean']}, max {f['max']}")
    if result["skipped_records"] or result["unread_tails"]:
        typer.echo(f"   {summary.stats.summary_line()}:")
        for message in result["errors"]:
            typer.echo(f"     {message}")


@app.command()
def convert(
    inputs: List[str] = typer.Argument(..., help="TFRecord files, globs or URLs"),
    out: str = typer.Option(..., "--out", "-o", help="output directory for .arrow shards"),
    kind: Optional[str] = KIND,
    feature_names: Optional[str] = NAMES,
    feature_sizes: Optional[str] = SIZES,
    num_classes: Optional[int] = CLASSES,
    sparse_features: Optional[str] = SPARSE,
    workers: Optional[int] = typer.Option(None, help="parallel processes (default: all cores)"),
    dask: Optional[str] = typer.Option(None, "--dask", help="one task per file on Dask: local:N (a local cluster of N workers) or a scheduler address; workers must see --out"),
    skip_corrupt: bool = typer.Option(False, "--skip-corrupt", help="count and report bad records instead of failing"),
    compression: str = COMPRESSION,
) -> None:
    """Convert TFRecords into memory-mappable Arrow shards (uint8 features). Resumable."""
    from ..io import RecordError, expand_paths
    from ..io.convert import convert as run

    try:
        files = expand_paths(inputs)
        schema = _schema(kind, feature_names, feature_sizes, _bound(num_classes), sparse_features, files)
        summary = run(files, out, schema, workers=workers, skip_corrupt=skip_corrupt, compression=compression, dask=dask)
    except (RecordError, FileNotFoundError, ValueError, OSError) as exc:
        fail(_explain(exc, _bound(num_classes)))
    mb = summary.output_bytes / 1e6
    typer.echo(
        f"converted {summary.converted} files ({summary.skipped_existing} already done); on disk: {len(summary.outputs)} shards, "
        f"{summary.records} records, {mb:.1f} MB -> {out}; {summary.skipped_records} records skipped, "
        f"{summary.unread_tails} file tails unread ({summary.seconds:.1f}s)"
    )
    for message in summary.errors[:20]:
        typer.echo(f"  {message}")
