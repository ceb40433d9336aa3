"""The 2019 segment task end to end: segment examples (rated pairs, mined negatives, context), folds by
shard, phase-2 fine-tuning from a phase-1 run with validation MAP@100K, segment inference options."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from helpers import frame_records
from yt8m.data.loader import DataConfig, make_loader
from yt8m.io import write_records

SIZES = (16, 4)
NUM_CLASSES = 10


def _segment_records(n: int, seed: int = 0) -> list:
    """Frame records whose segment ratings cover classes 1 and 2 only."""
    records = frame_records(n, seed=seed, min_frames=15, max_frames=30, num_classes=NUM_CLASSES, sizes=SIZES, segments=True)
    rng = np.random.default_rng(seed + 1)
    for record in records:  # whole segments only (rated segments are never the partial last one)
        whole = record.num_frames - record.num_frames % 5
        record.features = {name: frames[:whole] for name, frames in record.features.items()}
        record.segment_start_times = np.minimum(record.segment_start_times, whole - 5)
        record.segment_labels = rng.integers(1, 3, size=len(record.segment_labels)).astype(np.int64)
        _, first = np.unique(np.stack([record.segment_start_times, record.segment_labels]), axis=1, return_index=True)
        keep = np.sort(first)  # each (segment, class) rated once
        for name in ("segment_start_times", "segment_labels", "segment_scores"):
            setattr(record, name, getattr(record, name)[keep])
        record.segment_end_times = record.segment_start_times + 5
    return records


@pytest.fixture(scope="module")
def segment_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("segments")
    records = _segment_records(48)
    write_records(d / "train.tfrecord", frame_records(64, seed=5, min_frames=10, max_frames=30, num_classes=NUM_CLASSES, sizes=SIZES), "frame", feature_sizes=SIZES)
    for shard in range(4):
        write_records(d / f"validate{shard:04d}.tfrecord", records[shard * 12 : (shard + 1) * 12], "segment", feature_sizes=SIZES)
    (d / "segment_label_ids.csv").write_text("Index\n1\n2\n")
    return d, records


ATTENTION = ("model.name=attention", "model.classifier=logistic", "model.attention_size=8")


def _config(*extra, model=ATTENTION):
    from yt8m.train.config import load_config

    return load_config(None, [
        *model,
        f"data.feature_sizes=[{SIZES[0]}, {SIZES[1]}]", f"data.num_classes={NUM_CLASSES}", "optimizer.batch_size=8",
        "train.tensorboard=false", "train.regularization_penalty=0", "train.checkpoint_every=0", *extra,
    ])


def test_segment_fine_tuning_only_moves_rated_classes(segment_data, tmp_path):
    """Defect: the trainer dropped `label_weights`, so every unrated (segment, class) pair was trained as a
    negative. Only classes 1 and 2 are rated: the classifier rows of the other classes must stay exactly as
    phase 1 left them (zero gradient under Adam means no update)."""
    from yt8m.train.trainer import train

    d, _ = segment_data
    phase1 = train(_config("data.kind=frame", "train.epochs=1"), str(d / "train.tfrecord"), tmp_path / "phase1", progress=False)
    phase2 = train(_config("data.kind=segment", "data.segment_labels=true", "train.epochs=2", f"train.init_from={tmp_path / 'phase1'}", "train.freeze=[pool.*]"),
                   str(d / "validate*.tfrecord"), tmp_path / "phase2", progress=False)
    before, after = load_file(str(phase1.checkpoint / "model.safetensors")), load_file(str(phase2.checkpoint / "model.safetensors"))
    rated = [1, 2]
    unrated = [c for c in range(NUM_CLASSES) if c not in rated]
    assert phase2.steps > 0
    assert not torch.equal(before["head.fc.weight"][rated], after["head.fc.weight"][rated])
    assert torch.equal(before["head.fc.weight"][unrated], after["head.fc.weight"][unrated])
    assert torch.equal(before["head.fc.bias"][unrated], after["head.fc.bias"][unrated])


def _examples(path, training=False, **options):
    cfg = DataConfig(kind="segment", segment_labels=True, feature_sizes=SIZES, num_classes=NUM_CLASSES, batch_size=1000, **options)
    return [row for batch in make_loader(str(path), cfg, training=training) for row in zip(batch["ids"], batch["features"].numpy(), batch["num_frames"].numpy(), batch["labels"].numpy(), batch["label_weights"].numpy())]


def test_mined_negatives_weigh_classes_the_video_never_shows(segment_data):
    d, records = segment_data
    by_id = {r.id: r for r in records[:12]}
    rows = _examples(d / "validate0000.tfrecord", training=True, segment_negative_weight=0.25)
    assert len(rows) == sum(len(np.unique(r.segment_start_times)) for r in by_id.values())
    for segment, _, _, labels, weights in rows:
        video, start = segment.split(":")
        record = by_id[video]
        at = record.segment_start_times == int(start)
        rated = set(record.segment_labels[at].tolist())
        shown = set(record.labels.tolist()) | set(record.segment_labels[record.segment_scores > 0].tolist())
        for c in range(NUM_CLASSES):
            expected = 1.0 if c in rated else 0.0 if c in shown else 0.25
            assert weights[c] == expected, (segment, c)
            if c not in rated:
                assert labels[c] == 0.0
        assert {c: labels[c] for c in rated} == {int(c): float(s) for c, s in zip(record.segment_labels[at], record.segment_scores[at])}
    evaluation = _examples(d / "validate0000.tfrecord", segment_negative_weight=0.25)  # evaluation weighs the rated pairs alone
    for segment, _, _, _, weights in [*_examples(d / "validate0000.tfrecord", training=True), *evaluation]:
        video, start = segment.split(":")
        record = by_id[video]
        assert set(np.flatnonzero(weights)) == set(record.segment_labels[record.segment_start_times == int(start)].tolist())


def test_context_expands_each_segment_by_n_frames(segment_data):
    d, records = segment_data
    by_id = {r.id: r for r in records[:12]}
    for segment, features, num_frames, _, _ in _examples(d / "validate0000.tfrecord", segment_context=3):
        video, start = segment.split(":")
        record, start = by_id[video], int(start)
        frames = np.concatenate([record.features["rgb"], record.features["audio"]], axis=1)
        lo, hi = max(0, start - 3), max(min(record.num_frames, start + 8), start + 5)
        expected = np.zeros((hi - lo, frames.shape[1]), np.uint8)
        expected[: min(hi, record.num_frames) - lo] = frames[lo : min(hi, record.num_frames)]
        assert num_frames == hi - lo
        assert np.array_equal(features[:num_frames], expected)


def test_phase_two_validates_on_a_held_out_fold_by_map_at_100k(segment_data, tmp_path):
    """folds by shard: train on 3 shards, validate on the 4th; the validation MAP@100K the trainer
    watches is the one `yt8m eval --segments` reports for the best checkpoint."""
    from yt8m.data.folds import split_by_shard
    from yt8m.predict.run import evaluate
    from yt8m.train.trainer import train

    d, _ = segment_data
    data = str(d / "validate*.tfrecord")
    train_files, held_out = split_by_shard(data, 4, 1)
    assert [f.rsplit("/", 1)[1] for f in held_out] == ["validate0001.tfrecord"] and len(train_files) == 3
    assert split_by_shard(data, 4, 1) == (train_files, held_out)
    with pytest.raises(ValueError, match="fold must be in 0..3"):
        split_by_shard(data, 4, 4)
    phase1 = train(_config("data.kind=frame", "train.epochs=1"), str(d / "train.tfrecord"), tmp_path / "phase1", progress=False)
    run = train(_config("data.kind=segment", "data.segment_labels=true", "data.segment_context=2", "train.epochs=3", "train.eval_every=2",
                        "train.folds=4", "train.fold=1", f"train.init_from={phase1.run_dir}"), data, tmp_path / "phase2", progress=False)
    assert run.validation_metric == "segment_map" and 0 < run.best_gap <= 1
    evals = [row for row in run.history if row.get("segment_map") is not None]
    assert len(evals) >= 2 and max(row["segment_map"] for row in evals) == run.best_gap
    metrics = evaluate(tmp_path / "phase2" / "best", held_out, segments=True, segment_label_ids=str(d / "segment_label_ids.csv"), progress=False)
    assert metrics["segment_map_at_100k"] == pytest.approx(run.best_gap, abs=1e-9)
    with pytest.raises(ValueError, match="held-out fold"):
        train(_config("data.kind=segment", "data.segment_labels=true", "train.folds=4"), data, tmp_path / "both", eval_data=held_out, progress=False)


@pytest.fixture(scope="module")
def phase1_run(segment_data, tmp_path_factory):
    from yt8m.train.trainer import train

    d, _ = segment_data
    return train(_config("data.kind=frame", "train.epochs=1"), str(d / "train.tfrecord"), tmp_path_factory.mktemp("p1") / "run", progress=False).run_dir


def _submission(run, data, out, labels, **options):
    from yt8m.evaluation.segments import read_segment_submission
    from yt8m.predict.run import predict_segment_file
    from yt8m.predict.segments import SegmentOptions

    predict_segment_file(run, data, out, segment_label_ids=labels, options=SegmentOptions(**options), progress=False)
    return dict(read_segment_submission(out))


def test_submission_edge_exclusion_and_bucketed_ties(segment_data, phase1_run, tmp_path):
    d, records = segment_data
    data, labels = str(d / "validate0000.tfrecord"), str(d / "segment_label_ids.csv")
    plain = _submission(phase1_run, data, tmp_path / "plain.csv", labels)
    read_order = [f"{r.id}:{s}" for r in records[:12] for s in range(0, r.num_frames, 5)]
    assert sorted(plain) == [1, 2] and all(sorted(ids) == sorted(read_order) for ids in plain.values())
    edges = _submission(phase1_run, data, tmp_path / "edges.csv", labels, exclude_first=1, exclude_last=2)
    last = {r.id: (r.num_frames - 1) // 5 * 5 for r in records[:12]}
    for cls, ids in edges.items():
        assert ids == [s for s in plain[cls] if int(s.split(":")[1]) not in (0, last[s.split(":")[0]], last[s.split(":")[0]] - 5)]
    # one bucket holds every score below 0.999: the tie order is a seeded shuffle, not the reading order
    shuffled = _submission(phase1_run, data, tmp_path / "b0.csv", labels, bucket=0.999, seed=0)
    again = _submission(phase1_run, data, tmp_path / "b0again.csv", labels, bucket=0.999, seed=0)
    other = _submission(phase1_run, data, tmp_path / "b1.csv", labels, bucket=0.999, seed=1)
    for cls in plain:
        assert sorted(shuffled[cls]) == sorted(plain[cls]) and shuffled[cls] == again[cls]
        assert shuffled[cls] != read_order and shuffled[cls] != other[cls]


def test_eval_segments_writes_map_and_per_class_ap(segment_data, phase1_run, tmp_path):
    import csv

    from yt8m.predict.run import evaluate

    d, _ = segment_data
    metrics = evaluate(phase1_run, str(d / "validate*.tfrecord"), tmp_path / "eval", segments=True, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "eval" / "segment_per_class_ap.csv")))
    assert [int(r["class"]) for r in rows] == [1, 2] and metrics["segment_map_classes"] == 2
    assert np.mean([float(r["ap"]) for r in rows]) == pytest.approx(metrics["segment_map_at_100k"], abs=1e-6)


def test_context_aware_reads_the_frozen_video_and_the_fine_tuned_segment(segment_data, phase1_run, tmp_path):
    from yt8m.predict.loaded import load_model
    from yt8m.predict.run import evaluate
    from yt8m.train.trainer import train

    d, records = segment_data
    data = str(d / "validate*.tfrecord")
    aware_model = ("model.name=context_aware", "model.encoder={name: attention, classifier: logistic, attention_size: 8}")
    run = train(_config("data.kind=segment", "data.segment_labels=true",
                        "data.segment_whole_video=true", "data.segment_context=1", "train.epochs=3", "train.eval_every=3", "train.folds=4",
                        f"train.init_from={phase1_run}", "train.freeze=[video.*]", model=aware_model), data, tmp_path / "aware", progress=False)
    phase1 = load_file(str(load_model(phase1_run).checkpoint / "model.safetensors"))
    aware = load_file(str(run.checkpoint / "model.safetensors"))
    for name in ("pool.project.weight", "pool.score"):
        assert torch.equal(aware[f"video.{name}"], phase1[name])  # frozen copy of the phase-1 encoder
        assert not torch.equal(aware[f"segment.{name}"], phase1[name])  # fine-tuned copy
    model = load_model(tmp_path / "aware")
    record = records[0]
    frames = np.concatenate([record.features["rgb"], record.features["audio"]], axis=1)[None]
    other = frames.copy()
    other[:, 10:] = 255 - other[:, 10:]  # change the video outside the segment [0, 6)
    lengths, segment = [frames.shape[1]], np.array([[0, 6]])
    same_segment = [model.predict(x, lengths, select_frames=False, segments=segment) for x in (frames, other)]
    assert not np.allclose(*same_segment)  # the video around the segment matters
    metrics = evaluate(tmp_path / "aware" / "best", [f"{d}/validate0000.tfrecord"], segments=True, segment_label_ids=str(d / "segment_label_ids.csv"), progress=False)
    assert metrics["segment_map_at_100k"] == pytest.approx(run.best_gap, abs=1e-9)
    with pytest.raises(ValueError, match="segment_whole_video=true"):
        train(_config("data.kind=segment", "data.segment_labels=true", model=aware_model), data, tmp_path / "bad", progress=False)


def test_segment_ensemble_fits_weights_on_held_out_segments(segment_data, phase1_run, tmp_path):
    from yt8m.evaluation.segments import segment_map_at_k, segment_ratings
    from yt8m.io import read_records
    from yt8m.predict.loaded import load_model
    from yt8m.predict.segment_ensemble import ensemble_segment_file, simplex
    from yt8m.predict.segments import predict_segments
    from yt8m.train.trainer import train

    d, _ = segment_data
    tuned = train(_config("data.kind=segment", "data.segment_labels=true", "data.segment_context=1", "train.epochs=3", f"train.init_from={phase1_run}", "optimizer.lr=0.05"),
                  [str(d / f"validate000{i}.tfrecord") for i in (2, 3)], tmp_path / "tuned", progress=False).run_dir
    assert simplex(2, 0.5) == [(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)] and len(simplex(3, 0.1)) == 66
    heldout, test = str(d / "validate0000.tfrecord"), str(d / "validate0001.tfrecord")
    labels = str(d / "segment_label_ids.csv")
    report = ensemble_segment_file([phase1_run, tuned], heldout, test, tmp_path / "ens.csv", segment_label_ids=labels, step=0.25, progress=False)
    assert sum(report["weights"]) == pytest.approx(1.0) and report["heldout_map"]["ensemble"] >= max(report["heldout_map"]["members"])
    ratings = segment_ratings(read_records(heldout, kind="segment", feature_sizes=SIZES, num_classes=NUM_CLASSES))
    for weights in [(1.0, 0.0), report["weights"]]:  # the held-out MAPs are those of the submissions the weights make
        predict_segments([(load_model(phase1_run), weights[0]), (load_model(tuned), weights[1])], heldout, tmp_path / "h.csv", np.array([1, 2]))
        expected = report["heldout_map"]["members"][0] if weights == (1.0, 0.0) else report["heldout_map"]["ensemble"]
        assert segment_map_at_k(tmp_path / "h.csv", ratings) == pytest.approx(expected, abs=1e-9)
    assert json.loads((tmp_path / "ens.csv.ensemble.json").read_text())["weights"] == report["weights"]


def test_augmentations_drop_whole_segments_and_reverse(segment_data):
    from yt8m.data.loader import video_example

    _, records = segment_data
    record = records[0]
    cfg = DataConfig(kind="frame", feature_sizes=SIZES, num_classes=NUM_CLASSES, augment_drop_segments=0.5, augment_reverse=1.0)
    rgb = record.features["rgb"]
    seen = set()
    for seed in range(20):
        frames = video_example(record, cfg, np.random.default_rng(seed))["features"][0]
        rows = [int(np.flatnonzero((rgb == f).all(1))[0]) for f in frames]
        assert rows == sorted(rows, reverse=True) and len(rows) % 5 == 0 and rows  # whole segments, backwards
        assert all(sum(x // 5 == r // 5 for x in rows) == 5 for r in rows)
        seen.add(tuple(rows))
    assert len(seen) > 1  # different segments left out for different draws
    plain = video_example(record, DataConfig(kind="frame", feature_sizes=SIZES, num_classes=NUM_CLASSES), np.random.default_rng(0))["features"][0]
    assert np.array_equal(plain, rgb)  # off by default
    assert DataConfig(augment_reverse=1.0, augment_drop_segments=0.5, segment_mixup=1.0).for_evaluation().augment_reverse == 0.0


def test_virtual_segments_mix_frames_labels_and_weights():
    from yt8m.data.loader import virtual_segments

    batch = {
        "ids": ["a:0", "b:5"], "features": torch.tensor([[[10, 20]], [[30, 60]]], dtype=torch.uint8), "num_frames": torch.tensor([1, 1]),
        "labels": torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), "label_weights": torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]),
    }
    mixed = virtual_segments(batch, 0.4, np.random.default_rng(2))
    draws = np.random.default_rng(2)
    lam, other = draws.beta(0.4, 0.4), draws.permutation(2)
    assert list(other) == [1, 0]  # this seed pairs the two examples
    expected = np.round(lam * np.array([[10, 20], [30, 60]]) + (1 - lam) * np.array([[30, 60], [10, 20]]))
    assert np.array_equal(mixed["features"][:, 0].numpy(), expected)
    w = mixed["label_weights"].numpy()
    assert np.allclose(w[0], [lam, 1.0, 0.0]) and np.allclose(w[1], [1 - lam, 1.0, 0.0])
    y = mixed["labels"].numpy()
    assert np.allclose(y[0], [1.0, 1 - lam, 0.0]) and np.allclose(y[1], [1.0, lam, 0.0])  # class 1 rated in both: mixed; class 0 rated in a only


def test_distillation_toward_the_own_predictions_leaves_the_model_still(segment_data, phase1_run, tmp_path):
    """Soft labels = teacher's predictions (teacher_weight 1) from the model's own starting point: the
    cross-entropy gradient p − y vanishes, so plain SGD barely moves; the hard labels move it."""
    from yt8m.train.trainer import train

    d, _ = segment_data
    common = ["data.kind=frame", "train.max_steps=2", "optimizer.name=sgd", "optimizer.lr=0.5", f"train.init_from={phase1_run}", "train.clip_gradient_norm=0"]
    taught = train(_config(*common, f"train.teacher={phase1_run}", "train.teacher_weight=1.0"), str(d / "train.tfrecord"), tmp_path / "taught", progress=False)
    hard = train(_config(*common), str(d / "train.tfrecord"), tmp_path / "hard", progress=False)
    start = load_file(str(next((phase1_run / "checkpoints").glob("step_*")) / "model.safetensors"))

    def moved(run):
        return max(float((load_file(str(run.checkpoint / "model.safetensors"))[k] - start[k]).abs().max()) for k in start)

    assert moved(taught) < 1e-3 < moved(hard)


def test_pseudo_labels_are_the_top_scored_test_segments(segment_data, phase1_run, tmp_path):
    from yt8m.evaluation.segments import read_segment_submission
    from yt8m.io import read_records
    from yt8m.predict.pseudo_labels import write_pseudo_labels
    from yt8m.predict.run import predict_segment_file
    from yt8m.predict.segments import SegmentOptions

    d, records = segment_data
    data = str(d / "validate0001.tfrecord")
    summary = write_pseudo_labels(phase1_run, data, tmp_path / "pseudo.tfrecord", [1, 2], per_class=4)
    predict_segment_file(phase1_run, data, tmp_path / "top.csv", segment_label_ids=str(d / "segment_label_ids.csv"), options=SegmentOptions(max_per_class=4), progress=False)
    expected = {(s, c) for c, segments in read_segment_submission(tmp_path / "top.csv") for s in segments}
    written = list(read_records(str(tmp_path / "pseudo.tfrecord"), kind="segment", feature_sizes=SIZES, num_classes=NUM_CLASSES))
    got = {(f"{r.id}:{s}", int(c)) for r in written for s, c in zip(r.segment_start_times, r.segment_labels)}
    assert got == expected and len(got) == 8 == summary["ratings"]
    originals = {r.id: r for r in records}
    assert all(np.array_equal(r.features["rgb"], originals[r.id].features["rgb"]) and (r.segment_scores == 1.0).all() for r in written)


def test_readme_segment_commands_run_as_written(tmp_path, monkeypatch):
    """The README's segment-task block, on a small world: only sizes and step counts change."""
    import re
    import shlex
    from pathlib import Path

    from typer.testing import CliRunner

    from yt8m.cli import app

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"^## The 2019 segment task.*?```bash\n(.*?)```", text, flags=re.S | re.M).group(1)
    commands = [shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    assert [c[1] for c in commands] == ["synth", "train", "train", "train", "eval", "segment-ensemble", "predict"]
    monkeypatch.chdir(tmp_path)
    small = ["-w", "1", *[a for k, v in dict(train_videos=64, validate_videos=8, segment_validate_videos=48, segment_test_videos=16).items() for a in ("--set", f"{k}={v}")]]
    steps = [*(a for o in ("train.max_steps=6", "train.eval_every=3", "data.num_workers=0", "train.tensorboard=false", "data.shuffle_buffer=16") for a in ("--set", o))]
    runner = CliRunner()
    for words in commands:
        extra = small if words[1] == "synth" else steps if words[1] == "train" else []
        result = runner.invoke(app, [*words[1:], *extra])
        assert result.exit_code == 0, f"{shlex.join(words)}\n{result.output}"
    assert (tmp_path / "segments.csv").read_text().startswith("Class,Segments\n")
    assert (tmp_path / "segments.csv.ensemble.json").exists()


def test_timing_loss_pulls_the_attention_into_positive_segments(segment_data, phase1_run, tmp_path):
    from yt8m.predict.loaded import load_model
    from yt8m.train.losses import timing_loss
    from yt8m.train.trainer import train

    outputs = {"segment_attention_mass": torch.tensor([0.5, 0.25])}
    labels, weights = torch.tensor([[0.0, 1.0], [0.0, 0.0]]), torch.tensor([[1.0, 1.0], [1.0, 0.1]])
    assert float(timing_loss(outputs, labels, weights)) == pytest.approx(-np.log(0.5 + 1e-6) / 2)
    d, records = segment_data
    common = ["data.kind=segment", "data.segment_labels=true", "data.segment_whole_video=true", "train.epochs=4", "optimizer.lr=0.05", f"train.init_from={phase1_run}"]
    runs = {w: train(_config(*common, "loss.name=cross_entropy", f"loss.timing_weight={w}"), str(d / "validate*.tfrecord"), tmp_path / f"w{w}", progress=False).run_dir for w in (0.0, 5.0)}

    def mass(run):
        model, total = load_model(run), []
        for record in records:
            frames = np.concatenate([record.features["rgb"], record.features["audio"]], axis=1)[None]
            for start in record.segment_start_times[record.segment_scores > 0]:
                with torch.no_grad():
                    out = model.model(torch.from_numpy(frames), torch.tensor([frames.shape[1]]), segments=torch.tensor([[start, start + 5]]))
                total.append(float(out["segment_attention_mass"]))
        return np.mean(total)

    assert mass(runs[5.0]) > mass(runs[0.0]) + 0.05  # 0.36 vs 0.23 when written
    # its segment score reads the segment's own frames only, so submissions score windows (no whole videos)
    model, record = load_model(runs[5.0]).model, records[0]
    frames = torch.from_numpy(np.concatenate([record.features["rgb"], record.features["audio"]], axis=1)[None])
    with torch.no_grad():
        whole = model(frames, torch.tensor([frames.shape[1]]), segments=torch.tensor([[5, 10]]))["predictions"]
        window = model(frames[:, 5:10], torch.tensor([5]))["predictions"]
    assert torch.allclose(whole, window, atol=1e-6)
