"""`yt8m demo`: the main job end to end on synthetic data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="where data, runs and the report go"),
    preset: str = typer.Option("small", help="synthetic preset: tiny | small | medium"),
    seed: int = typer.Option(0, help="generator seed"),
    workers: Optional[int] = typer.Option(None, help="processes for generation and conversion (default: all cores)"),
) -> None:
    """Synthetic data -> shards -> train logistic and MoE -> evaluate -> Kaggle CSV -> report.md."""
    from ..demo import run_demo

    run_demo(out, preset=preset, seed=seed, workers=workers)
