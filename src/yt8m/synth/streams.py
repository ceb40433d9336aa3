"""Per-video random streams: np.random.default_rng([seed, split code, video index, stream]).

Any video's truth, features and sparse scores come from its own streams, so a video never depends
on shards, chunks or worker processes.
"""

from __future__ import annotations

import numpy as np

SPLIT_CODES = {"train": 1, "validate": 2, "test": 3, "segment_validate": 4, "segment_test": 5, "pca": 9}
STREAM_TRUTH, STREAM_FEATURES, STREAM_SPARSE, STREAM_STRUCTURE = 0, 1, 2, 3  # STRUCTURE: version 3


def video_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    """The random stream of one video (independent of shards and worker processes)."""
    return np.random.default_rng([seed, SPLIT_CODES[split], index, stream])
