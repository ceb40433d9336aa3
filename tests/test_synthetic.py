"""The synthetic YouTube-8M generator: official layout, determinism, and statistics against its truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from yt8m.cli import app
from yt8m.synth import MAIN, MINOR, SynthConfig, generate, load_world
from yt8m.data.vocabulary import VOCABULARY_COLUMNS, read_segment_label_ids, read_vocabulary
from yt8m.io import SEGMENT_SIZE, dequantize, read_records

# A few videos per split: enough for byte comparisons, fast to generate.
MINI = dict(
    num_classes=30, train_videos=5, validate_videos=3, test_videos=3, rated_test_videos=2, segment_validate_videos=2,
    segment_test_videos=2, train_shards=2, pca_sample_frames=2048, min_frames=40, max_frames=60,
)


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def _read(root: Path, pattern: str, kind: str) -> list:
    return list(read_records(str(root / pattern), kind, num_classes=_manifest(root)["num_classes"]))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_world(tiny_data):
    return load_world(tiny_data, fit_features=False)


# ---------------------------------------------------------------------- layout and formats


def test_layout_follows_the_real_dataset(tiny_data):
    manifest = _manifest(tiny_data)
    assert manifest["preset"] == "tiny" and manifest["seed"] == 0
    names = {str(p.relative_to(tiny_data)) for p in tiny_data.rglob("*.tfrecord")}
    assert {"frame/train0000.tfrecord", "frame/train0001.tfrecord", "video/validate0000.tfrecord",
            "frame/rated_test0000.tfrecord", "segments/validate0000.tfrecord", "segments/test0000.tfrecord"} <= names
    for name in ("mean", "eigenvals", "eigenvecs"):
        assert (tiny_data / "pca" / "rgb" / f"{name}.npy").exists()
    eigenvecs = np.load(tiny_data / "pca" / "rgb" / "eigenvecs.npy")
    assert eigenvecs.shape == (1024, manifest["config"]["rgb_hidden_size"])
    assert not list(tiny_data.rglob("*.tmp*"))


def test_every_kind_reads_back_with_the_counts_of_the_manifest(tiny_data):
    manifest = _manifest(tiny_data)
    cfg = manifest["config"]
    seen_ids = set()
    for split, output in manifest["outputs"].items():
        for level, pattern in output["files"].items():
            kind = "video" if level == "video" else ("segment" if pattern.startswith("segments/") else "frame")
            records = _read(tiny_data, pattern, kind)
            assert len(records) == output["videos"] == cfg[f"{split.replace('segment_rated_test', 'segment_test')}_videos"]
            if kind == "video":
                assert records[0].features["mean_rgb"].shape == (1024,) and records[0].features["mean_audio"].shape == (128,)
            else:
                assert all(cfg["min_frames"] <= r.num_frames <= cfg["max_frames"] for r in records)
                assert all(r.features["audio"].shape == (r.num_frames, 128) for r in records)
            has_labels = [len(r.labels) > 0 for r in records]
            assert all(has_labels) if output["labels"] != "none" else not any(has_labels)
            if "rated" not in split and level != "video":
                seen_ids |= {r.id for r in records}
                assert all(len(r.id) == 4 for r in records)
    total = sum(cfg[f"{s}_videos"] for s in ("train", "validate", "test", "segment_validate", "segment_test"))
    assert len(seen_ids) == total  # ids are unique across splits


def test_video_level_means_are_means_of_dequantized_frames(tiny_data):
    for split in ("train", "rated_test"):
        frames = _read(tiny_data, f"frame/{split}*.tfrecord", "frame")
        videos = _read(tiny_data, f"video/{split}*.tfrecord", "video")
        assert [f.id for f in frames] == [v.id for v in videos]
        for f, v in zip(frames, videos):
            np.testing.assert_array_equal(f.labels, v.labels)
            for name in ("rgb", "audio"):
                expected = dequantize(f.features[name]).astype(np.float64).mean(axis=0)
                np.testing.assert_allclose(v.features[f"mean_{name}"], expected, atol=2e-6)


def test_features_look_like_whitened_quantized_activations(tiny_data):
    records = _read(tiny_data, "frame/train*.tfrecord", "frame")
    rgb = np.concatenate([r.features["rgb"] for r in records])
    x = dequantize(rgb)
    assert abs(float(x.mean())) < 0.15 and 0.8 < float(x.std()) < 1.3  # whitened: zero mean, unit variance
    saturated = float(((rgb == 0) | (rgb == 255)).mean())
    assert 0.01 < saturated < 0.2  # values beyond ±2 are clipped, as in the official quantizer
    # decorrelated up to sampling noise: the top directions vary mostly per video (style, overlay, topics),
    # so a correlation estimated on these videos has a standard error of about 1 / sqrt(videos)
    assert np.abs(np.corrcoef(x[:, :8].T) - np.eye(8)).max() < 4 / np.sqrt(len(records))


def test_rated_test_is_the_start_of_test_with_true_labels(tiny_data, tiny_world):
    test = _read(tiny_data, "frame/test*.tfrecord", "frame")
    rated = _read(tiny_data, "frame/rated_test*.tfrecord", "frame")
    for i, record in enumerate(rated):
        assert record.id == test[i].id
        np.testing.assert_array_equal(record.features["rgb"], test[i].features["rgb"])
        np.testing.assert_array_equal(record.labels, tiny_world.video_truth("test", i).labels)


# ---------------------------------------------------------------------- labels


def test_label_cardinality_and_zipf_class_frequencies(tiny_data, tiny_world):
    records = _read(tiny_data, "video/train*.tfrecord", "video") + _read(tiny_data, "video/validate*.tfrecord", "video")
    per_video = np.mean([len(r.labels) for r in records])
    assert 2.4 < per_video < 3.8  # ~3 labels per video
    counts = np.bincount(np.concatenate([r.labels for r in records]), minlength=tiny_world.num_classes)
    ranked = np.sort(counts)[::-1]
    ranks = np.arange(1, len(ranked) + 1)
    keep = ranked > 0
    slope = np.polyfit(np.log(ranks[keep]), np.log(ranked[keep]), 1)[0]
    expected = np.polyfit(np.log(ranks[keep]), np.log(tiny_world.popularity[: len(ranks)][keep]), 1)[0]
    assert slope < -0.4 and abs(slope - expected) < 0.3, (slope, expected)


def test_vocabulary_csv_matches_the_train_labels(tiny_data, tiny_world):
    header = (tiny_data / "vocabulary.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(VOCABULARY_COLUMNS)
    vocab = read_vocabulary(tiny_data / "vocabulary.csv")
    assert vocab.num_classes == 64 and len(set(vocab.names)) == 64
    assert len(vocab.vertical_names()) == 24
    assert all(kg.startswith("/m/0") for kg in vocab.knowledge_graph_ids)
    train = _read(tiny_data, "video/train*.tfrecord", "video")
    counts = np.bincount(np.concatenate([r.labels for r in train]), minlength=64)
    np.testing.assert_array_equal(vocab.train_video_count, counts)
    rated = read_segment_label_ids(tiny_data / "segment_label_ids.csv", num_classes=64)
    np.testing.assert_array_equal(rated, tiny_world.rated_classes)
    assert len(rated) == round(64 * 1000 / 3862) and rated.min() >= 3


def test_label_noise_measured_against_the_truth(tiny_data, tiny_world):
    main_seen, main_total, minor_seen, minor_total, wrong, videos = 0, 0, 0, 0, 0, 0
    for split in ("train", "validate"):
        for index, record in enumerate(_read(tiny_data, f"video/{split}*.tfrecord", "video")):
            truth = tiny_world.video_truth(split, index)
            assert record.id == truth.id
            np.testing.assert_array_equal(record.labels, truth.observed_labels)
            observed = np.isin(truth.labels, record.labels)
            direct = ~truth.implied
            main_seen += int((observed & direct & (truth.roles == MAIN)).sum())
            main_total += int((direct & (truth.roles == MAIN)).sum())
            minor_seen += int((observed & direct & (truth.roles == MINOR)).sum())
            minor_total += int((direct & (truth.roles == MINOR)).sum())
            wrong += len(np.setdiff1d(record.labels, truth.labels))
            videos += 1
    cfg = tiny_world.config
    assert abs(main_seen / main_total - cfg.main_observed_prob) < 0.07
    assert abs(minor_seen / minor_total - cfg.minor_observed_prob) < 0.07
    assert 0.15 < wrong / videos <= cfg.wrong_labels_mean + 0.15
    # Table 4 setting: against exhaustive truth the observed labels have low recall, high precision
    stats = _manifest(tiny_data)["label_stats"]["train"]
    assert stats["observed_recall"] < 0.7 and stats["observed_precision"] > 0.75


def test_truth_structure(tiny_world):
    for index in range(30):
        truth = tiny_world.video_truth("train", index)
        assert not truth.visible[: truth.intro_frames].any()  # uninformative intro
        assert truth.visible.any(axis=0).all()  # every true label is shown somewhere
        assert truth.visible.mean() < 0.8  # ... but not in every frame
        position = {int(c): k for k, c in enumerate(truth.labels)}
        for k, c in enumerate(truth.labels):
            parent = int(tiny_world.parent[c])
            if parent >= 0:
                assert parent in position  # a specific entity implies its general one
                assert (truth.visible[:, position[parent]] >= truth.visible[:, k]).all()
        assert truth.shot_bounds[0] == truth.intro_frames and truth.shot_bounds[-1] == truth.num_frames - truth.outro_frames
        assert not truth.visible[truth.num_frames - truth.outro_frames:].any()  # uninformative outro
    assert tiny_world.is_general[tiny_world.hierarchy_pairs()[:, 1]].all()


def test_segment_ratings_agree_with_the_shown_classes(tiny_data, tiny_world):
    rated = set(tiny_world.rated_classes.tolist())
    min_frames = tiny_world.config.segment_positive_min_frames
    records = _read(tiny_data, "segments/validate*.tfrecord", "segment")
    scores = []
    for index, record in enumerate(records):
        truth = tiny_world.video_truth("segment_validate", index)
        assert len(record.segment_labels) >= 1 and set(record.segment_labels.tolist()) <= rated
        np.testing.assert_array_equal(record.segment_end_times, record.segment_start_times + SEGMENT_SIZE)
        for start, label, score in zip(record.segment_start_times, record.segment_labels, record.segment_scores):
            assert start % 5 == 0 and start + SEGMENT_SIZE <= record.num_frames
            assert score == float(truth.segment_visibility(int(start), int(label)) >= min_frames)
            scores.append(score)
    assert 3.0 < len(scores) / len(records) < 7.5  # ~5 ratings per video
    assert 0.2 < np.mean(scores) < 0.8  # positives and negatives
    unlabeled = _read(tiny_data, "segments/test*.tfrecord", "segment")
    assert all(r.segment_start_times is None and len(r.labels) == 0 for r in unlabeled)
    assert all(r.segment_start_times is not None for r in _read(tiny_data, "segments/rated_test*.tfrecord", "segment"))


def test_video_level_features_are_learnable(tiny_data):
    """Ridge regression on [mean_rgb; mean_audio] beats always answering the most frequent class."""

    def load(split):
        records = _read(tiny_data, f"video/{split}*.tfrecord", "video")
        x = np.stack([np.concatenate([r.features["mean_rgb"], r.features["mean_audio"]]) for r in records]).astype(np.float64)
        y = np.zeros((len(records), 64))
        for i, r in enumerate(records):
            y[i, r.labels] = 1
        return x / np.linalg.norm(x, axis=1, keepdims=True), y

    x, y = load("train")
    weights = np.linalg.solve(x.T @ x + 0.1 * np.eye(x.shape[1]), x.T @ (y - y.mean(axis=0)))
    xv, yv = load("validate")
    hit_at_1 = yv[np.arange(len(yv)), (xv @ weights).argmax(axis=1)].mean()
    prior_hit_at_1 = yv[:, y.sum(axis=0).argmax()].mean()
    assert hit_at_1 > prior_hit_at_1 + 0.3, (hit_at_1, prior_hit_at_1)


# ---------------------------------------------------------------------- determinism, resume, CLI


def test_same_seed_same_bytes_for_any_worker_count_and_resume(tmp_path):
    one, two, other = tmp_path / "one", tmp_path / "two", tmp_path / "other"
    generate(one, "tiny", 0, workers=1, progress=False, **MINI)
    generate(two, "tiny", 0, workers=2, progress=False, **MINI)
    first = _files(one)
    assert first == _files(two)
    generate(other, "tiny", 1, workers=1, progress=False, **MINI)
    changed = _files(other)
    assert changed.keys() == first.keys()
    assert changed["frame/train0000.tfrecord"] != first["frame/train0000.tfrecord"]
    assert changed["vocabulary.csv"] != first["vocabulary.csv"]

    # resume: a lost shard is regenerated byte for byte, finished ones are left alone
    (one / "frame" / "train0001.tfrecord").unlink()
    untouched = (one / "frame" / "train0000.tfrecord").stat().st_mtime_ns
    generate(one, "tiny", 0, workers=1, progress=False, **MINI)
    assert _files(one) == first
    assert (one / "frame" / "train0000.tfrecord").stat().st_mtime_ns == untouched
    with pytest.raises(ValueError, match="different config.*seed"):
        generate(one, "tiny", 5, workers=1, progress=False, **MINI)
    # a directory written by another generator version is never resumed into
    state = one / ".synth" / "config.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "generator_version": 1}))
    with pytest.raises(ValueError, match="generator version 1, this config gives version 3"):
        generate(one, "tiny", 0, workers=1, progress=False, **MINI)
    assert {k: v for k, v in _files(one).items() if k != ".synth/config.json"} == {k: v for k, v in first.items() if k != ".synth/config.json"}


def test_cli_writes_the_requested_splits(tmp_path):
    runner = CliRunner()
    settings = [arg for key, value in MINI.items() for arg in ("--set", f"{key}={value}")]
    result = runner.invoke(app, ["synth", str(tmp_path / "d"), "--preset", "tiny", "--splits", "train,segment_validate", "-w", "1", "-q", *settings])
    assert result.exit_code == 0, result.output
    manifest = _manifest(tmp_path / "d")
    assert set(manifest["outputs"]) == {"train", "segment_validate"}
    assert manifest["outputs"]["train"]["videos"] == 5
    bad = runner.invoke(app, ["synth", str(tmp_path / "e"), "--set", "colour=blue"])
    assert bad.exit_code == 2 and "colour" in bad.output


def test_config_rejects_impossible_settings():
    with pytest.raises(ValueError, match="rated_test_videos"):
        SynthConfig.from_preset("tiny", rated_test_videos=100)
    with pytest.raises(ValueError, match="unknown preset"):
        SynthConfig.from_preset("huge")
    assert SynthConfig.from_preset("full").train_shards == 3844
    assert SynthConfig.from_preset("medium").rated_classes == 1000


def test_sparse_features_reach_the_frame_records(tmp_path):
    pytest.importorskip("yt8m.synth.sparse")
    out = tmp_path / "sparse"
    generate(out, "tiny", 0, workers=1, progress=False, splits=("train",), sparse_features=("im",), **MINI)
    records = list(read_records(str(out / "frame/train*.tfrecord"), "frame", sparse_features=("im",), num_classes=30))
    assert len(records) == 5 and all(r.sparse["im"].num_frames == r.num_frames for r in records)


def test_short_videos_are_allowed(tmp_path):
    """Videos shorter than the PCA sample per video (32 frames) still generate."""
    from yt8m.synth import generate
    from yt8m.io import read_records

    generate(tmp_path, preset="tiny", seed=1, workers=1, progress=False, min_frames=10, max_frames=20,
             train_videos=8, validate_videos=0, test_videos=0, rated_test_videos=0, segment_validate_videos=0, segment_test_videos=0,
             train_shards=1, validate_shards=1, test_shards=1, segment_validate_shards=1, segment_test_shards=1)
    frames = [r.num_frames for r in read_records(str(tmp_path / "frame" / "train*.tfrecord"), "frame")]
    assert len(frames) == 8 and min(frames) >= 10 and max(frames) <= 20
