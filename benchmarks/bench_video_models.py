"""YouTube-8M paper Table 3, video-level rows, on synthetic data, with 3 seeds and computed verdicts (issues 3, 11).

Rows: hinge, logistic and MoE-2 on the mean features [mean_rgb; mean_audio], and MoE-2 on
[mean; std; top-5] of the frames (§4.2), each with its shipped config's feature treatment, as the
paper has them: the μ rows L2-normalize the dataset's video-level means (whose frames the data
already PCA-whitens), the [μ; σ; Top5] row whitens its 8064-dim vector globally, then L2. The
training set here (2000 videos) cannot estimate 8064 dimensions, so that row keeps the 1024 largest
components (WHITENED_COMPONENTS). The [μ; σ; Top5] vectors (every frame, up to 300) are aggregated
once into video-level shards (`aggregated_dataset`, the same `aggregate_frames` the model runs),
so that row trains as fast as the μ rows and every row gets the same number of epochs; the model
then whitens and normalizes them as the shipped config does (`aggregate: none`). An extra row trains the same vector unwhitened (L2 only): the
earlier run of this benchmark treated every row that way, and it is what made [μ; σ; Top5] fall far
below the μ rows; it is not part of the paper's ordering.

Each row is trained under three optimizers ("arms"), every arm the same for every row:
- "adam": the official starter code's optimizer, Adam lr 0.01, batch 128, staircase schedule (what
  configs/video_logistic.yaml and video_moe*.yaml ship, because it trains better here).
- "paper": the paper's §4.3.3 optimizer, Adagrad lr 1.0, batch 32, constant rate, zero classifier
  bias (what configs/video_hinge.yaml ships).
- "paper + output_bias": the same with `train.output_bias` = logit(labels per video / classes).

Sizes are reduced to fit a shared 2-core machine (each training about a minute): the `small`
world (400 classes) with SUBSET's videos, EPOCHS epochs (3 epochs, 47 Adam steps, left every row far
from trained in a one-seed check at 3, 10 and 30 epochs), SEEDS seeds (the training seed; the data is
fixed). The raw metrics go to results/video_models.json and `render` makes the section from them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CACHE, add_seed_run_arguments, markdown_table, mean_pm, publish, republish, verdict, verdict_text  # noqa: E402

NAME, TITLE, COMMAND = "video_models", "Video-level models, YouTube-8M Table 3 rows (issues 3, 11)", "python benchmarks/bench_video_models.py"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESET = "small"
SUBSET = dict(
    train_videos=2000, validate_videos=500, test_videos=300, rated_test_videos=300,
    segment_validate_videos=0, segment_test_videos=0, train_shards=4, validate_shards=2, test_shards=1,
    levels=("frame", "video"),
)
EPOCHS = 30  # 2000 videos: 470 Adam steps of 128 (the shipped 5 epochs assume millions of videos)
SEEDS = (0, 1, 2)
MAX_FRAMES = 300  # the [μ; σ; Top5] vectors cover every frame, as the shipped config
AGGREGATED = "mean_std_top5"  # the video-level feature aggregated_dataset writes
AGGREGATED_DIM = (2 + 5) * (1024 + 128)  # [μ; σ; Top5] of the rgb + audio dims
WHITENED_COMPONENTS = 1024  # of 8064: the shipped config keeps all, fitted on up to 100k videos; 2000 cannot estimate more
WHITENED = f"{{aggregate: none, whiten: true, n_components: {WHITENED_COMPONENTS}, epsilon: 1.0e-4, l2: true}}"
NOT_WHITENED = "{aggregate: none, whiten: false, l2: true}"
AGGREGATED_DATA = ["data.kind=video", f"data.feature_names=[{AGGREGATED}]", f"data.feature_sizes=[{AGGREGATED_DIM}]"]
TOP5 = "MoE-2 ([μ; σ; Top5])"
ROWS = {  # name: (shipped config, data level, overrides)
    "hinge (μ)": ("video_hinge.yaml", "video", []),
    "logistic (μ)": ("video_logistic.yaml", "video", []),
    "MoE-2 (μ)": ("video_moe.yaml", "video", []),
    TOP5: ("video_moe_mean_std_top5.yaml", "aggregated", [f"model.features={WHITENED}", *AGGREGATED_DATA]),
    "MoE-2 ([μ; σ; Top5], not whitened)": ("video_moe_mean_std_top5.yaml", "aggregated", [f"model.features={NOT_WHITENED}", *AGGREGATED_DATA]),
}
ORDER = ["hinge (μ)", "logistic (μ)", "MoE-2 (μ)", TOP5]  # Table 3's ordering, weakest first
PAPER = {  # Table 3 (YouTube-8M paper), mAP / Hit@1 / PERR, for reference
    "hinge (μ)": "17.0 / 56.3 / 47.9", "logistic (μ)": "28.1 / 60.5 / 53.0",
    "MoE-2 (μ)": "29.6 / 62.3 / 54.9", "MoE-2 ([μ; σ; Top5])": "30.0 / 63.3 / 55.8",
}
ADAM = ["optimizer.name=adam", "optimizer.lr=0.01", "optimizer.batch_size=128", "schedule.name=staircase"]
ARM_DESCRIPTIONS = {
    "adam": "Adam lr 0.01, batch 128, staircase: the official starter code's, shipped in configs/video_logistic.yaml and video_moe*.yaml",
    "paper": "Adagrad lr 1.0, batch 32, constant, zero bias: the paper's, shipped in configs/video_hinge.yaml",
    "paper + output_bias": "the paper's optimizer with train.output_bias",
}
PAPER_OPTIMIZER = ["optimizer.name=adagrad", "optimizer.lr=1.0", "optimizer.batch_size=32", "schedule.name=constant"]
ARMS = ("adam", "paper", "paper + output_bias")
METRICS = ("gap", "hit_at_1", "perr", "map_buckets")
METRIC_NAMES = {"gap": "GAP", "hit_at_1": "Hit@1", "perr": "PERR", "map_buckets": "mAP (paper, 1e-4 buckets)"}


def dataset() -> tuple[Path, dict]:
    from yt8m.synth import generate

    out = CACHE / f"{PRESET}-table3-seed0-v3"
    manifest = generate(out, preset=PRESET, seed=0, workers=2, progress=False, **SUBSET)
    return out, manifest


def aggregated_dataset(root: Path) -> None:
    """root/aggregated/<split>.arrow: each frame-level video's [μ; σ; Top5] (float32) as a video-level shard."""
    import numpy as np

    from yt8m.features.aggregation import aggregate_frames
    from yt8m.io import RecordSchema, VideoRecord, read_records, write_records
    from yt8m.io.reader import frames_matrix

    schema = RecordSchema(kind="video", feature_names=(AGGREGATED,), feature_sizes=(AGGREGATED_DIM,))
    for source in sorted((root / "frame").glob("*.tfrecord")):
        target = root / "aggregated" / (source.stem + ".arrow")
        if target.exists():
            continue

        def vectors():
            for record in read_records(str(source), "frame"):
                frames = frames_matrix([record.features["rgb"], record.features["audio"]], MAX_FRAMES)
                vector = aggregate_frames(frames[None], np.array([min(record.num_frames, MAX_FRAMES)]), top_k=5)[0]
                yield VideoRecord(record.id, record.labels, {AGGREGATED: vector})

        write_records(target, vectors(), schema, format="shard")  # temp file, renamed when whole


