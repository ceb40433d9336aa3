"""What the `small` synthetic world looks like, measured at HEAD (docs/synthetic.md points here).

The world is generated (preset `small`, seed 0, the current generator version), then:
- its label statistics from the generator's manifest (frames, intros, true/observed labels, the
  precision and recall of the observed labels against the truth, the visible-frame fraction, the
  variance the PCA keeps);
- video-level [mean_rgb; mean_audio] models trained with the trainer (the class prior, logistic,
  MoE with 2 and 4 experts) on `train`, scored on `validate` (noisy observed labels) and on the
  clean `rated_test` (exhaustive true labels), as YouTube-8M Tables 3 and 4 do;
- the MoE's per-class AP gain over logistic on single-mode and on multi-modal classes;
- per-class AP of ridge regression on one modality, for audio-dominant classes and the others;
- how many sparse base-classifier features fire per frame in `tiny`, `small` and `medium` worlds.
Raw values go to results/synth_world.json; `render` makes the section from them alone.

    .venv/bin/python benchmarks/bench_synth_world.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CACHE, markdown_table, publish, ridge_fit  # noqa: E402

PRESET, SEED = "small", 0
EPOCHS = 15
MODELS = {  # name: trainer overrides (video-level, L2-normalised means, Adam lr 0.01, batch 256)
    "logistic": ["model.name=logistic"],
    "MoE, 2 experts": ["model.name=moe", "model.num_mixtures=2"],
    "MoE, 4 experts": ["model.name=moe", "model.num_mixtures=4"],
}
SPARSE_VIDEOS = 40


def world_dir() -> Path:
    from yt8m.synth import GENERATOR_VERSION, generate

    out = CACHE / f"synth-world-{PRESET}-seed{SEED}-v{GENERATOR_VERSION}"
    generate(out, preset=PRESET, seed=SEED, workers=2, splits=["train", "validate", "test"], levels=("video",), progress=False)
    return out


def read_split(files: list[str], num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """[mean_rgb; mean_audio] per video and the multi-hot labels, in one pass over the files."""
    from yt8m.io import read_records

    records = list(read_records(files, "video"))
    labels = np.zeros((len(records), num_classes), np.float32)
    for i, record in enumerate(records):
        labels[i, record.labels] = 1
    return np.stack([np.concatenate([r.features["mean_rgb"], r.features["mean_audio"]]) for r in records]), labels


def per_class_ap(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Average precision of each class over all videos, every score ranked (nan below 3 positives)."""
    from yt8m.evaluation.metrics import per_class_average_precision

    aps = np.asarray(per_class_average_precision(scores, labels, top_k=labels.shape[1]), dtype=float)
    return np.where(labels.sum(0) >= 3, aps, np.nan)


def model_scores(run_dir: Path, features: np.ndarray) -> np.ndarray:
    import yt8m

    model = yt8m.load_model(run_dir)
    return np.concatenate([model.predict(batch) for batch in np.array_split(features, 8)])


def measure() -> dict:
    from yt8m.evaluation import gap, hit_at_k
    from yt8m.evaluation.metrics import perr
    from yt8m.train.config import load_config
    from yt8m.train.trainer import train

    data = world_dir()
    manifest = json.loads((data / "manifest.json").read_text())
    num_classes = manifest["num_classes"]
    split = {s: sorted(str(p) for p in (data / "video").glob(f"{s}*.tfrecord")) for s in ("train", "validate", "rated_test")}
    features, truth = {}, {}
    for s in split:
        features[s], truth[s] = read_split(split[s], num_classes)
    raw = {"manifest": {"label_stats": manifest["label_stats"]["train"], "pca": manifest["pca"], "generator_version": manifest["generator_version"],
                        "videos": {s: int(len(truth[s])) for s in truth}, "num_classes": num_classes}, "models": {}}
    prior = truth["train"].mean(0)
    for name, scores_of in [("class prior", lambda s: np.tile(prior, (len(truth[s]), 1)))] + [(n, None) for n in MODELS]:
        if scores_of is None:
            run = Path(tempfile.mkdtemp()) / "run"
            config = load_config(None, MODELS[name] + ["data.kind=video", f"data.num_classes={num_classes}", "optimizer.name=adam", "optimizer.lr=0.01",
                                                       "optimizer.batch_size=256", f"train.epochs={EPOCHS}", "train.tensorboard=false", "train.device=cpu"])
            train(config, split["train"], run, progress=False)
            scores_of = (lambda r: lambda s: model_scores(r, features[s]))(run)
        row = {}
        for s in ("validate", "rated_test"):
            scores = scores_of(s)
            row[s] = {"gap": float(gap(scores, truth[s])), "hit1": float(hit_at_k(scores, truth[s], 1)), "perr": float(perr(scores, truth[s]))}
            row[s]["ap"] = [None if np.isnan(v) else float(v) for v in per_class_ap(scores, truth[s])]
        raw["models"][name] = row
        print(name, {s: {k: v for k, v in row[s].items() if k != "ap"} for s in row}, flush=True)
    kinds = manifest["truth"]
    raw["multimodal_classes"] = kinds["multimodal_classes"]
    raw["audio_dominant_classes"] = kinds["audio_dominant_classes"]
    raw["ridge"] = ridge_by_modality(features, truth, manifest)
    raw["sparse_firing"] = sparse_firing()
    return raw


