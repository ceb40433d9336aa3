"""Sparse base-classifier outputs for MiCRObE (seed 000, §3.1 and §5): two image classifiers with
their own vocabularies, scoring every frame.

- "im" (Flickr-like, general): identical names for the world's general classes ("Self"), general
  terms shared by a few specific classes ("Canyon" for "Grand Canyon": specific ↔ general), scene
  terms fired by many classes of a vertical ("water" for "boat": visual co-occurrence), visual
  attributes (each appearance mode of a class shows two of a shared pool: one attribute is
  ambiguous, the pair identifies the class; a class with several modes shows different pairs), and
  noise.
- "tm" (thumbnail model, fine-grained): identical names for about half of the classes, 2–3
  finer kinds for a fifth of them ("African elephant" for "elephant"; a video shows one kind, chosen
  by the class's appearance mode in that video), confusions with co-occurring partner classes
  (thumbnails are noisy), and noise.

A base class linked to a visible class fires with probability 0.2 + 0.7·s (s = link strength, scaled
down for classes recognized mostly by sound) and a score ~ Beta(1 + 8s, 2 + 3(1 − s)); noise
features and random false positives fire at a rate of 0.8% of the vocabulary per frame. Together
about 1% of a vocabulary fires per frame (more in tiny vocabularies, where one visible class alone
is a few percent). Vocabulary sizes scale with the classes: im = max(64, C), tm = max(128, 3C).

The structure is drawn once per world from its seed (`base_classifiers`), the scores per video from
the video's own stream, so a video's sparse features never depend on shards or workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..io import SparseFrames

SOURCES = ("im", "tm")
SELF, GENERAL_TERM, FINE_KIND, SCENE_TERM, CONFUSION, NOISE, ATTRIBUTE = range(7)
KIND_NAMES = ("self", "general term", "fine-grained kind", "scene term", "confusion", "noise", "attribute")
NOISE_RATE = 0.006  # noise features firing per frame, as a fraction of the vocabulary
FALSE_POSITIVE_RATE = 0.002  # random vocabulary entries firing per frame (low scores)
_STRUCTURE_STREAM = 0x5BA5E
_SCENE_WORDS = ("Water", "Sky", "Grass", "Crowd", "Road", "Sand", "Tree", "Building", "Screen", "Stage", "Night", "Indoor",
                "Text", "Plate", "Table", "Metal", "Cloud", "Field", "Wall", "Light bulb", "Fabric", "Smoke", "Mountain",
                "Rock", "Wood", "Glass", "Paper", "Street", "Forest", "Desk")
_ATTRIBUTE_WORDS = ("Striped", "Metallic", "Furry", "Round", "Shiny", "Red", "Blue", "Green", "Wooden", "Crowded", "Blurry",
                    "Close-up", "Wet", "Bright", "Dark", "Tall", "Small", "Moving", "Patterned", "Smooth", "Rough",
                    "Colorful", "White", "Black", "Yellow", "Plastic", "Transparent", "Soft", "Sharp", "Curved")
_KIND_WORDS = ("African", "Asian", "Classic", "Modern", "Mini", "Giant", "Wild", "Vintage", "Northern", "Southern")
_SYLLABLES = "ka lo mi ne su ta ri po ve zu da fi".split()


def vocabulary_sizes(num_classes: int) -> dict[str, int]:
    """Vocabulary size per source for a world of `num_classes` classes."""
    return {"im": max(64, num_classes), "tm": max(128, 3 * num_classes)}


@dataclass
class BaseClassifier:
    """One base classifier's vocabulary and how its classes relate to the world's classes.

    `links_*` are per target class c (rows links_indptr[c]:links_indptr[c+1]): a base class that
    fires when c is visible, with strength s and kind (SELF, GENERAL_TERM, FINE_KIND, SCENE_TERM,
    CONFUSION, ATTRIBUTE); FINE_KIND and ATTRIBUTE links carry a variant `links_variant` (the
    video's appearance mode of c modulo `variants[c]` picks the variant shown).
    """

    source: str
    names: list[str]
    kind: np.ndarray  # int8 [V]: what each base class is
    same_name: np.ndarray  # int64 [V]: the world class with the identical name, -1 if none ("Self")
    links_indptr: np.ndarray  # int64 [C + 1]
    links_id: np.ndarray  # int64 [links]
    links_strength: np.ndarray  # float64 [links]
    links_kind: np.ndarray  # int8 [links]
    links_variant: np.ndarray  # int64 [links]: kind number for FINE_KIND, else -1
    variants: np.ndarray  # int64 [C]: fine-grained kinds of each class (0 if none)

    @property
    def size(self) -> int:
        return len(self.names)

    def links_of(self, cls_id: int) -> slice:
        return slice(int(self.links_indptr[cls_id]), int(self.links_indptr[cls_id + 1]))


_CACHE: dict[int, tuple[object, dict[str, BaseClassifier]]] = {}


def base_classifiers(world) -> dict[str, BaseClassifier]:
    """The two base classifiers of a world (drawn from its seed once, then cached)."""
    hit = _CACHE.get(id(world))
    if hit is not None and hit[0] is world:
        return hit[1]
    rng = np.random.default_rng([world.config.seed, _STRUCTURE_STREAM])
    result = {"im": _image_model(world, rng), "tm": _thumbnail_model(world, rng)}
    _CACHE.clear()
    _CACHE[id(world)] = (world, result)
    return result


def _unique_name(candidate: str, used: set[str], rng: np.random.Generator) -> str:
    name = candidate
    while name in used:
        name = f"{candidate} {''.join(rng.choice(_SYLLABLES, size=2)).capitalize()}"
    used.add(name)
    return name


def _assemble(source: str, names: list[str], kind: list[int], same_name: list[int], links: list[list[tuple[int, float, int, int]]],
              variants: np.ndarray) -> BaseClassifier:
    indptr = np.zeros(len(links) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in links], out=indptr[1:])
    flat = [item for per_class in links for item in per_class]
    return BaseClassifier(
        source, names, np.asarray(kind, np.int8), np.asarray(same_name, np.int64), indptr,
        np.asarray([x[0] for x in flat], np.int64), np.asarray([x[1] for x in flat], np.float64),
        np.asarray([x[2] for x in flat], np.int8), np.asarray([x[3] for x in flat], np.int64), variants,
    )


def _image_model(world, rng: np.random.Generator) -> BaseClassifier:
    """IM: general selves, general terms over groups of specific classes, scene terms, attributes, noise."""
    C = world.num_classes
    V = vocabulary_sizes(C)["im"]
    used = set(world.names)
    names: list[str] = []
    kind: list[int] = []
    same: list[int] = []
    links: list[list[tuple[int, float, int, int]]] = [[] for _ in range(C)]
    for g in np.flatnonzero(world.is_general):
        links[g].append((len(names), float(rng.uniform(0.6, 0.9)), SELF, -1))
        names.append(world.names[g])
        kind.append(SELF)
        same.append(int(g))
    n_scene = max(4, round(0.06 * C))
    n_attributes = max(8, round(0.25 * C))
    n_noise = max(8, round(0.2 * V))
    slots = max(V - len(names) - n_scene - n_attributes - n_noise, 0)
    # general terms: groups of 2-4 specific classes of one vertical share a term with another name
    specific = np.flatnonzero(~world.is_general)
    groups = []
    for v in range(len(world.vertical_names)):
        members = rng.permutation(specific[world.vertical[specific] == v])
        start = 0
        while start < len(members):
            size = int(rng.integers(2, 5))
            groups.append(members[start : start + size])
            start += size
    order = rng.permutation(len(groups))
    for gi in order[:slots]:
        term = len(names)
        names.append(_unique_name("".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4)))).capitalize(), used, rng))
        kind.append(GENERAL_TERM)
        same.append(-1)
        for c in groups[gi]:
            links[c].append((term, float(rng.uniform(0.35, 0.75)), GENERAL_TERM, -1))
    # scene terms: each vertical has 1-3; a class fires one of its vertical's with probability 0.6
    scene_ids = []
    for i in range(n_scene):
        scene_ids.append(len(names))
        word = _SCENE_WORDS[i % len(_SCENE_WORDS)]
        names.append(_unique_name(word if i < len(_SCENE_WORDS) else f"{word} {i // len(_SCENE_WORDS) + 1}", used, rng))
        kind.append(SCENE_TERM)
        same.append(-1)
    vertical_scenes = [rng.choice(scene_ids, size=int(rng.integers(1, 4)), replace=False) for _ in world.vertical_names]
    for c in range(C):
        if rng.random() < 0.6:
            links[c].append((int(rng.choice(vertical_scenes[world.vertical[c]])), float(rng.uniform(0.2, 0.45)), SCENE_TERM, -1))
    # attributes: every appearance mode of a class shows two attributes of a shared pool
    attribute_ids = []
    for i in range(n_attributes):
        attribute_ids.append(len(names))
        names.append(_unique_name(f"{_ATTRIBUTE_WORDS[i % len(_ATTRIBUTE_WORDS)]}{'' if i < len(_ATTRIBUTE_WORDS) else f' {i // len(_ATTRIBUTE_WORDS) + 1}'}", used, rng))
        kind.append(ATTRIBUTE)
        same.append(-1)
    variants = np.asarray(world.num_modes, dtype=np.int64).copy()
    attribute_pool = np.asarray(attribute_ids)  # once: a list would be converted on every draw (quadratic in C)
    for c in range(C):
        for m in range(variants[c]):
            for a in rng.choice(attribute_pool, size=2, replace=False):
                links[c].append((int(a), float(rng.uniform(0.45, 0.75)), ATTRIBUTE, m))
    while len(names) < V:
        names.append(_unique_name(f"Noise {len(names)}", used, rng))
        kind.append(NOISE)
        same.append(-1)
    return _assemble("im", names, kind, same, links, variants)


def _thumbnail_model(world, rng: np.random.Generator) -> BaseClassifier:
    """TM: identical names for ~55% of classes, 2-3 finer kinds for ~20%, partner confusions, noise."""
    C = world.num_classes
    V = vocabulary_sizes(C)["tm"]
    used = set(world.names)
    names: list[str] = []
    kind: list[int] = []
    same: list[int] = []
    links: list[list[tuple[int, float, int, int]]] = [[] for _ in range(C)]
    order = rng.permutation(C)
    n_self, n_fine = round(0.55 * C), round(0.2 * C)
    entry = np.full(C, -1, dtype=np.int64)  # a TM class that stands for c (for confusions)
    variants = np.zeros(C, dtype=np.int64)
    for c in order[:n_self]:
        entry[c] = len(names)
        links[c].append((len(names), float(rng.uniform(0.25, 0.9)), SELF, -1))
        names.append(world.names[c])
        kind.append(SELF)
        same.append(int(c))
    for c in order[n_self : n_self + n_fine]:
        variants[c] = int(rng.integers(2, 4))
        words = rng.choice(_KIND_WORDS, size=variants[c], replace=False)
        entry[c] = len(names)
        for v, word in enumerate(words):
            links[c].append((len(names), float(rng.uniform(0.55, 0.95)), FINE_KIND, v))
            names.append(_unique_name(f"{word} {world.names[c].lower()}", used, rng))
            kind.append(FINE_KIND)
            same.append(-1)
    for c in range(C):  # thumbnails confuse a class with its co-occurrence partners
        for partner in dict.fromkeys(world.partners[c, rng.choice(world.partners.shape[1], size=2, replace=False)].tolist()):
            if entry[partner] >= 0 and partner != c:
                links[c].append((int(entry[partner]), float(rng.uniform(0.2, 0.45)), CONFUSION, -1))
    while len(names) < V:
        names.append(_unique_name(f"Noise {len(names)}", used, rng))
        kind.append(NOISE)
        same.append(-1)
    return _assemble("tm", names, kind, same, links, variants)


# ----------------------------------------------------------------------------------------------
# per video


def _fire(model: BaseClassifier, world, truth, rng: np.random.Generator) -> SparseFrames:
    T = truth.num_frames
    V = model.size
    frames, ids, scores = [], [], []
    visual = np.minimum(1.0, np.asarray(world.visual_strength, dtype=np.float64))
    for k, c in enumerate(truth.labels):
        shown = np.flatnonzero(truth.visible[:, k])
        sl = model.links_of(int(c))
        link_ids, strength, variant = model.links_id[sl], model.links_strength[sl], model.links_variant[sl]
        if model.variants[c]:
            keep = (variant < 0) | (variant == truth.modes[k] % model.variants[c])
            link_ids, strength = link_ids[keep], strength[keep]
        if shown.size == 0 or link_ids.size == 0:
            continue
        s = strength * visual[c]
        fires = rng.random((shown.size, link_ids.size)) < (0.2 + 0.7 * s)
        t_idx, l_idx = np.nonzero(fires)
        frames.append(shown[t_idx])
        ids.append(link_ids[l_idx])
        scores.append(rng.beta(1 + 8 * s[l_idx], 2 + 3 * (1 - s[l_idx])))
    noise_pool = np.flatnonzero(model.kind == NOISE)
    for pool, rate, low in ((noise_pool, NOISE_RATE, (1.5, 4.0)), (np.arange(V), FALSE_POSITIVE_RATE, (1.2, 6.0))):
        if pool.size == 0:
            continue
        n = rng.poisson(rate * V, size=T)
        frames.append(np.repeat(np.arange(T), n))
        ids.append(pool[rng.integers(pool.size, size=int(n.sum()))])
        scores.append(rng.beta(*low, size=int(n.sum())))
    t = np.concatenate(frames) if frames else np.zeros(0, np.int64)
    f = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    x = np.concatenate(scores).astype(np.float32) if scores else np.zeros(0, np.float32)
    x = np.clip(x, 1e-4, 1.0).astype(np.float32)
    # one score per (frame, class): the highest
    order = np.lexsort((-x, f, t))
    t, f, x = t[order], f[order], x[order]
    first = np.ones(len(t), dtype=bool)
    first[1:] = (t[1:] != t[:-1]) | (f[1:] != f[:-1])
    t, f, x = t[first], f[first], x[first]
    offsets = np.zeros(T + 1, dtype=np.int64)
    np.cumsum(np.bincount(t, minlength=T), out=offsets[1:])
    return SparseFrames(f.astype(np.int32), x, offsets)


def sparse_frame_features(world, truth, rng: np.random.Generator, config) -> dict[str, SparseFrames]:
    """The generator's hook: per requested source ("im", "tm") the video's sparse frame scores."""
    models = base_classifiers(world)
    unknown = [s for s in config.sparse_features if s not in models]
    if unknown:
        raise ValueError(f"unknown sparse feature {unknown[0]!r}: the synthetic base classifiers are {', '.join(SOURCES)}")
    base = int(rng.integers(2**62))  # one stream per source: asking for "tm" alone gives the same "tm"
    return {source: _fire(models[source], world, truth, np.random.default_rng([base, SOURCES.index(source)]))
            for source in config.sparse_features}


def self_map(world) -> dict[str, np.ndarray]:
    """Per source, the world class each base class shares its name with (-1 if none): the
    paper's "Self" predictor reads these scores as label scores."""
    return {source: model.same_name.copy() for source, model in base_classifiers(world).items()}