def has_no_cell(row: str, arm: str) -> bool:
    """Hinge has no classifier bias to start at the prior."""
    return arm == "paper + output_bias" and row == "hinge (μ)"


def prior_logit(manifest: dict) -> float:
    stats = manifest["label_stats"]["train"]
    p = stats["observed_labels_per_video"] / manifest["config"]["num_classes"]
    return round(math.log(p / (1 - p)), 2)


def run_one(row: str, arm: str, seed: int, root: Path, manifest: dict, out: Path) -> dict:
    """Train one row under one arm and seed; validation and clean rated-test metrics, speed."""
    from yt8m.predict.run import evaluate
    from yt8m.train.config import load_config
    from yt8m.train.trainer import train

    config_file, level, overrides = ROWS[row]
    arm_overrides = ADAM if arm == "adam" else PAPER_OPTIMIZER
    if arm == "paper + output_bias":
        arm_overrides = [*PAPER_OPTIMIZER, f"train.output_bias={prior_logit(manifest)}"]
    config = load_config(CONFIGS / config_file, [
        *overrides, *arm_overrides, f"data.num_classes={manifest['config']['num_classes']}", f"train.epochs={EPOCHS}",
        f"train.seed={seed}", "train.tensorboard=false", "train.log_every=20", "train.checkpoint_every=0", "data.shuffle_buffer=1024",
    ])
    start = time.perf_counter()
    suffix = "arrow" if level == "aggregated" else "tfrecord"
    result = train(config, str(root / level / f"train*.{suffix}"), out, progress=False)
    seconds = time.perf_counter() - start
    metrics = {split: evaluate(out, str(root / level / f"{split}*.{suffix}")) for split in ("validate", "rated_test")}
    return {
        "row": row, "arm": arm, "seed": seed,
        "metrics": {s: {k: float(m[k]) for k in (*METRICS, "hit_at_5")} for s, m in metrics.items()},
        "train_videos_per_sec": result.examples / seconds,
        "final_loss": float(result.history[-1]["loss"]) if result.history else float("nan"),
    }


