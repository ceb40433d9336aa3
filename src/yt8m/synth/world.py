"""The fixed random structure behind a synthetic dataset: classes, verticals, hierarchy, co-occurrence,
appearance prototypes and the feature pipeline (ReLU map + PCA whitening), for one (config, seed).

Everything here is drawn once from the seed; videos (truth.py) and their features
(render.py) are drawn from per-video streams, so any video can be regenerated on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.vocabulary import Vocabulary
from .config import SynthConfig
from .kinds import STRUCTURE_STREAM, ClassKinds, draw_kinds
from .render import FeatureMap, fit_feature_maps
from .truth import sample_truth

# The 24 top-level categories of the paper (Table 1, Figure 6) and their most frequent entities.
TABLE1 = {
    "Arts & Entertainment": ["Concert", "Animation", "Music video", "Dance", "Guitar", "Disc jockey", "Trailer"],
    "Autos & Vehicles": ["Vehicle", "Car", "Motorcycle", "Bicycle", "Aircraft", "Truck", "Boat"],
    "Beauty & Fitness": ["Fashion", "Hair", "Cosmetics", "Weight training", "Hairstyle", "Nail", "Mascara"],
    "Books & Literature": ["Book", "Harry Potter", "The Bible", "Writing", "Magazine", "Alice", "E-book"],
    "Business & Industrial": ["Train", "Model aircraft", "Fish", "Water", "Tractor pulling", "Advertising", "Landing"],
    "Computers & Electronics": ["Personal computer", "Video game console", "iPhone", "PlayStation 3",
                                "Tablet computer", "Xbox 360", "Microsoft Windows"],
    "Finance": ["Money", "Bank", "Foreign Exchange", "Euro", "United States Dollar", "Credit card", "Cash"],
    "Food & Drink": ["Food", "Cooking", "Recipe", "Cake", "Chocolate", "Egg", "Eating"],
    "Games": ["Video game", "Minecraft", "Action-adventure game", "Strategy video game", "Sports game",
              "Call of Duty", "Grand Theft Auto V"],
    "Health": ["Medicine", "Raw food", "Ear", "Glasses", "Injury", "Dietary supplement", "Dental braces"],
    "Hobbies & Leisure": ["Fishing", "Outdoor recreation", "Radio-controlled model", "Wedding", "Christmas",
                          "Hunting", "Diving"],
    "Home & Garden": ["Gardening", "Home improvement", "House", "Kitchen", "Garden", "Door", "Swimming pool"],
    "Internet & Telecom": ["Mobile phone", "Smartphone", "Telephone", "Website", "Sony Xperia", "Google Nexus",
                           "World Wide Web"],
    "Jobs & Education": ["School", "University", "High school", "Teacher", "Kindergarten", "Campus", "Classroom"],
    "Law & Government": ["Tank", "Firefighter", "President of the U.S.A.", "Soldier", "President", "Police officer",
                         "Fighter aircraft"],
    "News": ["Weather", "Snow", "Rain", "News broadcasting", "Newspaper", "Mattel", "Hail"],
    "People & Society": ["Prayer", "Family", "Play-Doh", "Human", "Dragon", "Angel", "Tarot"],
    "Pets & Animals": ["Animal", "Dog", "Horse", "Cat", "Bird", "Aquarium", "Puppy"],
    "Real Estate": ["House", "Apartment", "Condominium", "Dormitory", "Mansion", "Skyscraper", "Loft"],
    "Reference": ["Vampire", "Bus", "River", "City", "Mermaid", "Village", "Samurai"],
    "Science": ["Nature", "Robot", "Eye", "Ice", "Biology", "Skin", "Light"],
    "Shopping": ["Toy", "LEGO", "Sledding", "Doll", "Shoe", "My Little Pony", "Nike, Inc."],
    "Sports": ["Motorsport", "Football", "Winter sport", "Cycling", "Basketball", "Gymnastics", "Wrestling"],
    "Travel": ["Amusement park", "Hotel", "Airport", "Beach", "Roller coaster", "Lake", "Resort"],
}
VERTICALS = tuple(TABLE1)
# Relative number of entities per vertical: the rough shape of Figure 6a (entertainment, vehicles
# and games dominate), not the real counts.
VERTICAL_CLASS_WEIGHTS = np.array(
    [16, 12, 3, 1.5, 4, 7, 1, 6, 14, 1.5, 4, 3, 2, 1.5, 2, 1, 3, 5, 1, 2.5, 2.5, 3, 8, 4], dtype=np.float64
)
# Verticals whose entities are largely recognised by sound (music, concerts, dance).
AUDIO_VERTICALS = ("Arts & Entertainment",)
N_INTRO_STYLES = 16
_SYLLABLES = ("ba be bi bo bu ca ce co da de di do fa fe fi ga go ha he ka ke ki ko la le li lo lu ma me mi mo "
              "na ne ni no nu pa pe pi po ra re ri ro ru sa se si so ta te ti to va ve vi vo za ze zo").split()
_KG_ALPHABET = "0123456789bcdfghjklmnpqrstvwxyz_"  # Freebase mid characters
_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SPACE = 62 ** 4
_WORLD_STREAM = 0x5EED

@dataclass
class World:
    """The fixed structure of a synthetic dataset (one per config and seed). Class ids are popularity
    ranks: class 0 is the most frequent, as in the real vocabulary.

    Attributes (C classes, M = config.max_modes, k = config.partners_per_class):
    - `names`, `knowledge_graph_ids`: per class strings (the vocabulary.csv columns).
    - `vertical_names`: the 24 top-level categories; `vertical` [C] index of Vertical1 and
      `secondary_verticals` [C, 2] (Vertical2/3 index or -1).
    - `popularity` [C]: Zipf weights (sum 1, decreasing) used to draw labels.
    - `is_general` [C]: the popular head entities of each vertical; `parent` [C]: the general entity a
      specific class is a kind of (-1 if none). A true specific label always implies its parent, and
      the parent is visible wherever the specific class is.
    - `partners` [C, k]: classes that co-occur strongly with a class (mostly same vertical); the
      co-occurrence structure is: partners, then same vertical, then global popularity.
    - `num_modes` [C], `mode_weights` [C, M]: appearance modes (multi-modal classes have > 1).
    - `visual_strength`, `audio_strength` [C]: how strongly a visible class drives the rgb / audio
      latent; `audio_dominant` [C] marks classes recognised mostly by sound.
    - `rgb_prototypes` [C, M, latent], `audio_prototypes` [C, M, audio latent]: unit-norm appearance
      directions per mode; `intro_rgb`, `intro_audio` [16, latent]: label-independent intro styles.
    - `rgb_map`, `audio_map`: the FeatureMap (ReLU layer + fitted PCA whitening) of each modality.
    - `rated_classes`: sorted class ids of segment_label_ids.csv.
    - `kinds`: each class's kind (plain, conjunction, order, change, anchored, localized; kinds.py),
      its concepts and anchor, and the shared overlay styles.
    """

    config: SynthConfig
    vertical_names: tuple[str, ...]
    names: list[str]
    knowledge_graph_ids: list[str]
    vertical: np.ndarray
    secondary_verticals: np.ndarray
    popularity: np.ndarray
    is_general: np.ndarray
    parent: np.ndarray
    partners: np.ndarray
    num_modes: np.ndarray
    mode_weights: np.ndarray
    visual_strength: np.ndarray
    audio_strength: np.ndarray
    audio_dominant: np.ndarray
    rgb_prototypes: np.ndarray
    audio_prototypes: np.ndarray
    intro_rgb: np.ndarray
    intro_audio: np.ndarray
    rgb_map: FeatureMap
    audio_map: FeatureMap
    rated_classes: np.ndarray
    kinds: ClassKinds
    id_multiplier: int
    id_shift: int
    vertical_members: list[np.ndarray] = field(repr=False, default_factory=list)
    _vertical_cdf: list[np.ndarray] = field(repr=False, default_factory=list)
    _global_cdf: np.ndarray = field(repr=False, default=None)
    _rated_cdf: np.ndarray = field(repr=False, default=None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, config: SynthConfig, *, fit_features: bool = True) -> "World":
        """Draw the structure from config.seed, then fit each modality's PCA on sample videos.

        fit_features=False skips the PCA (seconds): enough for labels, truths and side files.
        """
        rng = np.random.default_rng([config.seed, _WORLD_STREAM])
        c = config.num_classes
        ranks = np.arange(1, c + 1, dtype=np.float64)
        popularity = (ranks + config.zipf_offset) ** -config.zipf_exponent
        popularity /= popularity.sum()
        vertical = _assign_verticals(c, rng)
        secondary = np.full((c, 2), -1, dtype=np.int64)
        has_second = rng.random(c) < config.second_vertical_fraction
        secondary[has_second, 0] = _other_vertical(vertical[has_second], rng)
        has_third = has_second & (rng.random(c) < 0.2)
        third = _other_vertical(vertical[has_third], rng)
        secondary[has_third, 1] = np.where(third == secondary[has_third, 0], -1, third)
        members = [np.flatnonzero((vertical == v) | (secondary == v).any(axis=1)) for v in range(len(VERTICALS))]

        is_general, parent = _hierarchy(vertical, config, rng)
        partners = _partners(vertical, members, popularity, config.partners_per_class, rng)
        num_modes = np.ones(c, dtype=np.int64)
        multimodal = rng.random(c) < config.multimodal_fraction
        num_modes[multimodal] = rng.integers(2, config.max_modes + 1, size=int(multimodal.sum())) if config.max_modes > 1 else 1
        mode_weights = np.zeros((c, config.max_modes))
        for cls_id in range(c):
            mode_weights[cls_id, : num_modes[cls_id]] = rng.dirichlet(np.full(num_modes[cls_id], 3.0))

        audio_vertical = np.isin(vertical, [VERTICALS.index(v) for v in AUDIO_VERTICALS])
        audio_dominant = rng.random(c) < np.where(audio_vertical, 3.0, 0.5) * config.audio_dominant_fraction
        audio_strength = np.where(audio_vertical, 0.9, 0.3) * rng.lognormal(0.0, 0.25, c)
        audio_strength[audio_dominant] = 1.3 * rng.lognormal(0.0, 0.15, int(audio_dominant.sum()))
        visual_strength = rng.uniform(0.75, 1.25, c)
        visual_strength[audio_dominant] = rng.uniform(0.2, 0.4, int(audio_dominant.sum()))

        rgb_prototypes = _prototypes(config.rgb_latent_size, vertical, parent, num_modes, config, rng)
        audio_prototypes = _prototypes(config.audio_latent_size, vertical, parent, num_modes, config, rng)
        kinds = draw_kinds(  # own stream: a world without structured classes keeps its version-2 bytes
            config, np.random.default_rng([config.seed, STRUCTURE_STREAM]), rgb_prototypes, audio_prototypes, num_modes,
            mode_weights, visual_strength, audio_strength,
        )
        intro_rgb = _unit(rng.standard_normal((N_INTRO_STYLES, config.rgb_latent_size))) * 1.3
        intro_audio = _unit(rng.standard_normal((N_INTRO_STYLES, config.audio_latent_size))) * 1.3
        rgb_map = _random_map(config.rgb_latent_size, config.rgb_hidden_size, rng)
        audio_map = _random_map(config.audio_latent_size, config.audio_hidden_size, rng)

        lo, hi = min(3, c - 1), max(int(np.ceil(0.475 * c)), min(c, config.rated_classes + 3))
        rated = np.sort(rng.choice(np.arange(lo, hi), size=min(config.rated_classes, hi - lo), replace=False))
        id_multiplier = int(rng.integers(1, _ID_SPACE // 2)) * 2 + 1
        while id_multiplier % 31 == 0:
            id_multiplier += 2
        world = cls(
            config=config, vertical_names=VERTICALS, names=_names(vertical, rng),
            knowledge_graph_ids=_knowledge_graph_ids(c, rng), vertical=vertical, secondary_verticals=secondary,
            popularity=popularity, is_general=is_general, parent=parent, partners=partners, num_modes=num_modes,
            mode_weights=mode_weights, visual_strength=visual_strength.astype(np.float32),
            audio_strength=audio_strength.astype(np.float32), audio_dominant=audio_dominant,
            rgb_prototypes=rgb_prototypes, audio_prototypes=audio_prototypes,
            intro_rgb=intro_rgb.astype(np.float32), intro_audio=intro_audio.astype(np.float32),
            rgb_map=rgb_map, audio_map=audio_map, rated_classes=rated.astype(np.int64), kinds=kinds,
            id_multiplier=id_multiplier, id_shift=int(rng.integers(0, _ID_SPACE)), vertical_members=members,
        )
        world._index_samplers()
        if fit_features:
            fit_feature_maps(world)
        return world

    def _index_samplers(self) -> None:
        self._global_cdf = np.cumsum(self.popularity)
        self._vertical_cdf = [np.cumsum(self.popularity[m]) for m in self.vertical_members]
        self._rated_cdf = np.cumsum(self.popularity[self.rated_classes])

    # ------------------------------------------------------------------ sampling helpers
    @property
    def num_classes(self) -> int:
        return len(self.names)

    def draw_class(self, rng: np.random.Generator, vertical: int | None = None) -> int:
        """A class drawn by popularity, from the whole vocabulary or from one vertical's members."""
        if vertical is None:
            return int(min(np.searchsorted(self._global_cdf, rng.random() * self._global_cdf[-1], side="right"), self.num_classes - 1))
        cdf = self._vertical_cdf[vertical]
        members = self.vertical_members[vertical]
        return int(members[min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(members) - 1)])

    def draw_rated_class(self, rng: np.random.Generator) -> int:
        """A class of segment_label_ids.csv, drawn by popularity (segment videos have one)."""
        pos = np.searchsorted(self._rated_cdf, rng.random() * self._rated_cdf[-1], side="right")
        return int(self.rated_classes[min(pos, len(self.rated_classes) - 1)])

    def hierarchy_pairs(self) -> np.ndarray:
        """[(specific, general)] int64 [P, 2]: every class with a parent."""
        children = np.flatnonzero(self.parent >= 0)
        return np.stack([children, self.parent[children]], axis=1)

    def video_id(self, split: str, index: int) -> str:
        """A unique 4-character id (like the real ones) from a bijection of the global video number."""
        offset = 0
        for name in ("train", "validate", "test", "segment_validate", "segment_test"):
            if name == split:
                break
            offset += getattr(self.config, f"{name}_videos")
        number = (self.id_multiplier * (offset + index) + self.id_shift) % _ID_SPACE
        chars = []
        for _ in range(4):
            number, digit = divmod(number, 62)
            chars.append(_ID_ALPHABET[digit])
        return "".join(reversed(chars))

    def video_truth(self, split: str, index: int):
        """The VideoTruth (labels, shots, visibility, noisy labels, segment ratings) of one video."""
        return sample_truth(self, split, index)

    # ------------------------------------------------------------------ side files
    def vocabulary(self, train_video_count: np.ndarray | None = None) -> Vocabulary:
        """The vocabulary.csv contents; TrainVideoCount from the generated train labels."""
        c = self.num_classes
        counts = np.zeros(c, dtype=np.int64) if train_video_count is None else np.asarray(train_video_count)
        verticals = [
            tuple([self.vertical_names[self.vertical[i]]] + [self.vertical_names[v] if v >= 0 else "" for v in self.secondary_verticals[i]])
            for i in range(c)
        ]
        return Vocabulary(
            names=list(self.names), train_video_count=counts, knowledge_graph_ids=list(self.knowledge_graph_ids),
            wiki_urls=["https://en.wikipedia.org/wiki/" + name.replace(" ", "_") for name in self.names],
            verticals=verticals, wiki_descriptions=[self._description(i) for i in range(c)],
        )

    def _description(self, cls_id: int) -> str:
        text = f"{self.names[cls_id]} is a synthetic {self.vertical_names[self.vertical[cls_id]]} entity"
        if self.parent[cls_id] >= 0:
            text += f", a kind of {self.names[self.parent[cls_id]]}"
        partners = ", ".join(self.names[p] for p in dict.fromkeys(self.partners[cls_id].tolist()) if p != cls_id)
        return text + f". Often seen with {partners}." if partners else text + "."


