"""`yt8m models`: the model registry with parameter counts and checkpoint sizes."""

from __future__ import annotations

from typing import Optional

import typer

from .app import app, fail


@app.command("models")
def models(
    num_classes: int = typer.Option(3862, "--num-classes", help="classes the heads are sized for"),
    feature_sizes: str = typer.Option("1024,128", "--feature-sizes", help="comma-separated input streams, e.g. 1024,128"),
    frame_level: Optional[bool] = typer.Option(None, "--frame-level/--video-level", help="only frame- or video-level models"),
) -> None:
    """List every registered model (default config) with its parameters and size."""
    from rich.console import Console
    from rich.table import Table

    from ..models.summary import list_model_summaries

    try:
        sizes = tuple(int(s) for s in feature_sizes.split(","))
        rows = list_model_summaries(num_classes=num_classes, feature_sizes=sizes, frame_level=frame_level)
    except ValueError as exc:
        fail(str(exc))
    table = Table(title=f"yt8m models ({num_classes} classes, features {'+'.join(map(str, sizes))})")
    for column, justify in (("name", "left"), ("input", "left"), ("params", "right"), ("size MB", "right"), ("description", "left")):
        table.add_column(column, justify=justify)
    for row in rows:
        table.add_row(
            row["name"], "frames" if row["frame_level"] else "video", f"{row['params']:,}", f"{row['size_mb']:,.1f}", row["description"]
        )
    Console(width=200).print(table)
