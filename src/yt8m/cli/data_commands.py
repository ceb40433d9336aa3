"""`yt8m inspect` and `yt8m convert`: look inside files, turn TFRecords into shards."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from .app import app, fail


def _schema(kind: Optional[str], feature_names: Optional[str], feature_sizes: Optional[str], num_classes: Optional[int], sparse: Optional[str], first_file: str):
    from ..io.detect import detect_schema
    from ..io.records import RecordSchema

    if kind is None and feature_names is None:
        schema = detect_schema(first_file, num_classes=num_classes)
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
CLASSES = typer.Option(None, "--num-classes", help="check labels < N (default: no check when detecting)")
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
) -> None:
    """One line per record (id, labels, frames, features, dequantized means), then summary counts."""
    from ..io import RecordError, expand_paths
    from ..io.inspect import inspect_records

    try:
        files = expand_paths(paths)
        schema = _schema(kind, feature_names, feature_sizes, num_classes, sparse_features, files[0])
        lines, summary = inspect_records(files, schema, skip_corrupt=skip_corrupt, limit=limit)
        for info in lines:
            if as_json:
                typer.echo(json.dumps(info))
            else:
                feats = " ".join(f"{k}{tuple(v['shape'])}~{v['mean']:+.4f}" for k, v in info["features"].items())
                frames = f" frames={info['num_frames']}" if info["num_frames"] is not None else ""
                segs = f" segments={len(info['segments']['start_times'])}" if "segments" in info else ""
                typer.echo(f"{info['id']} labels={info['labels']}{frames} {feats}{segs}")
    except (RecordError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    result = summary.as_dict()
    if as_json:
        typer.echo(json.dumps({"summary": result}))
        return
    typer.echo(f"-- {result['records']} records ({schema.kind}-level: {', '.join(f'{n}[{s}]' for n, s in zip(schema.feature_names, schema.feature_sizes))})")
    typer.echo(f"   videos without labels: {result['videos_without_labels']}")
    typer.echo(f"   top labels (class: videos): {', '.join(f'{c}: {n}' for c, n in result['top_labels'])}")
    if result["frames"]:
        f = result["frames"]
        typer.echo(f"   frames per video: min {f['min']}, mean {f['mean']}, max {f['max']}")
    if result["skipped_records"]:
        typer.echo(f"   skipped {result['skipped_records']} corrupt records:")
        for message in result["errors"]:
            typer.echo(f"     {message}")


@app.command()
def convert(
    inputs: List[str] = typer.Argument(..., help="TFRecord files, globs or URLs"),
    out: str = typer.Option(..., "--out", "-o", help="output directory for .arrow shards"),
    kind: Optional[str] = KIND,
    feature_names: Optional[str] = NAMES,
    feature_sizes: Optional[str] = SIZES,
    num_classes: Optional[int] = typer.Option(3862, "--num-classes", help="labels must be < N"),
    sparse_features: Optional[str] = SPARSE,
    workers: Optional[int] = typer.Option(None, help="parallel processes (default: all cores)"),
    skip_corrupt: bool = typer.Option(False, "--skip-corrupt", help="count and report bad records instead of failing"),
) -> None:
    """Convert TFRecords into memory-mappable Arrow shards (uint8 features). Resumable."""
    from ..io import RecordError, expand_paths
    from ..io.convert import convert as run

    try:
        files = expand_paths(inputs)
        schema = _schema(kind, feature_names, feature_sizes, num_classes, sparse_features, files[0])
        summary = run(files, out, schema, workers=workers, skip_corrupt=skip_corrupt)
    except (RecordError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    mb = summary.output_bytes / 1e6
    typer.echo(
        f"converted {summary.converted} files ({summary.skipped_existing} already done), {summary.records} records, "
        f"{summary.skipped_records} skipped, {mb:.1f} MB of shards in {summary.seconds:.1f}s -> {out}"
    )
    for message in summary.errors[:20]:
        typer.echo(f"  skipped: {message}")
