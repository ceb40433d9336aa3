"""YouTube-8M paper Table 3, video-level rows, on synthetic medium-world data (issue 3).

Rows: hinge, logistic and MoE-2 on the mean features [mean_rgb; mean_audio], and MoE-2 on
[mean; std; top-5] of the frames with PCA whitening and L2 (§4.2). Every model gets the paper's
optimizer (Adagrad, lr 1.0, batch 32) and the same number of epochs over the same videos. Each
model trains in its own process (one thread) so its peak memory and speed are its own. Also: training videos/s and
prediction latency per video.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CACHE, markdown_table, peak_rss_mb, write_section  # noqa: E402

# The official optimizer for every row (Adam lr 0.01; batch 128 for the small train set). The paper's
# Adagrad lr 1.0 / batch 32 (§4.3.3) was tried first: the logistic model's first steps saturate its
# sigmoids (loss 1,891 at step 20) and 5 epochs over 6,000 videos leave it far behind hinge (GAP 0.32
# vs 0.51), so that setting measures the optimizer's start-up, not the models.
OPTIMIZER = ["optimizer.name=adam", "optimizer.lr=0.01", "optimizer.batch_size=128", "schedule.name=staircase"]
# The medium world (3862 classes, official feature sizes) with fewer videos: the same world and
# video contents as the frame-model benchmark's first 6000 training videos (bench_frame_models.py).
SUBSET = dict(
    train_videos=6000, validate_videos=1500, test_videos=1000, rated_test_videos=1000,
    segment_validate_videos=0, segment_test_videos=0, train_shards=6, validate_shards=6, test_shards=4,
)
EPOCHS = 5
ROWS = {
    # name: (model overrides, data kind, paper row)
    "hinge (μ)": (["model.name=hinge", "loss.name=hinge"], "video", "Hinge loss, μ: mAP 17.0, Hit@1 56.3, PERR 47.9"),
    "logistic (μ)": (["model.name=logistic"], "video", "Logistic Regression, μ: 28.1 / 60.5 / 53.0"),
    "MoE-2 (μ)": (["model.name=moe", "model.num_mixtures=2"], "video", "Mixture-of-2-Experts, μ: 29.6 / 62.3 / 54.9"),
    "MoE-2 ([μ; σ; Top5])": (
        ["model.name=moe", "model.num_mixtures=2",
         "model.features={aggregate: mean_std_topk, top_k: 5, whiten: true, n_components: 1152, l2: true}"],
        "frame", "Mixture-of-2-Experts, [μ; σ; Top5]: 30.0 / 63.3 / 55.8",
    ),
}


WHY_HINGE = """**Why hinge is not last here (training, not data or model).** The hinge loss stops pushing a
negative once its score is below −b, while the summed cross-entropy keeps pulling all 3,862 logits down;
with a short budget (5 epochs over 6,000 videos, about 8 videos per class on average) the hinge model
ranks the frequent classes sooner. Trained longer, the paper's order between them returns. On `small`
(400 classes, 4,000 train videos; `src/yt8m/demo_configs/*.yaml`: Adam lr 0.01, batch 128),
validation after 8 and 32 epochs:

| model | epochs | GAP | Hit@1 | PERR | mAP (buckets) |
|---|---|---|---|---|---|
| hinge | 8 | 0.597 | 0.849 | 0.661 | 0.437 |
| logistic | 8 | 0.522 | 0.803 | 0.588 | 0.288 |
| MoE-2 | 8 | 0.584 | 0.850 | 0.654 | 0.431 |
| hinge | 32 | 0.599 | 0.871 | 0.665 | 0.553 |
| logistic | 32 | 0.610 | 0.867 | 0.664 | 0.555 |
| MoE-2 | 32 | 0.608 | 0.882 | 0.678 | 0.522 |

