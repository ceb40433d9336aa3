"""Frame selection applied per video before batching: skip the intro, then pick frames.

Strategies (the official model_utils definitions, made deterministic given a numpy Generator):
- "all": the first `max_frames` frames;
- "random": `num_samples` frames drawn uniformly with replacement from the valid frames, kept in
  temporal order so recurrent models still see time moving forward;
- "window": one random contiguous window of `num_samples` frames (shorter videos give all frames).
"""

from __future__ import annotations

import numpy as np

STRATEGIES = ("all", "random", "window")


def select_frames(
    num_frames: int,
    *,
    strategy: str = "all",
    max_frames: int = 300,
    num_samples: int = 30,
    skip_frames: int = 0,
    rng: np.random.Generator | None = None,
) -> np.ndarray | slice:
    """Indices (or a slice) of the frames to keep for a video with `num_frames` frames.

    `skip_frames` drops the first N frames (seed 002 skips 20 uninformative intro seconds); a video
    no longer than N keeps all its frames rather than becoming empty.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown frame sampling {strategy!r}: use one of {', '.join(STRATEGIES)}")
    start = skip_frames if num_frames > skip_frames else 0
    available = num_frames - start
    if strategy == "all" or available <= 0:
        return slice(start, start + min(available, max_frames))
    if rng is None:
        raise ValueError(f"frame sampling {strategy!r} needs a random generator")
    k = min(num_samples, max_frames)
    if strategy == "random":
        return start + np.sort(rng.integers(0, available, size=k))
    first = int(rng.integers(0, max(available - k, 0) + 1))
    return slice(start + first, start + first + min(k, available))
