"""The synthetic YouTube-8M generator: a world of classes and appearances, videos drawn from it, and
their records written in the official layout (docs/synthetic.md).

Imports run one way: config (+ probes) -> streams -> kinds -> truth -> render -> world -> sparse -> dataset; `yt8m.data`
holds only what feeds training.
"""

from .config import GENERATOR_VERSION, LEVELS, PRESETS, SPLITS, SynthConfig
from .dataset import generate, generate_config, load_world
from .truth import MAIN, MINOR, VideoTruth, sample_truth
from .world import World

__all__ = [
    "GENERATOR_VERSION", "LEVELS", "MAIN", "MINOR", "PRESETS", "SPLITS", "SynthConfig", "VideoTruth", "World",
    "generate", "generate_config", "load_world", "sample_truth",
]