def ridge_by_modality(features: dict, truth: dict, manifest: dict) -> dict:
    """Per-class AP on rated_test of ridge regression from rgb only, audio only and both."""
    rgb = manifest["feature_sizes"][0]
    views = {"rgb": slice(0, rgb), "audio": slice(rgb, None), "both": slice(0, None)}
    out = {}
    for view, cols in views.items():
        w = ridge_fit(features["train"][:, cols], truth["train"])
        out[view] = [None if np.isnan(v) else float(v) for v in per_class_ap(features["rated_test"][:, cols] @ w, truth["rated_test"])]
    return out


def sparse_firing() -> dict:
    """Mean fraction of each sparse vocabulary that fires per frame, over SPARSE_VIDEOS videos per preset."""
    from yt8m.synth import SynthConfig, World, sample_truth
    from yt8m.synth.sparse import base_classifiers, sparse_frame_features
    from yt8m.synth.streams import STREAM_SPARSE, video_rng

    out = {}
    for preset in ("tiny", "small", "medium"):
        config = SynthConfig.from_preset(preset, seed=SEED, sparse_features=("im", "tm"))
        world = World.build(config, fit_features=False)
        sizes = {name: model.size for name, model in base_classifiers(world).items()}
        fired: dict[str, list[float]] = {}
        for i in range(SPARSE_VIDEOS):
            truth = sample_truth(world, "train", i)
            for name, frames in sparse_frame_features(world, truth, video_rng(config.seed, "train", i, STREAM_SPARSE), config).items():
                fired.setdefault(name, []).append(float(np.diff(frames.offsets).mean() / sizes[name]))
        out[preset] = {name: float(np.mean(v)) for name, v in fired.items()}
    return out


def render(raw: dict) -> str:
    stats, pca, videos = raw["manifest"]["label_stats"], raw["manifest"]["pca"], raw["manifest"]["videos"]
    lines = [
        f"Data: preset `{PRESET}`, seed {SEED}, generator version {raw['manifest']['generator_version']} ({raw['manifest']['num_classes']} classes; "
        f"{videos['train']} train / {videos['validate']} validate / {videos['rated_test']} rated-test videos, video level).",
        "",
        f"From the manifest (train split): {stats['mean_frames']:.1f} frames and {stats['mean_intro_frames']:.1f} intro frames per video; "
        f"{stats['true_labels_per_video']:.2f} true labels ({stats['main_labels_per_video']:.2f} main) and {stats['observed_labels_per_video']:.2f} "
        f"observed labels per video; observed precision {stats['observed_precision']:.2f} and recall {stats['observed_recall']:.2f} against the truth; "
        f"a true label is visible in {100 * stats['visible_frame_fraction']:.0f} % of the frames. PCA keeps {100 * pca['rgb']['explained_variance']:.0f} % (rgb) "
        f"and {100 * pca['audio']['explained_variance']:.0f} % (audio) of the variance.",
        "",
        f"Video-level [mean_rgb; mean_audio] (L2-normalised), trained with `yt8m train` (Adam lr 0.01, batch 256, {EPOCHS} epochs), one seed:",
        "",
    ]
    rows = []
    for name in ["class prior", *MODELS]:
        row = raw["models"][name]
        rows.append([name] + [f"{row[s][k]:.3f}" for s in ("validate", "rated_test") for k in ("gap", "hit1", "perr")])
    lines.append(markdown_table(["model", "validate GAP", "validate Hit@1", "validate PERR", "rated-test GAP", "rated-test Hit@1", "rated-test PERR"], rows))
    multimodal = set(raw["multimodal_classes"])
    moe, logistic = np.array(raw["models"]["MoE, 2 experts"]["rated_test"]["ap"], float), np.array(raw["models"]["logistic"]["rated_test"]["ap"], float)
    gain = moe - logistic
    groups = {"multi-modal": [c for c in range(len(gain)) if c in multimodal], "single-mode": [c for c in range(len(gain)) if c not in multimodal]}
    gain_rows = []
    for group, classes in groups.items():
        g = gain[classes]
        g = g[np.isfinite(g)]
        gain_rows.append([group, len(g), f"{np.mean(g):+.3f} ± {np.std(g, ddof=1) / np.sqrt(len(g)):.3f}" if len(g) > 1 else "–"])
    lines += ["", "Per-class AP gain of MoE (2 experts) over logistic on the rated test (classes with ≥ 3 positives), mean ± SE over classes:", "",
              markdown_table(["classes", "n", "AP gain"], gain_rows)]
    audio = set(raw["audio_dominant_classes"])
    ridge = {view: np.array(v, float) for view, v in raw["ridge"].items()}
    ridge_rows = []
    for group, classes in {"audio-dominant": sorted(audio), "others": [c for c in range(len(gain)) if c not in audio]}.items():
        keep = [c for c in classes if np.isfinite(ridge["both"][c])]
        ridge_rows.append([f"{group} ({len(keep)})"] + [f"{np.mean(ridge[view][keep]):.2f}" for view in ("rgb", "audio", "both")])
    lines += ["", "Per-class AP of ridge regression on one modality (rated test, classes with ≥ 3 positives):", "",
              markdown_table(["classes", "rgb only", "audio only", "both"], ridge_rows)]
    firing = raw["sparse_firing"]
    lines += ["", f"Sparse base-classifier features firing per frame, fraction of the vocabulary (mean over {SPARSE_VIDEOS} training videos):", "",
              markdown_table(["preset"] + sorted(next(iter(firing.values()))), [[p] + [f"{100 * v:.1f} %" for _, v in sorted(firing[p].items())] for p in ("tiny", "small", "medium")])]
    return "\n".join(lines) + "\n"


def main() -> None:
    raw = measure()
    print(publish(__file__, "synth_world", "The synthetic `small` world, measured (docs/synthetic.md)", "python benchmarks/bench_synth_world.py", raw))


if __name__ == "__main__":
    main()
