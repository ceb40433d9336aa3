"""Probe presets: tiny worlds with one structure on and everything else off, so a model comparison
on a probe says whether a model can read that structure (benchmarks/bench_probes.py).

Sized to train every frame model on one CPU in seconds: 16 classes, 40-60 frames, rgb 32 + audio 8.
Off means: uniform class popularity, no hierarchy or extra appearance modes, no sound-only classes,
clean labels (observed = true), no intros, outros, overlays or lures, one shard per split.
"""

from __future__ import annotations

_OFF = dict(
    conjunction_fraction=0.0, order_fraction=0.0, change_fraction=0.0, anchored_fraction=0.0, localized_fraction=0.0,
    lure_rate=0.0, outro_prob=0.0, overlay_prob=0.0, intro_prob=0.0,
    zipf_exponent=0.0, general_fraction=0.0, hierarchy_fraction=0.0, multimodal_fraction=0.0, audio_dominant_fraction=0.0,
    extra_main_labels_mean=0.6, minor_labels_mean=0.0, main_observed_prob=1.0, parent_observed_prob=1.0,
    minor_observed_prob=1.0, wrong_labels_mean=0.0,
)
_SIZES = dict(
    num_classes=16, train_videos=640, validate_videos=320, test_videos=0, rated_test_videos=0,
    segment_validate_videos=0, segment_test_videos=0, train_shards=1, validate_shards=1, test_shards=1,
    segment_validate_shards=1, segment_test_shards=1, num_rated_classes=16,
    rgb_size=32, audio_size=8, rgb_hidden_size=64, audio_hidden_size=16, rgb_latent_size=32, audio_latent_size=8,
    pca_sample_frames=4096, min_frames=40, max_frames=60,
)

# What each probe turns on, and (for the benchmark) which model family should read it.
_ON: dict[str, dict] = {
    # 8 conjunction classes (two concepts in the same frames), each with an apart twin that shows the same
    # two concepts in separate shots: seeing both says which pair, only same-frame co-occurrence which class
    "conjunction": dict(conjunction_fraction=1.0, apart_twins=True),
    # 8 twin pairs: A then B is one class, B then A the other
    "order": dict(order_fraction=1.0),
    # 8 change classes (the frames alternate between two concepts), each with an apart twin that shows each
    # concept in shots of its own. 2560 train videos: at 640 the recurrent models had too few examples to
    # learn frame-to-frame change in 10 epochs (bench_probes, "probe variants")
    "change": dict(change_fraction=1.0, apart_twins=True, train_videos=2560),
    # 8 anchored classes, each with two modes whose mean is one of the 8 plain classes
    "multimodal": dict(anchored_fraction=0.5),
    # each class visible in one span of 2-5 of 60 frames; segment ratings mark where
    "localized": dict(localized_fraction=1.0, min_frames=60, max_frames=60, segment_validate_videos=160),
    # intros, outros and overlays shared across classes (seed 002's skip-first-frames)
    "distractor": dict(intro_prob=0.8, max_intro_frames=15, outro_prob=0.8, max_outro_frames=15, overlay_prob=0.8,
                       overlay_strength=1.0),
    # everything at once, in a slightly larger world
    "combined": dict(
        num_classes=24, train_videos=960, validate_videos=480, conjunction_fraction=0.16, order_fraction=0.16,
        change_fraction=0.16, anchored_fraction=0.16, localized_fraction=0.16, apart_twins=True, lure_rate=1.0, intro_prob=0.5,
        max_intro_frames=10, outro_prob=0.3, max_outro_frames=10, overlay_prob=0.3, min_frames=60, max_frames=60,
        segment_validate_videos=160,
    ),
}
PROBES: dict[str, dict] = {f"probe-{name}": {**_SIZES, **_OFF, **on} for name, on in _ON.items()}

__all__ = ["PROBES"]
