"""What one synthetic video is about: true labels, shot structure, per-frame visibility, the noisy
labels an automatic annotation system would report, and (segment splits) 5-second segment ratings.

Drawn from the video's own random stream, so `sample_truth(world, split, i)` is cheap and the same
in every process; features are rendered from it by `render.render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..io import SEGMENT_SIZE
from .kinds import localize, place_concepts
from .streams import STREAM_STRUCTURE, STREAM_TRUTH, video_rng

if TYPE_CHECKING:
    from .world import World

MAIN, MINOR = 0, 1
SEGMENT_SPLITS = ("segment_validate", "segment_test")


@dataclass
class VideoTruth:
    """Ground truth of one video (K true labels, T frames, S shots).

    - `labels` int64 [K], sorted: the exhaustive true labels (what the human-rated split holds).
    - `roles` int8 [K]: MAIN (a central topic, shown in several shots) or MINOR (briefly visible).
    - `implied` bool [K]: the label is there because a specific true label implies it (its parent).
    - `modes` int64 [K]: appearance mode of each label in this video.
    - `visible` bool [T, K]: label k is shown at frame t (parents are visible wherever a child is).
    - `intro_frames`: the first frames show a label-independent intro (`intro_style`) and no label.
    - `shot_bounds` int64 [S + 1]: shot s covers frames shot_bounds[s]..shot_bounds[s+1]-1 (the
      first shot starts after the intro); `shot_focus` int64 [S]: index into `labels` of the shot's
      subject, -1 for filler shots that show none of the labels.
    - `observed_labels` int64 sorted: the noisy labels of train/validate records (missing MINOR
      labels mostly, some MAIN ones, plus wrong labels); never empty, like the real dataset.
    - `segment_start_times`, `segment_labels`, `segment_scores` (segment splits only): ratings of
      5-frame segments; score 1.0 iff the class is visible in >= segment_positive_min_frames of them.
    - version 3: `outro_frames` (the last frames show label-free outro style `outro_style`), `overlay`
      (an overlay style on every content frame, -1 none), `concept_ids` [Q] and `concept_visible`
      [T, Q] (the concepts shown: of conjunction/order/change labels, and lures; kinds.py).
    """

    split: str
    index: int
    id: str
    num_frames: int
    intro_frames: int
    intro_style: int
    labels: np.ndarray
    roles: np.ndarray
    implied: np.ndarray
    modes: np.ndarray
    visible: np.ndarray
    shot_bounds: np.ndarray
    shot_focus: np.ndarray
    observed_labels: np.ndarray
    segment_start_times: np.ndarray | None = None
    segment_labels: np.ndarray | None = None
    segment_scores: np.ndarray | None = None
    outro_frames: int = 0
    outro_style: int = 0
    overlay: int = -1
    concept_ids: np.ndarray | None = None
    concept_visible: np.ndarray | None = None

    @property
    def missing_labels(self) -> np.ndarray:
        """True labels the annotation system did not report."""
        return np.setdiff1d(self.labels, self.observed_labels)

    @property
    def wrong_labels(self) -> np.ndarray:
        """Reported labels that are not true."""
        return np.setdiff1d(self.observed_labels, self.labels)

    def visible_classes(self, frame: int) -> np.ndarray:
        """Class ids shown at one frame."""
        return self.labels[self.visible[frame]]

    def frame_shots(self) -> np.ndarray:
        """Shot index of every frame, -1 during the intro and the outro."""
        shots = np.full(self.num_frames, -1, dtype=np.int64)
        for s in range(len(self.shot_bounds) - 1):
            shots[self.shot_bounds[s]: self.shot_bounds[s + 1]] = s
        return shots

    def segment_visibility(self, start: int, class_id: int) -> int:
        """How many of the 5 frames starting at `start` show `class_id`."""
        k = np.flatnonzero(self.labels == class_id)
        return int(self.visible[start: start + SEGMENT_SIZE, k[0]].sum()) if len(k) else 0


def sample_truth(world: World, split: str, index: int) -> VideoTruth:
    cfg = world.config
    rng = video_rng(cfg.seed, split, index, STREAM_TRUTH)
    frames = cfg.min_frames + int(rng.beta(1.5, 1.2) * (cfg.max_frames - cfg.min_frames + 1))
    frames = min(frames, cfg.max_frames)
    intro = int(rng.integers(2, cfg.max_intro_frames + 1)) if rng.random() < cfg.intro_prob and cfg.max_intro_frames >= 2 else 0
    intro = min(intro, frames // 2)  # short videos keep most of their frames for the content
    intro_style = int(rng.integers(len(world.intro_rgb)))
    # version 3 draws from its own stream: with the structure off, the version-2 draws are untouched
    structure = video_rng(cfg.seed, split, index, STREAM_STRUCTURE) if cfg.world_version >= 3 else None
    outro = outro_style = 0
    overlay = -1
    if structure is not None:
        if structure.random() < cfg.outro_prob:
            outro = min(int(structure.integers(2, cfg.max_outro_frames + 1)), (frames - intro) // 3)
        outro_style = int(structure.integers(len(world.intro_rgb)))
        if structure.random() < cfg.overlay_prob:
            overlay = int(structure.integers(len(world.kinds.overlay_rgb)))

    labels, roles, implied = _sample_labels(world, rng, split in SEGMENT_SPLITS)
    order = np.argsort(labels)
    labels, roles, implied = labels[order], roles[order], implied[order]
    modes = np.array([rng.choice(world.config.max_modes, p=world.mode_weights[c]) for c in labels], dtype=np.int64)
    shot_bounds = _shot_bounds(intro, frames - outro, cfg.shot_mean_frames, rng)
    shot_focus, visible = _visibility(world, labels, roles, implied, shot_bounds, frames, rng)
    concept_ids = concept_visible = None
    if structure is not None:
        parents = np.isin(labels, world.parent[labels])
        localize(world.kinds, labels, visible, shot_bounds, cfg.localized_frames, structure, parents)
        concept_ids, concept_visible = place_concepts(world.kinds, labels, visible, shot_bounds, cfg.lure_rate, structure)
    observed = _observe(world, labels, roles, implied, visible, rng)
    truth = VideoTruth(
        split=split, index=index, id=world.video_id(split, index) if split != "pca" else f"pca{index}",
        num_frames=frames, intro_frames=intro, intro_style=intro_style, labels=labels, roles=roles,
        implied=implied, modes=modes, visible=visible, shot_bounds=shot_bounds, shot_focus=shot_focus,
        observed_labels=observed, outro_frames=outro, outro_style=outro_style, overlay=overlay,
        concept_ids=concept_ids, concept_visible=concept_visible,
    )
    if split in SEGMENT_SPLITS:
        _rate_segments(world, truth, rng)
    return truth


def _sample_labels(world: World, rng: np.random.Generator, need_rated: bool):
    """Main topics (co-occurring within a vertical, via partners), their parents, then minor entities."""
    cfg = world.config
    first = world.draw_rated_class(rng) if need_rated else world.draw_class(rng)
    home = int(world.vertical[first])
    chosen = [first]
    for _ in range(rng.poisson(cfg.extra_main_labels_mean)):
        for _attempt in range(8):
            u = rng.random()
            if u < cfg.partner_prob:
                c = int(world.partners[chosen[rng.integers(len(chosen))], rng.integers(world.partners.shape[1])])
            elif u < cfg.partner_prob + cfg.same_vertical_prob:
                c = world.draw_class(rng, home)
            else:
                c = world.draw_class(rng)
            if c not in chosen:
                chosen.append(c)
                break
    roles = {c: MAIN for c in chosen}
    for _ in range(rng.poisson(cfg.minor_labels_mean)):
        for _attempt in range(8):
            c = world.draw_class(rng, home if rng.random() < 0.5 else None)
            if c not in roles:
                roles[c] = MINOR
                break
    implied = {}
    for c, role in list(roles.items()):
        p = int(world.parent[c])
        if p >= 0 and p not in roles:
            implied[p] = MAIN if role == MAIN or implied.get(p) == MAIN else MINOR
    labels = list(roles) + list(implied)
    return (
        np.asarray(labels, dtype=np.int64),
        np.asarray([roles.get(c, implied.get(c)) for c in labels], dtype=np.int8),
        np.asarray([c in implied for c in labels], dtype=bool),
    )


def _shot_bounds(intro: int, frames: int, mean_length: float, rng: np.random.Generator) -> np.ndarray:
    """Shot starts after the intro; lengths 1 + Geometric, mean `mean_length` frames."""
    body = frames - intro
    lengths = 1 + rng.geometric(1.0 / max(mean_length - 1.0, 1.0), size=body // 2 + 2)
    ends = intro + np.cumsum(lengths)
    ends = ends[ends < frames]
    return np.concatenate([[intro], ends, [frames]]).astype(np.int64)


def _visibility(world: World, labels, roles, implied, shot_bounds, frames: int, rng: np.random.Generator):
    """Which label each shot shows (every main topic at least once), co-visible topics, brief minor
    entities, occlusions; then parents are made visible wherever a child is."""
    cfg = world.config
    k, shots = len(labels), len(shot_bounds) - 1
    visible = np.zeros((frames, k), dtype=bool)
    main = np.flatnonzero(roles == MAIN)
    required = main[~implied[main]]
    focus = np.full(shots, -1, dtype=np.int64)
    filler = rng.random(shots) < cfg.filler_shot_prob
    order = rng.permutation(shots)
    required = rng.permutation(required)
    focus[order[: len(required)]] = required[:shots]
    filler[order[: len(required)]] = False
    weights = np.where(implied[main], 0.4, 1.0)
    free = np.flatnonzero((focus < 0) & ~filler)
    focus[free] = rng.choice(main, size=len(free), p=weights / weights.sum())
    for s in np.flatnonzero(focus >= 0):
        lo, hi = shot_bounds[s], shot_bounds[s + 1]
        visible[lo:hi, focus[s]] = True
        also = main[(main != focus[s]) & (rng.random(len(main)) < cfg.covisible_prob)]
        visible[lo:hi, also] = True
    for j in required[shots:]:  # more main topics than shots: share a random shot
        s = rng.integers(shots)
        visible[shot_bounds[s]: shot_bounds[s + 1], j] = True
    for j in np.flatnonzero((roles == MINOR) & ~implied):
        s = rng.integers(shots)
        lo, hi = shot_bounds[s], shot_bounds[s + 1]
        span = min(hi - lo, int(rng.integers(2, 7)))
        start = lo + int(rng.integers(0, hi - lo - span + 1))
        visible[start: start + span, j] = True
    before = visible.copy()
    visible &= rng.random(visible.shape) >= cfg.occlusion_prob
    lost = before.any(axis=0) & ~visible.any(axis=0)
    visible[:, lost] = before[:, lost]  # an occlusion never hides a label for the whole video
    position = {int(c): j for j, c in enumerate(labels)}
    for j, c in enumerate(labels):
        p = int(world.parent[c])
        if p in position:
            visible[:, position[p]] |= visible[:, j]
    return focus, visible


def _observe(world: World, labels, roles, implied, visible, rng: np.random.Generator) -> np.ndarray:
    """The annotation system's labels: main topics mostly, minor ones rarely, parents with their
    children, plus wrong labels (mostly partners of true topics, i.e. confusable ones)."""
    cfg = world.config
    observed = np.zeros(len(labels), dtype=bool)
    direct = ~implied
    prob = np.where(roles == MAIN, cfg.main_observed_prob, cfg.minor_observed_prob)
    observed[direct] = rng.random(int(direct.sum())) < prob[direct]
    position = {int(c): j for j, c in enumerate(labels)}
    child_seen = np.zeros(len(labels), dtype=bool)
    for j, c in enumerate(labels):
        p = int(world.parent[c])
        if p in position and observed[j]:
            child_seen[position[p]] = True
    implied_prob = np.where(child_seen, cfg.parent_observed_prob, prob)
    observed[implied] = rng.random(int(implied.sum())) < implied_prob[implied]
    result = set(labels[observed].tolist())
    true = set(labels.tolist())
    main = labels[roles == MAIN]
    for _ in range(rng.poisson(cfg.wrong_labels_mean)):
        if rng.random() < 0.6:
            c = int(world.partners[main[rng.integers(len(main))], rng.integers(world.partners.shape[1])])
        else:
            c = world.draw_class(rng)
        if c not in true:
            result.add(c)
    if not result:  # the real dataset dropped videos without labels: keep the most visible topic
        result.add(int(labels[np.argmax(visible.sum(axis=0))]))
    return np.asarray(sorted(result), dtype=np.int64)


def _rate_segments(world: World, truth: VideoTruth, rng: np.random.Generator) -> None:
    """~segment_ratings_mean ratings of 5-frame segments (starts at multiples of 5) for 1-2 rated
    classes of the video; positives and negatives drawn from the true visibility."""
    cfg = world.config
    rated = np.flatnonzero(np.isin(truth.labels, world.rated_classes))
    classes = rng.permutation(rated)[: 2 if len(rated) > 1 and rng.random() < 0.3 else 1]
    starts = np.arange(0, truth.num_frames - SEGMENT_SIZE + 1, SEGMENT_SIZE)
    window = starts[:, None] + np.arange(SEGMENT_SIZE)
    n_ratings = 1 + rng.poisson(max(cfg.segment_ratings_mean - 1.0, 0.0))
    out_starts, out_labels, out_scores = [], [], []
    taken = {int(j): set() for j in classes}
    for r in range(n_ratings):
        j = int(classes[r % len(classes)])
        counts = truth.visible[window, j].sum(axis=1)
        positive = counts >= cfg.segment_positive_min_frames
        free = np.array([s not in taken[j] for s in starts])
        shared = [s for s in set(out_starts) if s not in taken[j]]
        if shared and rng.random() < 0.15:  # several classes rated at one start time
            s = int(rng.choice(sorted(shared)))
        else:
            want = positive if rng.random() < cfg.segment_positive_fraction else ~positive
            pool = starts[free & want] if (free & want).any() else starts[free]
            if not len(pool):
                continue
            s = int(rng.choice(pool))
        taken[j].add(s)
        out_starts.append(s)
        out_labels.append(int(truth.labels[j]))
        out_scores.append(1.0 if positive[s // SEGMENT_SIZE] else 0.0)
    truth.segment_start_times = np.asarray(out_starts, dtype=np.int64)
    truth.segment_labels = np.asarray(out_labels, dtype=np.int64)
    truth.segment_scores = np.asarray(out_scores, dtype=np.float32)