At 32 epochs logistic passes hinge on GAP and mAP and MoE-2 leads on Hit@1 and PERR, while hinge has
already flattened. The paper trained on millions of videos to convergence; our medium run is far from it.
The MoE-2 on [μ; σ; Top5] row keeps only 1,152 PCA components (a deviation, for time) and trains at
24 videos/s because it reads and aggregates every frame each epoch (the paper precomputes the statistics
once).
"""


def dataset(levels: tuple[str, ...]) -> Path:
    from yt8m.synth import generate

    out = CACHE / f"medium-subset-{'-'.join(levels)}-seed0"
    generate(out, preset="medium", seed=0, workers=2, progress=False, levels=levels, **SUBSET)
    return out


def run_one(name: str, out: Path) -> dict:
    """Train, evaluate and time one row (runs in a child process)."""
    import torch

    from yt8m.predict.loaded import load_model
    from yt8m.predict.run import evaluate

    torch.set_num_threads(1)
    from yt8m.train.config import load_config
    from yt8m.train.trainer import train

    overrides, kind, _ = ROWS[name]
    root = dataset(("frame", "video"))
    level = "frame" if kind == "frame" else "video"
    config = load_config(None, [*overrides, f"data.kind={kind}", "data.num_classes=3862", f"train.epochs={EPOCHS}", "train.tensorboard=false", "train.log_every=20", "train.checkpoint_every=0", "data.shuffle_buffer=1024", *OPTIMIZER])
    start = time.perf_counter()
    result = train(config, str(root / level / "train*.tfrecord"), out, progress=False)
    train_seconds = time.perf_counter() - start
    metrics = {split: evaluate(out, str(root / level / f"{split}*.tfrecord")) for split in ("validate", "rated_test")}
    model = load_model(out)
    videos, start = 0, time.perf_counter()
    for batch in model.predict_files(str(root / level / "test*.tfrecord"), batch_size=256):
        videos += len(batch["ids"])
    predict_ms = 1000 * (time.perf_counter() - start) / videos
    params = sum(p.numel() for p in model.model.parameters())
    return {
        "name": name,
        "metrics": {s: {k: m[k] for k in ("gap", "hit_at_1", "hit_at_5", "perr", "map", "map_buckets", "num_videos")} for s, m in metrics.items()},
        "train_videos_per_sec": result.examples / train_seconds,
        "train_seconds": train_seconds,
        "predict_ms_per_video": predict_ms,
        "params": params,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        name = sys.argv[2]
        out = CACHE / "video_models" / name.replace(" ", "_").replace(";", "").replace("[", "").replace("]", "").replace("(", "").replace(")", "")
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        print(json.dumps(run_one(name, out)))
        return
    cached = CACHE / "video_models_results.json"
    if "--report-only" in sys.argv and cached.exists():
        results = json.loads(cached.read_text())
    else:
        dataset(("frame", "video"))
        results = []
        for name in ROWS:
            done = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(name, results[-1]["metrics"]["validate"]["gap"], flush=True)
        cached.write_text(json.dumps(results, indent=1))
    rows = []
    for r in results:
        v, c = r["metrics"]["validate"], r["metrics"]["rated_test"]
        rows.append([r["name"], v["gap"], v["hit_at_1"], v["perr"], v["map"], v["map_buckets"], c["hit_at_1"], c["perr"], c["hit_at_5"],
                     f"{r['params'] / 1e6:.1f}M", r["train_videos_per_sec"], r["predict_ms_per_video"], r["peak_rss_mb"]])
    table = markdown_table(
        ["model (features)", "GAP", "Hit@1", "PERR", "mAP (top-20)", "mAP (paper, 1e-4 buckets)", "clean Hit@1", "clean PERR", "clean Hit@5",
         "params", "train videos/s", "predict ms/video", "peak RSS MB"], rows)
    by = {r["name"]: r["metrics"]["validate"] for r in results}
    order = sorted(by, key=lambda n: by[n]["hit_at_1"])
    paper = ["hinge (μ)", "logistic (μ)", "MoE-2 (μ)", "MoE-2 ([μ; σ; Top5])"]
    holds = {metric: [by[n][metric] for n in paper] == sorted(by[n][metric] for n in paper) for metric in ("hit_at_1", "perr", "map_buckets", "gap")}
    lines = [f"- Paper ordering (Table 3: hinge < logistic < MoE-2 < MoE-2 on [μ; σ; Top5]) on {m}: {'holds' if ok else 'does not hold'}." for m, ok in holds.items()]
    rest = paper[1:]
    lines += [
        f"- Without hinge (logistic < MoE-2 < MoE-2 on [μ; σ; Top5]) on {m}: {'holds' if [by[n][m] for n in rest] == sorted(by[n][m] for n in rest) else 'does not hold'}."
        for m in ("hit_at_1", "perr", "map_buckets", "gap")
    ]
    body = (
        f"Data: the `medium` world (3862 classes, 1024 + 128 features) with {SUBSET['train_videos']} train, {SUBSET['validate_videos']} validate "
        f"and {SUBSET['rated_test_videos']} clean rated-test videos (`benchmarks/.cache/medium-subset-frame-video-seed0`).\n"
        f"Training: {EPOCHS} epochs, Adam lr 0.01, batch 128 (the official optimizer; see the script for why not the paper's Adagrad lr 1.0) for every row, one thread per model. Validation metrics on noisy labels; "
        f"'clean' = the human-rated-like split with every true label (paper Table 4).\n"
        f"MoE on [μ; σ; Top5] aggregates frames inside the model; its PCA whitening keeps the top 1152 of 8064 components (the same width as μ).\n\n"
        f"{table}\n\nPaper rows for reference: " + "; ".join(r[2] for r in ROWS.values()) + ".\n\n" + "\n".join(lines) + "\n"
        f"\nOrder by validation Hit@1 here: {' < '.join(order)}.\n\n{WHY_HINGE}"
    )
    write_section("video_models", "Video-level models, YouTube-8M Table 3 rows (issue 3)", "python benchmarks/bench_video_models.py", body)
    print(body)


if __name__ == "__main__":
    main()
