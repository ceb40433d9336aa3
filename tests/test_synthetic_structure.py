"""World version 3: the structures averaging cannot read, the probe presets, and version 2 kept byte for byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from yt8m.cli import app
from yt8m.io import SEGMENT_SIZE, read_records
from yt8m.synth import PRESETS, SynthConfig, World, generate, sample_truth
from yt8m.synth.kinds import ANCHORED, CHANGE, CONJUNCTION, LOCALIZED, ORDER, PLAIN

PROBES = [name for name in PRESETS if name.startswith("probe-")]
# The sha256 of this reduced tiny world (every file but manifest.json and .synth/) as written by the
# version-2 generator (commit 4afba87, before version 3 existed); `world_version=2` must still give it.
VERSION_2_TINY = "16e5d6a46e5740777222f08512c60e77d0d8fc113010db0dfe4063241d7a8ea7"
FEW_VIDEOS = dict(train_videos=6, validate_videos=3, test_videos=3, rated_test_videos=2, segment_validate_videos=3,
                  segment_test_videos=2)


def _checksum(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "manifest.json" and ".synth" not in path.parts:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _world(preset: str, seed: int = 0, **overrides) -> World:
    return World.build(SynthConfig.from_preset(preset, seed=seed, **overrides), fit_features=False)


def _truths(world: World, n: int = 60) -> list:
    return [sample_truth(world, "train", i) for i in range(n)]


def test_version_2_world_keeps_its_bytes(tmp_path):
    generate(tmp_path / "v2", "tiny", seed=0, workers=1, progress=False, world_version=2, **FEW_VIDEOS)
    assert _checksum(tmp_path / "v2") == VERSION_2_TINY
    generate(tmp_path / "v3", "tiny", seed=0, workers=1, progress=False, **FEW_VIDEOS)
    assert _checksum(tmp_path / "v3") != VERSION_2_TINY  # the default is the new world


def test_version_2_refuses_version_3_structure_and_old_manifests_read_as_version_2():
    with pytest.raises(ValueError, match="world_version 2 has no conjunctions"):
        SynthConfig.from_preset("tiny", world_version=2, conjunction_fraction=0.1)
    with pytest.raises(ValueError, match="needs world_version 3"):
        SynthConfig.from_preset("probe-order", world_version=2)
    old = SynthConfig.from_preset("tiny", world_version=2).to_dict()
    for key in ("world_version", "conjunction_fraction", "order_fraction", "change_fraction", "anchored_fraction",
                "localized_fraction", "lure_rate", "outro_prob", "overlay_prob", "localized_frames", "max_outro_frames",
                "overlay_strength"):
        old.pop(key)  # what a version-2 manifest holds
    assert SynthConfig.from_dict(old) == SynthConfig.from_preset("tiny", world_version=2)


@pytest.mark.parametrize("probe", PROBES)
def test_each_probe_turns_on_its_structure_and_nothing_else(probe):
    world = _world(probe)
    cfg = world.config
    kinds = np.bincount(world.kinds.kind, minlength=6)
    expected = {
        "probe-conjunction": {CONJUNCTION}, "probe-order": {ORDER}, "probe-change": {CHANGE},
        "probe-multimodal": {ANCHORED, PLAIN}, "probe-localized": {LOCALIZED}, "probe-distractor": {PLAIN},
        "probe-combined": {PLAIN, CONJUNCTION, ORDER, CHANGE, ANCHORED, LOCALIZED},
    }[probe]
    assert set(np.flatnonzero(kinds)) == expected
    assert cfg.rgb_size + cfg.audio_size == 40 and cfg.max_frames <= 60 and cfg.num_classes <= 24  # CPU-sized
    assert (world.num_modes[world.kinds.kind != ANCHORED] == 1).all() and not world.audio_dominant.any()
    truths = _truths(world, 40)
    assert all(np.array_equal(t.observed_labels, t.labels) for t in truths)  # clean labels
    distractors = sum(t.intro_frames > 0 or t.outro_frames > 0 or t.overlay >= 0 for t in truths)
    assert (distractors > 0) == (probe in ("probe-distractor", "probe-combined"))


def test_conjunction_classes_show_both_concepts_in_the_same_frames_and_lures_show_them_apart():
    world = _world("probe-conjunction")
    lures = 0
    for truth in _truths(world):
        for j, c in enumerate(truth.labels):  # every label is a conjunction: its concepts are columns 2j, 2j + 1
            np.testing.assert_array_equal(truth.concept_ids[2 * j: 2 * j + 2], world.kinds.concepts[c])
            np.testing.assert_array_equal(truth.concept_visible[:, 2 * j], truth.visible[:, j])
            np.testing.assert_array_equal(truth.concept_visible[:, 2 * j + 1], truth.visible[:, j])
        for k in range(2 * len(truth.labels), len(truth.concept_ids), 2):  # lures: the two concepts, never together
            lures += 1
            assert truth.concept_visible[:, k].any() and truth.concept_visible[:, k + 1].any()
            assert not (truth.concept_visible[:, k] & truth.concept_visible[:, k + 1]).any()
    assert lures > 30


def test_order_twins_share_concepts_in_opposite_order():
    world = _world("probe-order")
    twins = {tuple(world.kinds.concepts[c]): c for c in np.flatnonzero(world.kinds.kind == ORDER)}
    assert len(twins) == 16 and all((b, a) in twins for a, b in twins)  # every "A then B" has its "B then A"
    for truth in _truths(world):
        for j, c in enumerate(truth.labels):
            first = np.flatnonzero(truth.concept_visible[:, 2 * j])
            second = np.flatnonzero(truth.concept_visible[:, 2 * j + 1])
            assert truth.concept_ids[2 * j] == world.kinds.concepts[c][0]
            assert len(first) + len(second) == truth.visible[:, j].sum()
            if len(second):
                assert first.max() < second.min()


def test_change_classes_alternate_frame_by_frame():
    world = _world("probe-change")
    for truth in _truths(world):
        for j in range(len(truth.labels)):
            shown = np.flatnonzero(truth.visible[:, j])
            a, b = truth.concept_visible[:, 2 * j], truth.concept_visible[:, 2 * j + 1]
            assert a[shown[0::2]].all() and b[shown[1::2]].all()
            assert not (a & b).any() and ((a | b) == truth.visible[:, j]).all()


def test_anchored_modes_average_to_their_anchor_and_each_mode_differs_from_it():
    world = _world("probe-multimodal")
    anchored = np.flatnonzero(world.kinds.kind == ANCHORED)
    assert len(anchored) == world.config.num_classes // 2
    for c in anchored:
        d = world.kinds.anchor[c]
        assert world.kinds.kind[d] == PLAIN
        for protos, strength in ((world.rgb_prototypes, world.visual_strength), (world.audio_prototypes, world.audio_strength)):
            modes = protos[c, :2] * strength[c]
            np.testing.assert_allclose(modes.mean(axis=0), protos[d, 0] * strength[d], atol=1e-5)
            cosine = modes @ protos[d, 0] / np.linalg.norm(modes, axis=1)
            assert (cosine < 0.8).all()  # each mode alone is far from the anchor


def test_localized_classes_are_one_short_span_and_the_segment_ratings_mark_it(tmp_path):
    world = _world("probe-localized")
    for truth in _truths(world):
        for j in range(len(truth.labels)):
            shown = np.flatnonzero(truth.visible[:, j])
            assert 2 <= len(shown) <= world.config.localized_frames and shown[-1] - shown[0] == len(shown) - 1
    out = tmp_path / "localized"
    generate(out, "probe-localized", seed=0, workers=1, progress=False, splits=("segment_validate",), segment_validate_videos=12)
    positives = 0
    for index, record in enumerate(read_records(str(out / "segments/validate*.tfrecord"), "segment", num_classes=16,
                                                feature_sizes=(32, 8))):
        truth = sample_truth(world, "segment_validate", index)
        for start, label, score in zip(record.segment_start_times, record.segment_labels, record.segment_scores):
            span = truth.visible[start: start + SEGMENT_SIZE, np.flatnonzero(truth.labels == label)[0]]
            assert score == float(span.sum() >= 2)  # positive exactly where the evidence is
            positives += int(score)
    assert positives > 0


def test_distractors_outros_show_no_label_and_overlays_are_shared_across_classes():
    world = _world("probe-distractor")
    truths = _truths(world, 80)
    with_outro = [t for t in truths if t.outro_frames]
    assert with_outro and all(not t.visible[t.num_frames - t.outro_frames:].any() for t in with_outro)
    assert all((t.frame_shots()[t.num_frames - t.outro_frames:] == -1).all() for t in with_outro)
    classes_per_overlay = {}
    for t in truths:
        if t.overlay >= 0:
            classes_per_overlay.setdefault(t.overlay, set()).update(t.labels.tolist())
    assert max(len(c) for c in classes_per_overlay.values()) > 2


def test_cli_writes_a_probe_world(tmp_path):
    result = CliRunner().invoke(app, ["synth", str(tmp_path / "p"), "--preset", "probe-order", "-q", "--workers", "1",
                                      "--set", "train_videos=4", "--set", "validate_videos=2"])
    assert result.exit_code == 0, result.output
    records = list(read_records(str(tmp_path / "p/frame/train*.tfrecord"), "frame", num_classes=16, feature_sizes=(32, 8)))
    assert len(records) == 4 and records[0].features["rgb"].shape[1] == 32