def progress_file(seed: int) -> Path:
    return CACHE / f"video_models_runs_seed{seed}.json"


def stored_runs() -> list[dict]:
    return [r for seed in SEEDS if progress_file(seed).exists() for r in json.loads(progress_file(seed).read_text())]


def values(runs: list[dict], row: str, arm: str, metric: str, split: str = "validate") -> list[float]:
    return [r["metrics"][split][metric] for r in runs if r["row"] == row and r["arm"] == arm]


def render(raw: dict) -> str:
    """The section from the stored runs alone (tests/test_benchmarks_md.py re-renders it)."""
    runs, rows = raw["runs"], list(ROWS)
    seeds = len(raw["seeds"])
    tables = []
    for arm in ARMS:
        table_rows = [
            [row, len(values(runs, row, arm, "gap")), *(mean_pm(values(runs, row, arm, m)) for m in METRICS),
             mean_pm(values(runs, row, arm, "hit_at_1", "rated_test")), mean_pm(values(runs, row, arm, "perr", "rated_test")),
             mean_pm([r["train_videos_per_sec"] for r in runs if r["row"] == row and r["arm"] == arm], 0)]
            for row in rows
        ]
        header = ["model (features)", "n", *(f"{METRIC_NAMES[m]} val" for m in METRICS), "Hit@1 clean", "PERR clean", "train videos/s"]
        tables.append(f"**{arm}** ({raw['arms'][arm]}):\n\n" + markdown_table(header, table_rows))
    claims = []
    for arm in ARMS:
        for metric in ("gap", "hit_at_1", "perr", "map_buckets"):
            steps = [verdict(values(runs, better, arm, metric), values(runs, worse, arm, metric)) for worse, better in zip(ORDER, ORDER[1:])]
            words = {v["verdict"] for v in steps}
            overall = "holds" if words == {"holds"} else "does not hold" if "does not hold" in words else "not resolved"
            detail = "; ".join(f"{b} above {w}: {verdict_text(v)}" for (w, b), v in zip(zip(ORDER, ORDER[1:]), steps))
            claims.append(f"- {arm}, {METRIC_NAMES[metric]}: the paper's order: {overall}. {detail}.")
    arm_claims = []
    for row in rows:
        for metric in ("gap", "hit_at_1"):
            v = verdict(values(runs, row, "adam", metric), values(runs, row, "paper", metric))
            w = verdict(values(runs, row, "paper + output_bias", metric), values(runs, row, "paper", metric))
            arm_claims.append(f"- {row}, {METRIC_NAMES[metric]}: adam above paper {verdict_text(v)}; "
                              f"output_bias above zero bias (paper) {verdict_text(w)}.")
    data = raw["data"]
    return "\n\n".join([
        f"Data: the `{data['preset']}` world ({data['num_classes']} classes, 1024 + 128 features; generator version "
        f"{data['generator_version']}) with {data['train_videos']} train, {data['validate_videos']} validate and "
        f"{data['rated_test_videos']} clean rated-test videos (reduced from the paper's millions, and from `medium`, to fit a "
        f"shared 2-core machine). {raw['epochs']} epochs, up to {seeds} training seeds per cell; each cell is mean ± standard error "
        "over the seeds. Validation metrics on noisy labels; 'clean' = the rated split with every true label (paper Table 4).",
        "Features as shipped and as in the paper: the μ rows L2-normalize the dataset's video-level means (of frames the data "
        f"already PCA-whitens); the [μ; σ; Top5] row whitens its 8064-dim vector globally (mean removal, PCA, then L2), keeping the "
        f"{raw['whitened_components']} largest components, because {data['train_videos']} training videos cannot estimate more "
        "(the shipped config keeps all, fitted on up to 100k videos). The row marked 'not whitened' trains the same vector with L2 "
        "only, the treatment an earlier run of this benchmark gave every row; it is outside the paper's ordering. "
        f"The [μ; σ; Top5] vectors cover every frame (up to {raw['max_frames']}), aggregated once into video-level shards "
        "by the model's own aggregation, so every row trains the same epochs without re-reading frames each epoch. "
        f"`paper + output_bias` starts the classifier bias at logit(labels per video / classes) = {raw['output_bias']} "
        "(hinge has no classifier bias, so that arm has no hinge row). A cell with n below 3 was not run for every "
        "seed (the 8064-dim rows under the paper's batch of 32 are the slowest runs, and this machine's time went to the other "
        "cells first); its verdicts are \"not resolved\".",
        *tables,
        "Paper rows (mAP / Hit@1 / PERR): " + "; ".join(f"{row} {PAPER[row]}" for row in ORDER) + ".",
        "Paper ordering (Table 3: hinge < logistic < MoE-2 < MoE-2 on [μ; σ; Top5]), each step a verdict over the seeds "
        "(holds: the difference exceeds two standard errors; the order holds only if every step does):",
        "\n".join(claims),
        "Optimizer and initial bias, per row:",
        "\n".join(arm_claims),
    ])


