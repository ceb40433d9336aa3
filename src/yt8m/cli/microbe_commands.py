"""`yt8m microbe ...`: run the MiCRObE pipeline, evaluate or apply a model, eq. 4."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .app import app, fail

microbe_app = typer.Typer(help="MiCRObE: calibration, hard negative mining, second-order cascade (seed 000, §3).",
                          no_args_is_help=True)
app.add_typer(microbe_app, name="microbe")


@microbe_app.command("run")
def run(
    config: Path = typer.Argument(..., help="YAML config file, or a shipped one's name (microbe_frame, microbe_video)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="model directory (overrides the config's)"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="'sync', 'local' or a Dask scheduler address"),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="LocalCluster worker processes"),
    overrides: List[str] = typer.Option([], "--set", help="override a setting, e.g. --set mining.examples=500 (repeatable)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
    resume: bool = typer.Option(False, "--resume", help="reuse the output's stage checkpoints that match the config; restart at the first stage that did not finish or whose settings changed"),
) -> None:
    """Calibrate, mine hard negatives, train the second-order models and save the cascade."""
    from ..microbe import MicrobeConfig, run_microbe
    from ..typed_config import parse_overrides

    try:
        from ..shipped_configs import resolve_config

        cfg = MicrobeConfig.from_yaml(resolve_config(config))
        changes = parse_overrides(overrides, example="mining.examples=500")
        if output is not None:
            changes["output"] = str(output)
        if scheduler is not None or workers is not None:
            changes.setdefault("dask", {})
            if scheduler is not None:
                changes["dask"]["scheduler"] = scheduler
            if workers is not None:
                changes["dask"]["workers"] = workers
        cfg = cfg.replace(**changes) if changes else cfg
    except (ValueError, OSError) as exc:
        fail(str(exc))
    if not cfg.output:
        fail("no output directory: set `output:` in the config or pass --output")
    try:
        model = run_microbe(cfg, progress=not quiet, resume=resume)
    except (ValueError, OSError) as exc:
        fail(f"{exc}\n(finished stages are checkpointed in {Path(cfg.output) / 'checkpoints'}: rerun with --resume)")
    for line in summary_lines(model, cfg.output):
        typer.echo(line)


def summary_lines(model, output) -> list[str]:
    """What `microbe run` prints: the stages reused, the model, the mining's pruning, the fallbacks."""
    from ..microbe.pipeline import LABELS_FILE

    r = model.report
    lines = []
    if r["stages"]["reused"]:
        lines.append(f"resumed: reused the {', '.join(r['stages']['reused'])} checkpoint(s); recomputed "
                     + ", ".join(f"{s} ({why})" for s, why in r["stages"]["restarted"].items()))
    lines.append(
        f"{output}: {r['calibration']['pairs_kept']} calibrated pairs (of {r['calibration']['pairs_fitted']} fitted, "
        f"λ={r['calibration']['lambda']:g}), {r['second_order']['labels_trained']} labels with a second-order model; "
        f"mining scored {r['mining']['evaluations']:,} of {r['mining']['brute_force_evaluations']:,} brute-force p(e|f); "
        f"{r['seconds']:.1f} s"
    )
    if r["mining"].get("pruning_note"):
        lines.append(f"mining: {r['mining']['pruning_note']}")
    fallbacks = model.fallback_labels()
    counts = r["second_order"]["label_status"]
    if fallbacks or counts.get("no_features"):
        parts = [f"{len(labels)} {status.removeprefix('maxcal_fallback_').replace('_', ' ')}" for status, labels in fallbacks.items()]
        lines.append(f"labels scored by max-calibration instead: {sum(len(v) for v in fallbacks.values())} "
                     f"({', '.join(parts) or 'none'}); {counts.get('no_features', 0)} labels without calibrated features are never "
                     f"predicted; per label: {Path(output) / LABELS_FILE}")
    return lines


@microbe_app.command("eval")
def evaluate(
    model_dir: Path = typer.Argument(..., help="a model directory written by `yt8m microbe run`"),
    data: List[str] = typer.Argument(..., help="labeled frame-level record files or globs"),
    stage: str = typer.Option("cascade", "--stage", help="cascade (MiCRObE) or maxcal (eq. 3 alone)"),
    out: Optional[Path] = typer.Option(None, "--out", help="write metrics.json here"),
) -> None:
    """Hit@1, Hit@5, GAP, PERR, mAP of a MiCRObE model on labeled data."""
    from ..microbe import load_microbe_model

    try:
        model = load_microbe_model(model_dir)
        metrics = model.evaluate(data, stage=stage)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    summary = {k: v for k, v in metrics.items() if k not in ("per_class_ap", "positives_per_class")}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2))
    typer.echo(json.dumps(summary, indent=2))


@microbe_app.command("predict")
def predict(
    model_dir: Path = typer.Argument(..., help="a model directory written by `yt8m microbe run`"),
    data: List[str] = typer.Argument(..., help="frame-level record files or globs"),
    out: Path = typer.Option(..., "--out", "-o", help="predictions file (.csv, .parquet or .jsonl)"),
    top_k: int = typer.Option(20, "--top-k", help="classes per video"),
    stage: str = typer.Option("cascade", "--stage", help="cascade (MiCRObE) or maxcal (eq. 3 alone)"),
) -> None:
    """Top-k predictions per video."""
    from ..microbe import load_microbe_model

    try:
        summary = load_microbe_model(model_dir).predict_to_file(data, out, top_k=top_k, stage=stage)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"{summary['out']}: {summary['videos']} videos, {summary['ms_per_video']:.1f} ms per video")


@microbe_app.command("recovery")
def recovery(
    k: Optional[int] = typer.Option(None, "--k", help="examples kept per worker (default: kW = 2M)"),
    workers: int = typer.Option(..., "--workers", "-W", help="W: mining workers"),
    examples: int = typer.Option(..., "--examples", "-M", help="M: examples kept per label"),
) -> None:
    """Eq. 4: expected number of the true top M recovered from the workers' top k."""
    from ..microbe import default_k, expected_recovered

    k = k or default_k(examples, workers)
    typer.echo(f"k={k} W={workers} M={examples}: E = {expected_recovered(k, workers, examples):.4f}")
