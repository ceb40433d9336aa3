"""`SynthConfig`: every knob of the synthetic YouTube-8M generator, with named size presets.

The size presets (tiny..full) only set sizes (classes, videos, shards); the behaviour knobs keep one
default everywhere, so a model comparison on `small` means the same thing on `medium`. The probe
presets (probes.py) are tiny worlds with one structure on and the rest off. docs/synthetic.md
explains each knob.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..typed_config import build

from .probes import PROBES

# Bump whenever the bytes a given config and seed produce change. Version 3 added the structures that
# need more than averaging (conjunctions, temporal order, change, anchored modes, localized evidence,
# outros and overlays); `world_version=2` keeps them off and reproduces the version-2 bytes exactly.
GENERATOR_VERSION = 3
WORLD_VERSIONS = (2, 3)
# The version-3 knobs, and their values in a version-2 world (all off).
STRUCTURE_OFF: dict[str, float | int] = dict(
    conjunction_fraction=0.0, order_fraction=0.0, change_fraction=0.0, anchored_fraction=0.0,
    localized_fraction=0.0, lure_rate=0.0, outro_prob=0.0, overlay_prob=0.0, apart_twins=False,
)
# Knobs added within version 3, at the value that keeps the bytes of the worlds made before them (what
# a config written before them means).
ADDED_IN_VERSION_3: dict[str, float | int | bool] = dict(apart_twins=False)
# What the generator writes, per split: frame/ + video/ for the video-level task (2017/2018),
# segments/ for the 2019 segment task. `test` also yields `rated_test` (its first videos with the
# exhaustive true labels, the paper's human-rated set); `segment_test` yields `segment_rated_test`.
SPLITS = ("train", "validate", "test", "segment_validate", "segment_test")
LEVELS = ("frame", "video")

# Real YouTube-8M v2/v3 sizes (approximate where the dataset site rounds): 3862 classes, ~3,844 shards
# per split, ~1000 train videos per shard; the paper rated 8,000+ test videos; the 2019 segment set
# has ~237K ratings at ~5 per video.
PRESETS: dict[str, dict[str, int | float]] = {
    "tiny": dict(
        num_classes=64, train_videos=160, validate_videos=48, test_videos=32, rated_test_videos=16,
        segment_validate_videos=24, segment_test_videos=16,
        train_shards=2, validate_shards=1, test_shards=1, segment_validate_shards=1, segment_test_shards=1,
        rgb_hidden_size=1024, pca_sample_frames=12288,  # fast world: PCA keeps all 1024 whitened directions
    ),
    "small": dict(
        num_classes=400, train_videos=4000, validate_videos=1000, test_videos=600, rated_test_videos=300,
        segment_validate_videos=400, segment_test_videos=200,
        train_shards=8, validate_shards=4, test_shards=2, segment_validate_shards=2, segment_test_shards=1,
    ),
    "medium": dict(
        num_classes=3862, train_videos=24000, validate_videos=6000, test_videos=3000, rated_test_videos=1000,
        segment_validate_videos=2000, segment_test_videos=1000,
        train_shards=24, validate_shards=24, test_shards=12, segment_validate_shards=8, segment_test_shards=4,
    ),
    **PROBES,
    # large label spaces for the sparse LSTM's hierarchical softmax (seed 000: 150,000 labels); use with
    # `--set sparse_features=im,tm --set levels=frame` (the label count is what matters, not the videos)
    **{f"labels{k}k": dict(
        num_classes=1000 * k, train_videos=3000, validate_videos=1000, test_videos=0, rated_test_videos=0,
        segment_validate_videos=0, segment_test_videos=0,
        train_shards=6, validate_shards=2, test_shards=1, segment_validate_shards=1, segment_test_shards=1,
    ) for k in (10, 50, 150)},
    "full": dict(
        num_classes=3862, train_videos=3_888_919, validate_videos=1_112_356, test_videos=1_133_323,
        rated_test_videos=8000, segment_validate_videos=47_059, segment_test_videos=44_753,
        train_shards=3844, validate_shards=3844, test_shards=3844, segment_validate_shards=3844,
        segment_test_shards=3844,
    ),
}


@dataclass(frozen=True)
class SynthConfig:
    """All generator settings. Build with `SynthConfig.from_preset(name, seed=..., **overrides)`."""

    preset: str = "tiny"
    seed: int = 0
    world_version: int = GENERATOR_VERSION  # 2 reproduces the version-2 world (structure knobs off)

    # --- sizes (set by the preset)
    num_classes: int = 64
    train_videos: int = 160
    validate_videos: int = 48
    test_videos: int = 32
    rated_test_videos: int = 16  # first test videos, written again with exhaustive true labels
    segment_validate_videos: int = 24
    segment_test_videos: int = 16
    train_shards: int = 2
    validate_shards: int = 1
    test_shards: int = 1
    segment_validate_shards: int = 1
    segment_test_shards: int = 1

    # --- features: latent -> ReLU(latent W + b) [hidden] -> PCA + whitening [size] -> 8-bit
    rgb_size: int = 1024
    audio_size: int = 128
    rgb_hidden_size: int = 2048  # Inception pool_3 width before the official PCA to 1024
    audio_hidden_size: int = 256
    rgb_latent_size: int = 256
    audio_latent_size: int = 64
    pca_sample_frames: int = 16384  # frames of train-like videos the PCA is fit on (the real one used train frames)
    min_frames: int = 120  # 1 fps; the dataset keeps videos of 120..300 s (capped at 300 frames)
    max_frames: int = 300

    # --- classes: verticals, Zipf popularity, hierarchy, co-occurrence, appearance
    zipf_exponent: float = 1.0  # popularity of class rank r is ∝ (r + zipf_offset)^-exponent (Fig. 5)
    zipf_offset: float = 3.0
    general_fraction: float = 0.06  # most popular classes of a vertical that act as general entities
    hierarchy_fraction: float = 0.35  # share of other classes that are specific kinds of a general one
    second_vertical_fraction: float = 0.15
    partners_per_class: int = 4  # classes that co-occur strongly with a class (same vertical)
    vertical_similarity: float = 0.45  # how much classes of a vertical look alike
    parent_similarity: float = 0.5  # how much a specific class looks like its general one
    multimodal_fraction: float = 0.35  # classes with 2..max_modes appearance modes
    max_modes: int = 3
    audio_dominant_fraction: float = 0.12  # classes recognised mostly by sound (weak visual signal)

    # --- labels per video (true, i.e. exhaustive) and their noisy observation
    extra_main_labels_mean: float = 1.6  # main topics beyond the first (Poisson); parents come on top
    partner_prob: float = 0.45  # next main topic is a partner of a previous one ...
    same_vertical_prob: float = 0.4  # ... else from the same vertical, else from the whole vocabulary
    minor_labels_mean: float = 2.5  # briefly visible entities the annotation system mostly misses
    main_observed_prob: float = 0.88
    parent_observed_prob: float = 0.95  # a general entity is observed when one of its specifics is
    minor_observed_prob: float = 0.12
    wrong_labels_mean: float = 0.45  # spurious observed labels (mostly confusable partners)

    # --- temporal structure (seconds = frames)
    intro_prob: float = 0.6
    max_intro_frames: int = 20
    shot_mean_frames: float = 9.0
    filler_shot_prob: float = 0.15  # shots showing none of the video's labels
    covisible_prob: float = 0.25  # another main topic also visible in a shot
    occlusion_prob: float = 0.08  # a visible class missing from one frame
    video_noise: float = 0.45  # latent std: per video (style), per shot (scene), per frame
    shot_noise: float = 0.45
    frame_noise: float = 0.6

    # --- structure that averaging frames cannot read (version 3; docs/synthetic.md, "Structure").
    # Each class has one kind: plain (the sum-of-prototypes look) or one of these; fractions of classes.
    conjunction_fraction: float = 0.04  # seen only as two concepts together in one shot (each alone is a lure)
    order_fraction: float = 0.04  # twin classes "concept A then B" / "B then A" (even count)
    change_fraction: float = 0.03  # frames alternate between two concepts; each alone is a lure
    anchored_fraction: float = 0.05  # two modes whose average is another (plain) class's look
    localized_fraction: float = 0.10  # visible in one short span only (2..localized_frames frames)
    localized_frames: int = 5
    lure_rate: float = 0.5  # per video (Poisson): lone concepts of a conjunction/change class, in two shots
    # Each conjunction/change class gets an "apart" twin (half of those fractions): its lure's look with a
    # label, so both concepts in a video say which pair, not which class. Off keeps the worlds made before
    # it byte for byte; the probe presets turn it on (probes.py).
    apart_twins: bool = False
    outro_prob: float = 0.3  # label-free end screen (shares the 16 intro styles)
    max_outro_frames: int = 15
    overlay_prob: float = 0.25  # a logo/caption overlay on every content frame, one of 8 shared styles
    overlay_strength: float = 0.3

    # --- 2019 segment ratings
    num_rated_classes: int = 0  # 0 = round(num_classes * 1000 / 3862), like the 1000 of 3862
    segment_ratings_mean: float = 5.0
    segment_positive_fraction: float = 0.55
    segment_positive_min_frames: int = 2  # rated positive if the class is visible in >= this many of 5 frames

    # --- output
    levels: tuple[str, ...] = LEVELS
    sparse_features: tuple[str, ...] = ()  # MiCRObE base-classifier outputs (yt8m.synth.sparse)

    @classmethod
    def from_preset(cls, preset: str = "tiny", **overrides) -> "SynthConfig":
        """A preset's config; `world_version=2` turns the version-3 structure off (the old bytes)."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
        overrides = _checked(overrides)
        version = int(overrides.get("world_version", GENERATOR_VERSION))
        if preset in PROBES and version < 3:
            raise ValueError(f"preset {preset!r} needs world_version 3 (the probes are version-3 structure)")
        old = STRUCTURE_OFF if version == 2 else {}
        return build(cls, {**PRESETS[preset], **old, **overrides, "preset": preset}, what="SynthConfig")

    @classmethod
    def from_dict(cls, fields: dict) -> "SynthConfig":
        """Inverse of `to_dict` (e.g. the `config` of a manifest.json); a config written before
        version 3 has no world_version and is a version-2 world."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in completed(fields).items()})

    def __post_init__(self) -> None:
        checks = [
            (self.num_classes >= 24 or (self.world_version >= 3 and self.num_classes >= 8),
             "num_classes must be >= 24 (>= 8 from world_version 3: then some verticals have no class)"),
            (0 < self.min_frames <= self.max_frames <= 300, "need 0 < min_frames <= max_frames <= 300"),
            (self.min_frames >= 10, "min_frames must be >= 10 (segments are 5 frames)"),
            (self.rated_test_videos <= self.test_videos, "rated_test_videos cannot exceed test_videos"),
            (all(level in LEVELS for level in self.levels) and self.levels, f"levels must be a non-empty subset of {LEVELS}"),
            (self.total_videos <= 62 ** 4, "too many videos for unique 4-character ids"),
            (self.rgb_size <= self.rgb_hidden_size and self.audio_size <= self.audio_hidden_size,
             "PCA cannot output more dimensions than the hidden ReLU layer has"),
            (self.max_modes >= 1 and self.partners_per_class >= 1, "max_modes and partners_per_class must be >= 1"),
            (1 <= self.segment_positive_min_frames <= 5, "segment_positive_min_frames must be in 1..5"),
            (self.world_version in WORLD_VERSIONS, f"world_version must be one of {WORLD_VERSIONS}"),
            (self.world_version >= 3 or all(getattr(self, k) == v for k, v in STRUCTURE_OFF.items()),
             "world_version 2 has no conjunctions, order, change, anchored, localized, lures, outros or "
             "overlays: leave those knobs at 0 (SynthConfig.from_preset does)"),
            (self.structured_fraction <= 1.0, "conjunction + order + change + anchored + localized fractions exceed 1"),
            (self.localized_frames >= 2 and self.max_outro_frames >= 2, "localized_frames and max_outro_frames must be >= 2"),
        ]
        for split in SPLITS:
            videos, shards = getattr(self, f"{split}_videos"), getattr(self, f"{split}_shards")
            checks.append((videos >= 0 and (shards >= 1 or videos == 0), f"{split}: need videos >= 0 and shards >= 1"))
        for ok, message in checks:
            if not ok:
                raise ValueError(f"SynthConfig: {message}")

    @property
    def total_videos(self) -> int:
        return sum(getattr(self, f"{split}_videos") for split in SPLITS)

    @property
    def structured_fraction(self) -> float:
        """Share of classes that are not plain."""
        return self.conjunction_fraction + self.order_fraction + self.change_fraction + self.anchored_fraction + self.localized_fraction

    @property
    def rated_classes(self) -> int:
        """How many classes the segment ratings cover (segment_label_ids.csv)."""
        return self.num_rated_classes or max(1, round(self.num_classes * 1000 / 3862))

    def replace(self, **changes) -> "SynthConfig":
        return build(SynthConfig, {**self.to_dict(), **_checked(changes)}, what="SynthConfig")

    def to_dict(self) -> dict:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in dataclasses.fields(self)}


def completed(fields: dict) -> dict:
    """A config dict written by an older generator, with what it means for the knobs it lacks: before
    version 3 (no world_version) a version-2 world; before a knob added within version 3, its old value."""
    if "world_version" not in fields:
        fields = {**STRUCTURE_OFF, **fields, "world_version": 2}
    return {**ADDED_IN_VERSION_3, **fields}


def _checked(overrides: dict) -> dict:
    """Overrides may set any field but the preset name (values are converted by `build`)."""
    if "preset" in overrides:
        raise ValueError("SynthConfig field 'preset' is chosen with --preset, not overridden")
    return overrides


def split_bounds(num_videos: int, num_shards: int, shard: int) -> tuple[int, int]:
    """Videos [start, stop) of a shard: the first `num_videos % num_shards` shards hold one more."""
    base, extra = divmod(num_videos, num_shards)
    start = shard * base + min(shard, extra)
    return start, start + base + (shard < extra)


__all__ = ["GENERATOR_VERSION", "LEVELS", "PRESETS", "SPLITS", "STRUCTURE_OFF", "SynthConfig", "completed", "split_bounds"]
