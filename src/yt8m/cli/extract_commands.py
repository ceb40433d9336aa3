"""`yt8m extract`: video files -> official-format records; `yt8m extract fit-pca`: the PCA it applies."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import List, Optional

import typer

from .app import app, fail

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".flv", ".ts")


def expand_videos(items: list[str]) -> list[str]:
    """Files as given, directories searched recursively for video suffixes, glob patterns expanded; sorted, unique."""
    found: list[str] = []
    for item in items:
        if os.path.isdir(item):
            found += sorted(str(p) for p in Path(item).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        elif os.path.exists(item):
            found.append(item)
        else:
            matches = sorted(glob.glob(item))
            if not matches:
                fail(f"no video matches {item!r}")
            found += matches
    return list(dict.fromkeys(found))


@app.command("extract")
def extract_command(
    videos: List[str] = typer.Argument(..., help="video files, directories or globs; `fit-pca VIDEOS...` fits the PCA instead"),
    out: Path = typer.Option(..., "--out", "-o", help="output directory (frame/, video/, vocabulary.csv, failed.csv); reruns resume"),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.csv: columns video, labels (';'-separated names or ids), optional id"),
    pca: Optional[Path] = typer.Option(None, "--pca", help="PCA directory from fit-pca, or the official yt8m_pca files (default: fit on these videos)"),
    backbone: str = typer.Option("efficientnet_lite0", "--backbone", help="efficientnet_lite0 | torchscript | timm:NAME | torchvision:NAME"),
    weights: Optional[str] = typer.Option(None, "--weights", help="local weights file (TorchScript file, or a state dict)"),
    fps: float = typer.Option(1.0, "--fps", help="frames sampled per second"),
    max_frames: int = typer.Option(300, "--max-frames", help="frames kept from the start of each video (0 = all)"),
    audio: str = typer.Option("logmel", "--audio", help="logmel (log-mel [mean; std] whitened to 128-d) | zero"),
    workers: int = typer.Option(1, "--workers", "-w", help="worker processes (one core each)"),
    dask: Optional[str] = typer.Option(None, "--dask", help="one task per video on Dask: local:N (a local cluster of N workers) or a scheduler address"),
    split: str = typer.Option("train", "--split", help="output file prefix: OUT/frame/<split>0000.tfrecord"),
    videos_per_file: int = typer.Option(1000, "--videos-per-file", help="records per output file"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Decode at --fps, run the image backbone, PCA-whiten, quantize and write official-format records."""
    from ..extract import ExtractConfig, extract, fit_pca
    from ..extract.decode import VideoDecodeError

    fitting = videos[0] == "fit-pca"
    files = expand_videos(videos[1:] if fitting else videos)
    try:
        cfg = ExtractConfig(fps=fps, max_frames=max_frames, backbone=backbone, weights=weights, audio=audio)
        if fitting:
            summary = fit_pca(files, out, cfg, workers=workers, progress=not quiet)
            typer.echo(f"{out}: PCA fitted on {summary['frames']} frames of {summary['videos'] - len(summary['failed'])} videos")
        else:
            summary = extract(files, out, cfg, labels=str(labels) if labels else None, pca=pca, workers=workers, dask=dask, split=split,
                              videos_per_file=videos_per_file, progress=not quiet)
            typer.echo(f"{out}: {summary['extracted']}/{summary['videos']} videos extracted into {len(summary['files'])} files")
    except (ValueError, FileNotFoundError, ImportError, VideoDecodeError) as error:
        fail(str(error))
    for path, error in summary["failed"]:
        typer.secho(f"skipped: {error}", fg=typer.colors.YELLOW, err=True)
    if summary["failed"]:
        typer.secho(f"{len(summary['failed'])} videos could not be read (listed above and in {out}/failed.csv)", fg=typer.colors.YELLOW, err=True)
        if len(summary["failed"]) == summary["videos"]:
            raise typer.Exit(1)
