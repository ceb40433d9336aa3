"""`make demo`: the main job end to end on the embedded default (synthetic `small` data).

synthetic data -> shards (convert + read back) -> train logistic and MoE on video-level features
-> evaluate on validate and on the clean human-rated split -> Kaggle CSV -> report
(runs/demo/report.md with a metrics table, a training-curve plot and a precision-recall plot).
Every step is resumable: rerunning skips what is already done.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from .io import read_records
from .io.convert import convert
from .predict.loaded import load_model
from .predict.run import evaluate, predict
from .report.markdown import metrics_table, write_markdown
from .report.plots import plot_precision_recall, plot_training_curves, precision_recall
from .train.config import load_config
from .train.trainer import train

CONFIGS = Path(__file__).resolve().parent / "demo_configs"
MODELS = ("logistic", "moe")


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _history(run_dir: Path) -> list[dict]:
    import csv

    rows = []
    with open(run_dir / "train_log.csv") as f:
        for row in csv.DictReader(f):
            rows.append({k: (float(v) if v not in ("", None) else None) for k, v in row.items()})
    return rows


def run_demo(out_dir: str | Path = "runs/demo", *, preset: str = "small", seed: int = 0, workers: int | None = None) -> dict:
    """Run the demo; returns the metrics dict written to runs/demo/metrics.json."""
    from .synth import generate

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    data = out / "data"
    _say(f"1/6 synthetic YouTube-8M ({preset}, seed {seed}) -> {data}")
    manifest = generate(data, preset=preset, seed=seed, workers=workers)

    _say("2/6 convert the frame-level validation split to Arrow shards and read it back")
    summary = convert(str(data / "frame" / "validate*.tfrecord"), str(out / "shards"), workers=workers, progress=False)
    videos = frames = 0
    for record in read_records(str(out / "shards" / "*.arrow"), "frame", num_classes=manifest["num_classes"] if isinstance(manifest, dict) and "num_classes" in manifest else None):
        videos += 1
        frames += record.num_frames
    _say(f"    {summary.records} videos converted ({summary.output_bytes / 1e6:.0f} MB of shards); read back {videos} videos, {frames / max(videos, 1):.0f} frames on average")

    results, histories, rows, curves = {}, {}, [], {}
    for name in MODELS:
        run_dir = out / "runs" / name
        config = load_config(CONFIGS / f"{name}.yaml", [f"data.num_classes={_num_classes(data)}"])
        if not (run_dir / "train_summary.json").exists():
            shutil.rmtree(run_dir, ignore_errors=True)
            _say(f"3/6 train {name} on video-level features")
            train(config, str(data / "video" / "train*.tfrecord"), run_dir, eval_data=str(data / "video" / "validate*.tfrecord"))
        else:
            _say(f"3/6 {name}: already trained")
        histories[name] = _history(run_dir)
        _say(f"4/6 evaluate {name} on validate and on the clean human-rated split")
        validate = evaluate(run_dir, str(data / "video" / "validate*.tfrecord"), run_dir / "eval_validate")
        clean = evaluate(run_dir, str(data / "video" / "rated_test*.tfrecord"), run_dir / "eval_rated_test")
        results[name] = {"validate": _scalars(validate), "rated_test": _scalars(clean), "checkpoint": validate["checkpoint"]}
        rows += [(name, "validate (noisy labels)", validate), (name, "rated test (clean labels)", clean)]
        model = load_model(run_dir)
        scores, labels = [], []
        for batch in model.predict_files(str(data / "video" / "rated_test*.tfrecord")):
            scores.append(batch["predictions"])
            labels.append(batch["labels"])
        curves[name] = precision_recall(np.concatenate(scores), np.concatenate(labels))

    best = max(MODELS, key=lambda n: results[n]["validate"]["gap"])
    _say(f"5/6 Kaggle CSV for the test split with the best model ({best})")
    prediction = predict(out / "runs" / best, str(data / "video" / "test*.tfrecord"), out / "predictions.csv")

    _say("6/6 report")
    plot_training_curves(histories, out / "training_curves.png")
    plot_precision_recall(curves, out / "precision_recall.png", "Clean human-rated split (micro)")
    metrics = {"preset": preset, "seed": seed, "models": results, "best_model": best, "predictions": prediction, "seconds": time.perf_counter() - start}
    tmp = out / f".metrics.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(metrics, indent=2))
    os.replace(tmp, out / "metrics.json")
    head = "\n".join((out / "predictions.csv").read_text().splitlines()[:3])
    write_markdown(
        out / "report.md",
        "yt8m demo report",
        [
            ("What ran", f"Synthetic YouTube-8M `{preset}` preset (seed {seed}), video-level features `[mean_rgb; mean_audio]`.\n"
             f"Models: {', '.join(MODELS)} (configs in `src/yt8m/demo_configs/`). Total time {metrics['seconds']:.0f} s."),
            ("Metrics", metrics_table(rows) + "\n\nThe validation split has the generator's label noise (missing and wrong labels); "
             "the rated test split has every true label, like the paper's human-rated set (Table 4)."),
            ("Training curves", "![training curves](training_curves.png)"),
            ("Precision-recall on the clean split", "![precision-recall](precision_recall.png)"),
            ("Predictions", f"`predictions.csv` ({prediction['videos']} test videos, {best}, top 20 classes, Kaggle format):\n\n```\n{head}\n```"),
        ],
    )
    _say(f"done in {metrics['seconds']:.0f} s: {out / 'report.md'}")
    return metrics


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None}


def _num_classes(data: Path) -> int:
    from .data.vocabulary import read_vocabulary

    return read_vocabulary(data / "vocabulary.csv").num_classes