def main() -> None:
    parser = argparse.ArgumentParser()
    add_seed_run_arguments(parser, NAME, SEEDS)
    parser.add_argument("--arms", default=",".join(ARMS), help="run only these arms (comma-separated)")
    parser.add_argument("--rows", default="|".join(ROWS), help="run only these rows ('|'-separated)")
    args = parser.parse_args()
    args.arms, args.rows = args.arms.split(","), args.rows.split("|")
    args.seeds = [] if args.publish_now else [int(x) for x in args.seeds.split(",")]
    if args.from_cache:
        print(republish(__file__, NAME, TITLE, COMMAND))
        return
    import torch

    torch.set_num_threads(1)
    root, manifest = dataset()
    aggregated_dataset(root)
    runs = stored_runs()
    done = {(r["row"], r["arm"], r["seed"]) for r in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            mine = [r for r in runs if r["seed"] == seed]
            for arm in args.arms:
                for row in args.rows:
                    if (row, arm, seed) in done or has_no_cell(row, arm):
                        continue
                    mine.append(run_one(row, arm, seed, root, manifest, Path(tmp) / f"{len(mine)}"))
                    stored = json.loads(progress_file(seed).read_text()) if progress_file(seed).exists() else []
                    progress_file(seed).write_text(json.dumps(stored + mine[-1:]))  # resumable; several processes may share a seed
                    print(row, arm, seed, mine[-1]["metrics"]["validate"]["gap"], flush=True)
    runs = stored_runs()
    cells = [(row, arm) for arm in ARMS for row in ROWS if not has_no_cell(row, arm)]
    if len({(r["row"], r["arm"], r["seed"]) for r in runs}) < len(cells) * len(SEEDS):
        if not args.publish_now:
            return  # other seeds still running (`--seeds`); the last one to finish publishes
    raw = {
        "runs": runs, "seeds": list(SEEDS), "epochs": EPOCHS, "max_frames": MAX_FRAMES, "output_bias": prior_logit(manifest),
        "whitened_components": WHITENED_COMPONENTS,
        "arms": ARM_DESCRIPTIONS,
        "data": {"preset": PRESET, "num_classes": manifest["config"]["num_classes"], "generator_version": manifest["config"]["world_version"],
                 **{k: SUBSET[k] for k in ("train_videos", "validate_videos", "rated_test_videos")}},
    }
    print(publish(__file__, NAME, TITLE, COMMAND, raw))


if __name__ == "__main__":
    main()
