"""Datasets and loaders for torch, frame sampling, the synthetic generator and the vocabulary."""

from .loader import DataConfig, VideoDataset, collate, make_loader, segment_examples, video_example
from .sampling import select_frames

__all__ = ["DataConfig", "VideoDataset", "collate", "make_loader", "segment_examples", "select_frames", "video_example"]
