"""World version 3: the structures averaging cannot read, the probe presets, and version 2 kept byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from yt8m.cli import app
from yt8m.io import SEGMENT_SIZE, read_records
from yt8m.synth import PRESETS, SynthConfig, World, generate, sample_truth
from yt8m.synth.kinds import ANCHORED, APART, CHANGE, CONJUNCTION, LOCALIZED, ORDER, PLAIN

PROBES = [name for name in PRESETS if name.startswith("probe-")]
# The sha256 of this reduced tiny world (every file but manifest.json and .synth/) as written by the
# version-2 generator (commit 4afba87, before version 3 existed); `world_version=2` must still give it.
VERSION_2_TINY = "16e5d6a46e5740777222f08512c60e77d0d8fc113010db0dfe4063241d7a8ea7"
# The probe worlds as written before apart twins existed (commit 57eb81e), reduced to 8 + 4 videos; the knobs
# that give them back: `apart_twins=False` and the lure rate they had (the change probe also had 640 train videos).
PROBES_BEFORE_TWINS = {
    "probe-conjunction": ("639ddd00535692b7776e16b587c5eb8dc45354cb25fca6bcada713e935d74a83", dict(lure_rate=1.5)),
    "probe-change": ("75f420f1f9a485c82c06b9df38be32b2afe4666f35adae46f398913e83ae8e58", dict(lure_rate=1.5)),
    "probe-combined": ("c3dd3ff4831730446751b16fbdd8c276ce6f19b753bc787995a67fd830e17f5c", {}),
}
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


@pytest.mark.parametrize("probe", sorted(PROBES_BEFORE_TWINS))
def test_probe_worlds_made_before_apart_twins_keep_their_bytes(tmp_path, probe):
    digest, knobs = PROBES_BEFORE_TWINS[probe]
    few = dict(train_videos=8, validate_videos=4, segment_validate_videos=0, pca_sample_frames=512)
    generate(tmp_path / "before", probe, seed=0, workers=1, progress=False, apart_twins=False, **knobs, **few)
    assert _checksum(tmp_path / "before") == digest
    generate(tmp_path / "now", probe, seed=0, workers=1, progress=False, **few)
    assert _checksum(tmp_path / "now") != digest  # the probe preset now has its twins


def test_a_dataset_written_before_a_version_3_knob_existed_resumes(tmp_path):
    out = tmp_path / "w"
    generate(out, "probe-order", seed=0, workers=1, progress=False, train_videos=4, validate_videos=2, splits=("train",))
    state = out / ".synth" / "config.json"
    config = json.loads(state.read_text())
    del config["apart_twins"]  # what a directory made before the knob holds
    state.write_text(json.dumps(config))
    generate(out, "probe-order", seed=0, workers=1, progress=False, train_videos=4, validate_videos=2)  # no error: same world


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
    kinds = np.bincount(world.kinds.kind, minlength=7)
    expected = {
        "probe-conjunction": {CONJUNCTION, APART}, "probe-order": {ORDER}, "probe-change": {CHANGE, APART},
        "probe-multimodal": {ANCHORED, PLAIN}, "probe-localized": {LOCALIZED}, "probe-distractor": {PLAIN},
        "probe-combined": {PLAIN, CONJUNCTION, ORDER, CHANGE, ANCHORED, LOCALIZED, APART},
    }[probe]
    assert set(np.flatnonzero(kinds)) == expected
    assert cfg.rgb_size + cfg.audio_size == 40 and cfg.max_frames <= 60 and cfg.num_classes <= 24  # CPU-sized
    assert (world.num_modes[world.kinds.kind != ANCHORED] == 1).all() and not world.audio_dominant.any()
    truths = _truths(world, 40)
    assert all(np.array_equal(t.observed_labels, t.labels) for t in truths)  # clean labels
    distractors = sum(t.intro_frames > 0 or t.outro_frames > 0 or t.overlay >= 0 for t in truths)
    assert (distractors > 0) == (probe in ("probe-distractor", "probe-combined"))


def test_conjunction_classes_show_both_concepts_in_the_same_frames_and_lures_show_them_apart():
    world = _world("probe-conjunction", apart_twins=False, lure_rate=1.5)  # lures, no twins
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


@pytest.mark.parametrize("probe, kind", [("probe-conjunction", CONJUNCTION), ("probe-change", CHANGE)])
def test_apart_twins_show_their_twins_concepts_in_separate_frames_in_the_same_amount(probe, kind):
    world = _world(probe)
    kinds = world.kinds
    pairs, apart = np.flatnonzero(kinds.kind == kind), np.flatnonzero(kinds.kind == APART)
    assert len(pairs) == len(apart) == world.config.num_classes // 2
    np.testing.assert_array_equal(kinds.twin[kinds.twin[pairs]], pairs)
    np.testing.assert_array_equal(kinds.concepts[apart], kinds.concepts[kinds.twin[apart]])
    frames = {PLAIN: 0, APART: 0}  # frames per shown concept, of pair labels and of apart labels
    shown = {PLAIN: 0, APART: 0}
    for truth in _truths(world, 120):
        for j, c in enumerate(truth.labels):
            a, b = truth.concept_visible[:, 2 * j], truth.concept_visible[:, 2 * j + 1]
            np.testing.assert_array_equal(truth.concept_ids[2 * j: 2 * j + 2], kinds.concepts[c])
            np.testing.assert_array_equal(a | b, truth.visible[:, j])  # the label is visible where its concepts are
            if kinds.kind[c] == APART:
                assert a.any() and b.any() and not (a & b).any()
                assert set(truth.frame_shots()[a]).isdisjoint(truth.frame_shots()[b]) or kind == CHANGE and len(set(truth.frame_shots()[a | b])) == 1
            side = APART if kinds.kind[c] == APART else PLAIN
            frames[side] += int(a.sum() + b.sum())
            shown[side] += 2
    # frames per concept: a change class and its twin show the same (counting frames cannot tell them apart);
    # a conjunction's twin shows each concept alone on as many frames of other shots as there are, at least half
    ratio = (frames[APART] / shown[APART]) / (frames[PLAIN] / shown[PLAIN])
    assert 0.85 < ratio < 1.15 if kind == CHANGE else 0.5 <= ratio <= 1.0, ratio


@pytest.mark.parametrize("probe, kind", [("probe-conjunction", CONJUNCTION), ("probe-change", CHANGE)])
def test_with_twins_both_concepts_anywhere_say_which_pair_not_which_class(probe, kind):
    """Every video that shows both concepts of a pair somewhere is a positive of the class or of its twin,
    about half of each: only how the concepts are shown (same frames, alternation) tells the class."""
    world = _world(probe)
    kinds = world.kinds
    counts = np.zeros(2)  # [the class, its twin]
    for truth in _truths(world, 200):
        shown = set(truth.concept_ids[truth.concept_visible.any(axis=0)].tolist())
        for c in np.flatnonzero(kinds.kind == kind):
            if set(kinds.concepts[c].tolist()) <= shown:
                assert c in truth.labels or kinds.twin[c] in truth.labels
                counts += [c in truth.labels, kinds.twin[c] in truth.labels]
    assert counts.min() > 40 and 0.35 < counts[0] / counts.sum() < 0.65, counts


def test_change_classes_alternate_frame_by_frame():
    world = _world("probe-change")
    for truth in _truths(world):
        for j in np.flatnonzero(world.kinds.kind[truth.labels] == CHANGE):
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