# ---------------------------------------------------------------------- structure builders


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _assign_verticals(num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Vertical of each class: counts follow VERTICAL_CLASS_WEIGHTS (>= 1 each), order shuffled;
    fewer classes than verticals (probe worlds) take one random vertical each."""
    n = len(VERTICALS)
    if num_classes < n:
        return rng.permutation(n)[:num_classes]
    share = VERTICAL_CLASS_WEIGHTS / VERTICAL_CLASS_WEIGHTS.sum() * (num_classes - n)
    counts = 1 + np.floor(share).astype(np.int64)
    remainder = num_classes - counts.sum()
    counts[np.argsort(-(share - np.floor(share)), kind="stable")[:remainder]] += 1
    return rng.permutation(np.repeat(np.arange(n), counts))


def _other_vertical(vertical: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shift = rng.integers(1, len(VERTICALS), size=len(vertical))
    return (vertical + shift) % len(VERTICALS)


def _hierarchy(vertical: np.ndarray, config: SynthConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """General entities = the most popular classes of each vertical; some others get one as parent."""
    c = len(vertical)
    is_general = np.zeros(c, dtype=bool)
    parent = np.full(c, -1, dtype=np.int64)
    for v in range(len(VERTICALS)):
        members = np.flatnonzero(vertical == v)  # ascending id = descending popularity
        n_general = int(round(config.general_fraction * len(members)))
        if len(members) >= 5:
            n_general = max(n_general, 1)
        if n_general == 0:
            continue
        general = members[:n_general]
        is_general[general] = True
        specific = members[n_general:]
        chosen = specific[rng.random(len(specific)) < config.hierarchy_fraction]
        # more popular general entities collect more specific kinds
        weights = 1.0 / np.arange(1, n_general + 1)
        parent[chosen] = general[rng.choice(n_general, size=len(chosen), p=weights / weights.sum())]
    return is_general, parent


def _partners(vertical, members, popularity, k: int, rng: np.random.Generator) -> np.ndarray:
    """k co-occurrence partners per class, drawn by popularity from its vertical (global if too small)."""
    c = len(vertical)
    partners = np.empty((c, k), dtype=np.int64)
    for cls_id in range(c):
        pool = members[vertical[cls_id]]
        pool = pool[pool != cls_id]
        if len(pool) < k:
            pool = np.setdiff1d(np.arange(c), [cls_id])
        weights = popularity[pool] / popularity[pool].sum()
        partners[cls_id] = rng.choice(pool, size=k, replace=False, p=weights)
    return partners


def _prototypes(size: int, vertical, parent, num_modes, config: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """Unit-norm appearance directions [C, M, size]: vertical look + parent look + own look per mode.

    Modes of a class share only the vertical/parent part, so a multi-modal class is a union of
    separate clusters (what a mixture of experts can model better than one logistic).
    """
    c, m = len(vertical), config.max_modes
    vertical_dirs = _unit(rng.standard_normal((len(VERTICALS), size)))
    own = _unit(rng.standard_normal((c, m, size)))
    base = own + config.vertical_similarity * vertical_dirs[vertical][:, None, :]
    has_parent = parent >= 0
    base[has_parent] += config.parent_similarity * _unit(own[parent[has_parent], 0, :] + config.vertical_similarity * vertical_dirs[vertical[has_parent]])[:, None, :]
    protos = _unit(base)
    protos[np.arange(m)[None, :] >= num_modes[:, None]] = 0.0
    return protos.astype(np.float32)


def _random_map(latent: int, hidden: int, rng: np.random.Generator) -> FeatureMap:
    weight = rng.standard_normal((latent, hidden)).astype(np.float32)
    bias = (rng.standard_normal(hidden) * 0.5 - 0.25).astype(np.float32)
    return FeatureMap(weight=weight, bias=bias)


def _names(vertical: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Table 1 names for each vertical's most popular classes, unique pseudo-words for the rest."""
    names: list[str | None] = [None] * len(vertical)
    used: set[str] = set()
    for v, vertical_name in enumerate(VERTICALS):
        for rank, cls_id in enumerate(np.flatnonzero(vertical == v)[: len(TABLE1[vertical_name])]):
            name = TABLE1[vertical_name][rank]
            if name not in used:
                names[cls_id] = name
                used.add(name)
    for cls_id in range(len(vertical)):
        while names[cls_id] is None:
            word = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4)))).capitalize()
            if rng.random() < 0.3:
                word += " " + "".join(rng.choice(_SYLLABLES, size=2)).capitalize()
            if word not in used:
                names[cls_id] = word
                used.add(word)
    return names


def _knowledge_graph_ids(num_classes: int, rng: np.random.Generator) -> list[str]:
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < num_classes:
        mid = "/m/0" + "".join(rng.choice(list(_KG_ALPHABET), size=int(rng.integers(4, 7))))
        if mid not in seen:
            seen.add(mid)
            ids.append(mid)
    return ids
