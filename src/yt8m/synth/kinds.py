"""Class kinds beyond the sum-of-prototypes look (world version 3): the structures real video has that
averaging per-frame scores cannot read.

- plain: the class's prototype is added to every frame it is visible in (version 2's only kind).
- conjunction: no look of its own; where it is visible, two concepts show together in the same
  frames. Lures put each concept alone in separate shots of other videos, so only the pair within
  one frame identifies the class (needs non-linear pooling).
- order: twin classes share two concepts; "A then B" shows A in the first half of its visible frames
  and B in the second, its twin "B then A" the reverse (needs recurrence or attention over order).
- change: the visible frames alternate between two concepts, frame by frame; lures show the same
  amount of each concept in alternate shots, so every single frame looks like a lure's (needs consecutive frames).
- anchored: two appearance modes whose average is exactly the look of another (plain) class (needs
  a mixture: no single linear score separates the modes from their anchor).
- localized: visible in one short span (2..localized_frames frames) of the video only (needs
  attention or max pooling; segment ratings mark the span).
- apart (with `apart_twins`): the twin of a conjunction or change class, showing the same two concepts
  the way that class's lures do (each alone, in separate shots): a lure with a label. Every video that
  shows both concepts is then a positive of one twin or the other, so seeing both anywhere in a video
  says which pair, not which class (as the order twins do for order).

Drawn from the world's own structure stream, so a version-2 world (no structured classes) keeps its
bytes; per video from the video's structure stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLAIN, CONJUNCTION, ORDER, CHANGE, ANCHORED, LOCALIZED, APART = range(7)
KIND_NAMES = ("plain", "conjunction", "order", "change", "anchored", "localized", "apart")
CONCEPT_KINDS = (CONJUNCTION, ORDER, CHANGE, APART)  # classes whose look is two concepts
LURE_KINDS = (CONJUNCTION, CHANGE)
N_OVERLAY_STYLES = 8
ANCHOR_OFFSET = 0.9  # mode = unit(anchor look ± 0.9 · orthogonal direction): 84° between the two modes
STRUCTURE_STREAM = 0x57C7


@dataclass
class ClassKinds:
    """Per class: `kind` int8 [C]; `concepts` int64 [C, 2] (concept ids of concept kinds, else -1);
    `anchor` int64 [C] (the class an anchored class averages to, else -1); `twin` int64 [C] (an apart
    class's conjunction or change class and back, else -1). `concept_rgb`,
    `concept_audio` [Q, latent]: concept looks (with strength); `overlay_rgb`, `overlay_audio`
    [8, latent]: unit overlay styles shared by all classes."""

    kind: np.ndarray
    concepts: np.ndarray
    anchor: np.ndarray
    twin: np.ndarray
    concept_rgb: np.ndarray
    concept_audio: np.ndarray
    overlay_rgb: np.ndarray
    overlay_audio: np.ndarray

    @property
    def lure_classes(self) -> np.ndarray:
        return np.flatnonzero(np.isin(self.kind, LURE_KINDS))


def draw_kinds(config, seed_rng: np.random.Generator, rgb_prototypes, audio_prototypes, num_modes, mode_weights,
               visual_strength, audio_strength) -> ClassKinds:
    """Assign kinds (counts = round(fraction · C), order even) to a random set of classes and give them
    their looks; edits prototypes, modes and strengths in place for anchored and concept classes."""
    rng = seed_rng
    c = len(num_modes)
    counts = {kind: int(round(getattr(config, f"{KIND_NAMES[kind]}_fraction") * c)) for kind in (CONJUNCTION, ORDER, CHANGE, ANCHORED, LOCALIZED)}
    counts[ORDER] -= counts[ORDER] % 2
    if config.apart_twins:  # half of the conjunction (change) classes become the other half's apart twins
        counts[CONJUNCTION] -= counts[CONJUNCTION] % 2
        counts[CHANGE] -= counts[CHANGE] % 2
    kind = np.full(c, PLAIN, dtype=np.int8)
    order = rng.permutation(c)
    at = 0
    for k, n in counts.items():
        n = min(n, c - at)
        kind[order[at: at + n]] = k
        at += n
    twin = np.full(c, -1, dtype=np.int64)
    if config.apart_twins:
        for k in (CONJUNCTION, CHANGE):
            members = np.flatnonzero(kind == k)
            pairs, apart = members[: len(members) // 2], members[len(members) // 2:]
            kind[apart] = APART
            twin[pairs], twin[apart] = apart, pairs
    concepts = np.full((c, 2), -1, dtype=np.int64)
    anchor = np.full(c, -1, dtype=np.int64)
    rgb_looks, audio_looks = [], []

    def new_concepts(owner: int, share: float = 1.0) -> list[int]:
        for looks, size, strength in ((rgb_looks, rgb_prototypes.shape[-1], visual_strength), (audio_looks, audio_prototypes.shape[-1], audio_strength)):
            looks.extend(_unit(rng.standard_normal((2, size))) * (strength[owner] * share))
        return [len(rgb_looks) - 2, len(rgb_looks) - 1]

    for cls_id in np.flatnonzero(np.isin(kind, (CONJUNCTION, CHANGE))):
        # a conjunction shows both concepts at once: each at 1/√2, so the pair has a plain class's energy
        concepts[cls_id] = new_concepts(cls_id, np.sqrt(0.5) if kind[cls_id] == CONJUNCTION else 1.0)
    concepts[kind == APART] = concepts[twin[kind == APART]]
    twins = np.flatnonzero(kind == ORDER)
    for first, second in zip(twins[0::2], twins[1::2]):
        a, b = new_concepts(first)
        concepts[first], concepts[second] = (a, b), (b, a)
    concept_classes = np.isin(kind, CONCEPT_KINDS)
    rgb_prototypes[concept_classes] = 0.0  # their look is the concepts
    audio_prototypes[concept_classes] = 0.0

    anchored = np.flatnonzero(kind == ANCHORED)
    anchors = np.flatnonzero(np.isin(kind, (PLAIN, LOCALIZED)))
    if len(anchored) and not len(anchors):
        raise ValueError("SynthConfig: anchored classes need plain or localized classes to average to")
    if len(anchored) and rgb_prototypes.shape[1] < 2:
        raise ValueError("SynthConfig: anchored classes need max_modes >= 2")
    for cls_id in anchored:
        d = int(anchors[rng.integers(len(anchors))])
        anchor[cls_id] = d
        num_modes[cls_id] = 2
        mode_weights[cls_id] = 0.0
        mode_weights[cls_id, :2] = 0.5
        for protos, strength in ((rgb_prototypes, visual_strength), (audio_prototypes, audio_strength)):
            look = protos[d, 0].astype(np.float64)
            r = rng.standard_normal(len(look))
            offset = _unit(r - (r @ look) * look) * ANCHOR_OFFSET
            protos[cls_id] = 0.0
            protos[cls_id, 0], protos[cls_id, 1] = _unit(look + offset), _unit(look - offset)
            strength[cls_id] = strength[d] * np.linalg.norm(look + offset)  # the mean of the modes = the anchor's look

    empty = lambda size: np.zeros((0, size), dtype=np.float32)  # noqa: E731
    return ClassKinds(
        kind=kind, concepts=concepts, anchor=anchor, twin=twin,
        concept_rgb=np.asarray(rgb_looks, dtype=np.float32) if rgb_looks else empty(rgb_prototypes.shape[-1]),
        concept_audio=np.asarray(audio_looks, dtype=np.float32) if audio_looks else empty(audio_prototypes.shape[-1]),
        overlay_rgb=_unit(rng.standard_normal((N_OVERLAY_STYLES, rgb_prototypes.shape[-1]))).astype(np.float32),
        overlay_audio=_unit(rng.standard_normal((N_OVERLAY_STYLES, audio_prototypes.shape[-1]))).astype(np.float32),
    )


def localize(kinds: ClassKinds, labels: np.ndarray, visible: np.ndarray, shot_bounds: np.ndarray, max_frames: int,
             rng: np.random.Generator, parents: np.ndarray) -> None:
    """Cut each localized label's visibility down to one span of 2..max_frames frames in one of its shots;
    a label that is the parent of another one stays visible wherever its child is (`parents` bool [K])."""
    for j in np.flatnonzero((kinds.kind[labels] == LOCALIZED) & ~parents):
        frames = np.flatnonzero(visible[:, j])
        if not len(frames):
            continue
        shot = np.searchsorted(shot_bounds, frames[rng.integers(len(frames))], side="right") - 1
        lo, hi = int(shot_bounds[max(shot, 0)]), int(shot_bounds[max(shot, 0) + 1])
        span = min(hi - lo, int(rng.integers(2, max_frames + 1)))
        start = lo + int(rng.integers(0, hi - lo - span + 1))
        visible[:, j] = False
        visible[start: start + span, j] = True


def place_concepts(kinds: ClassKinds, labels: np.ndarray, visible: np.ndarray, shot_bounds: np.ndarray, lure_rate: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(concept ids [Q], concept visibility bool [T, Q]) of one video: the concepts of its concept-kind
    labels where those are visible, then Poisson(lure_rate) lures of other classes. An apart label is
    placed like its twin's lure on the label's frames, and is then visible where its concepts are (its
    frames, and for a conjunction's twin the frames of other shots that show B)."""
    frames = visible.shape[0]
    ids, columns = [], []
    shot_of = np.repeat(np.arange(len(shot_bounds) - 1), np.diff(shot_bounds))  # frames of the body only
    offset = shot_bounds[0]

    def show(concept: int, where) -> None:
        column = np.zeros(frames, dtype=bool)
        column[where] = True
        ids.append(int(concept))
        columns.append(column)

    for j in np.flatnonzero(np.isin(kinds.kind[labels], CONCEPT_KINDS)):
        (a, b), kind, shown = kinds.concepts[labels[j]], kinds.kind[labels[j]], np.flatnonzero(visible[:, j])
        if kind == CONJUNCTION:
            show(a, shown)
            show(b, shown)
        elif kind == ORDER:
            half = (len(shown) + 1) // 2
            show(a, shown[:half])
            show(b, shown[half:])
        elif kind == APART:
            first, second = _lure_footprint(kinds.kind[kinds.twin[labels[j]]], visible[:, j], shot_of, offset, rng)
            show(a, first)
            show(b, second)
            visible[first, j] = visible[second, j] = True  # a conjunction's twin also shows B in other shots
        else:  # CHANGE
            show(a, shown[0::2])
            show(b, shown[1::2])
    lure_classes = kinds.lure_classes
    if len(lure_classes) and lure_rate > 0 and len(labels):
        for _ in range(rng.poisson(lure_rate)):
            cls_id = int(lure_classes[rng.integers(len(lure_classes))])
            if cls_id in labels:
                continue
            footprint = _lure_footprint(kinds.kind[cls_id], visible[:, rng.integers(len(labels))], shot_of, offset, rng)
            for concept, where in zip(kinds.concepts[cls_id], footprint):
                show(concept, where)
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros((frames, 0), dtype=bool)
    return np.asarray(ids, dtype=np.int64), np.stack(columns, axis=1)


def _lure_footprint(kind: int, footprint: np.ndarray, shot_of: np.ndarray, offset: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Frames of a lure's two concepts, each alone, in the amount a real label would show them: the
    footprint is a label of the video (where that label is visible). A change lure puts A and B in
    alternate shots of the footprint (a change class alternates them frame by frame: the same number
    of frames of each); a conjunction lure puts A on the footprint and B on as many frames of other
    shots (a conjunction shows both on the footprint)."""
    frames = np.flatnonzero(footprint)
    frames = frames[(frames >= offset) & (frames < offset + len(shot_of))]
    shots = np.unique(shot_of[frames - offset])
    if kind == CHANGE or len(shots) == len(np.unique(shot_of)):
        first = rng.permutation(shots)[: (len(shots) + 1) // 2] if len(shots) > 1 else shots
        in_first = np.isin(shot_of[frames - offset], first)
        if len(shots) == 1:  # one shot: its first half and second half
            in_first = np.arange(len(frames)) < (len(frames) + 1) // 2
        return frames[in_first], frames[~in_first]
    others = np.flatnonzero(~np.isin(shot_of, shots)) + offset  # frames of shots outside the footprint
    start = int(rng.integers(0, max(len(others) - len(frames), 0) + 1))
    return frames, others[start: start + len(frames)]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)
