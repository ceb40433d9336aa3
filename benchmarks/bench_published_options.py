"""The five published-model settings against ours, side by side, 3 seeds each (issue 11).

Each comparison trains one model twice per seed on the same data, changing one option:
- frame_logistic `training`: the video average (ours) vs every sampled frame a separate example
  (YouTube-8M §4.1.1); both see the same 20 random frames per video.
- netfv `second_order_norm`: per cluster (ours) vs global only (WILLOW's code).
- netvlad `hidden_bn`: batch norm on the hidden layer (ours) vs a bias and no BN (WILLOW's best run).
- nextvlad `input_scaling`: L2-normalized frames (ours) vs rgb rescaled by sqrt(PCA eigenvalue) + 1e-4
  (the published code), with the eigenvalues the generator's PCA wrote (pca/rgb/eigenvals.npy).
- gru `output`: the top layer's final state (ours) vs both layers' final states (WILLOW's code).

Recipe: the frame zoo's budget recipe (bench_frame_models.py: Adam lr 0.01, classifier bias at the
label prior, BN momentum 0.1, frames 20..60, the zoo's reduced widths), on the `small` world with
the Table 3 benchmark's videos (bench_video_models.py), EPOCHS passes. The verdict "published above
ours" on validation GAP decides which setting the plain configs/frame_*.yaml keep. Raw results go
to results/published_options.json; `render` makes the section from them alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CACHE, add_seed_run_arguments, markdown_table, mean_pm, publish, republish, verdict, verdict_text  # noqa: E402

NAME, TITLE, COMMAND = "published_options", "Published-model options vs ours (issue 11)", "python benchmarks/bench_published_options.py"
SEEDS = (0, 1, 2)
EPOCHS = 2
FIT_CHECK_VIDEOS = 500  # GAP train on this many training videos (the zoo's 1500 cost too much here)
COMPARISONS = [  # (model, option, ours, published, source)
    ("frame_logistic", "training", "video_average", "per_frame", "YouTube-8M §4.1.1"),
    ("netfv", "second_order_norm", "per_cluster", "global", "WILLOW code"),
    ("netvlad", "hidden_bn", True, False, "WILLOW best run"),
    ("nextvlad", "input_scaling", "l2", "pca_eigenvalues", "NeXtVLAD code"),
    ("gru", "output", "last", "last_all_layers", "WILLOW code"),
]


def progress_file(seed: int) -> Path:
    return CACHE / f"published_options_runs_seed{seed}.json"


def stored_runs() -> list[dict]:
    return [r for seed in SEEDS if progress_file(seed).exists() for r in json.loads(progress_file(seed).read_text())]


def results_for(runs: list[dict], model: str, setting) -> list[dict]:
    return [r for r in runs if r["name"] == model and r["setting"] == setting]


def render(raw: dict) -> str:
    """The section from the stored runs alone (tests/test_benchmarks_md.py re-renders it)."""
    runs, rows, lines = raw["runs"], [], []
    for model, option, ours, published, source in COMPARISONS:
        a, b = results_for(runs, model, published), results_for(runs, model, ours)
        gap = verdict([r["validate"]["gap"] for r in a], [r["validate"]["gap"] for r in b])
        rated = verdict([r["rated"]["gap"] for r in a], [r["rated"]["gap"] for r in b])
        for label, runs_of in (("ours", b), ("published", a)):
            setting = ours if label == "ours" else published
            rows.append([model, f"{option}: {json.dumps(setting)}", label if label == "ours" else f"published ({source})", len(runs_of),
                         mean_pm([r["train_gap"] for r in runs_of]), mean_pm([r["validate"]["gap"] for r in runs_of]),
                         mean_pm([r["validate"]["hit_at_1"] for r in runs_of]), mean_pm([r["rated"]["gap"] for r in runs_of]),
                         mean_pm([r["videos_per_s"] for r in runs_of], 0)])
        keep = {"holds": f"`{option}: {json.dumps(published)}` (published)", "does not hold": f"`{option}: {json.dumps(ours)}` (ours)",
                "not resolved": f"`{option}: {json.dumps(ours)}` (ours; not resolved, so the default stays)"}[gap["verdict"]]
        lines.append(f"- {model}: published above ours on validation GAP {verdict_text(gap)}; on rated GAP {verdict_text(rated)}. "
                     f"{'Kept' if gap['verdict'] == 'not resolved' else 'Better here'}: {keep}.")
    header = ["model", "option", "setting", "seeds", "GAP train", "GAP val", "Hit@1 val", "GAP rated", "videos/s"]
    data = raw["data"]
    return "\n\n".join([
        f"Data: the `{data['preset']}` world ({data['num_classes']} classes, generator version {data['generator_version']}), {data['train_videos']} train / "
        f"{data['validate_videos']} validate / {data['rated_videos']} rated videos, {raw['epochs']} passes "
        f"({raw['steps']} steps × batch {raw['batch']}), frames {raw['frames']}; the frame zoo's budget recipe and widths "
        f"(classifier bias {raw['output_bias']}); GAP train on {raw['fit_check_videos']} training videos. Training seeds {', '.join(map(str, raw['seeds']))}; each cell is mean ± "
        "standard error; a comparison with fewer than 3 finished seeds on a side (the seeds column) did not finish on this "
        "machine in the time this run had, and its verdict is \"not resolved\". frame_logistic trains on 20 random frames per video in both settings (the zoo's "
        "frame_logistic row is the video-average setting). nextvlad's published setting rescales the rgb dims by "
        "sqrt(λ) + 1e-4 of the generator's PCA eigenvalues (pca/rgb/eigenvals.npy) and skips the L2 normalization.",
        markdown_table(header, rows),
        "Verdicts (holds: the difference exceeds two standard errors over the seeds):",
        "\n".join(lines),
    ])


def main() -> None:
    parser = argparse.ArgumentParser()
    add_seed_run_arguments(parser, NAME, SEEDS)
    args = parser.parse_args()
    args.seeds = [] if args.publish_now else [int(x) for x in args.seeds.split(",")]
    if args.from_cache:
        print(republish(__file__, NAME, TITLE, COMMAND))
        return
    import torch

    from benchmarks import bench_frame_models
    from benchmarks.bench_frame_models import BATCH, MAX_FRAMES, SKIP_FRAMES, run_model, world

    bench_frame_models.FIT_CHECK_VIDEOS = FIT_CHECK_VIDEOS
    from benchmarks.bench_video_models import PRESET, SUBSET, dataset

    torch.set_num_threads(1)
    data = world(dataset()[0], PRESET, **SUBSET)  # the Table 3 benchmark's world, at the generator's version
    steps = EPOCHS * data.train_videos // BATCH
    eigenvalues = str(data.path / "pca" / "rgb" / "eigenvals.npy")
    runs = stored_runs()
    done = {(r["name"], json.dumps(r["setting"]), r["seed"]) for r in runs}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            mine = [r for r in runs if r["seed"] == seed]
            for model, option, ours, published, _ in COMPARISONS:
                for setting in (ours, published):
                    if (model, json.dumps(setting), seed) in done:
                        continue
                    changes = {option: setting, "seed": seed}
                    if setting == "pca_eigenvalues":
                        changes["eigenvalues_file"] = eigenvalues
                    run = run_model(model, data, Path(tmp) / f"seed{seed}-{len(mine)}", "budget", steps, changes)
                    run.update(setting=setting, seed=seed, minutes=(time.perf_counter() - start) / 60)
                    run["options"].pop("eigenvalues_file", None)  # a path on this machine
                    mine.append(run)
                    progress_file(seed).write_text(json.dumps(mine))  # resumable: finished runs are kept
                    print(model, setting, seed, run["validate"]["gap"], flush=True)
    runs = stored_runs()
    if len({(r["name"], json.dumps(r["setting"]), r["seed"]) for r in runs}) < 2 * len(COMPARISONS) * len(SEEDS):
        if not args.publish_now:
            return  # other seeds still running (`--seeds`); the last one to finish publishes
    raw = {
        "runs": runs, "seeds": list(SEEDS), "epochs": EPOCHS, "steps": steps, "batch": BATCH, "output_bias": data.output_bias,
        "frames": f"{SKIP_FRAMES}..{SKIP_FRAMES + MAX_FRAMES}", "fit_check_videos": bench_frame_models.FIT_CHECK_VIDEOS,
        "data": {"preset": PRESET, "num_classes": data.num_classes, "train_videos": data.train_videos,
                 "generator_version": json.loads((data.path / "manifest.json").read_text())["config"]["world_version"],
                 "validate_videos": SUBSET["validate_videos"], "rated_videos": SUBSET["rated_test_videos"]},
    }
    print(publish(__file__, NAME, TITLE, COMMAND, raw))


if __name__ == "__main__":
    main()
