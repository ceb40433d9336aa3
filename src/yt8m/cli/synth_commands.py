"""`yt8m synth`: write a synthetic YouTube-8M dataset in the official format."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from .app import app, fail


@app.command("synth")
def synth(
    out_dir: Path = typer.Argument(..., help="output directory (resumes if it holds the same config)"),
    preset: str = typer.Option("tiny", "--preset", "-p", help="tiny | small | medium | full, or a probe world: probe-conjunction, probe-order, probe-change, probe-multimodal, probe-localized, probe-distractor, probe-combined"),
    seed: int = typer.Option(0, "--seed", help="random seed: same seed and preset give the same bytes"),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="worker processes (default: all cores)"),
    splits: str = typer.Option(
        "train,validate,test,segment_validate,segment_test", "--splits",
        help="comma-separated subset of train,validate,test,segment_validate,segment_test",
    ),
    overrides: List[str] = typer.Option([], "--set", help="override a SynthConfig field, e.g. --set num_classes=100 (repeatable)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Generate train/validate/test (+ human-rated) frame- and video-level records and 2019 segment ratings."""
    from ..synth import generate

    from ..typed_config import parse_overrides

    start = time.perf_counter()
    try:
        fields = parse_overrides(overrides, example="num_classes=100")
        manifest = generate(
            out_dir, preset, seed, workers, splits=[s.strip() for s in splits.split(",") if s.strip()],
            progress=not quiet, **fields,
        )
    except ValueError as exc:
        fail(str(exc))
    seconds = time.perf_counter() - start
    videos = sum(o["videos"] for name, o in manifest["outputs"].items() if name not in ("rated_test", "segment_rated_test"))
    megabytes = sum(o["bytes"] for o in manifest["outputs"].values()) / 1e6
    typer.echo(f"{out_dir}: {manifest['num_classes']} classes, {videos} videos, {megabytes:,.1f} MB; finished in {seconds:.1f} s")
