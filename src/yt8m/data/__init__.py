"""Datasets and loaders for torch, frame sampling and the vocabulary (the synthetic generator is yt8m.synth).

Names load lazily so the generator's worker processes (which read the vocabulary module) do not import torch.
"""

from importlib import import_module

_EXPORTS = {
    "DataConfig": ".loader",
    "VideoDataset": ".loader",
    "collate": ".loader",
    "make_loader": ".loader",
    "segment_examples": ".loader",
    "video_example": ".loader",
    "select_frames": ".sampling",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
