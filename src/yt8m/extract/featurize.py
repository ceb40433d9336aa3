"""One video -> features: decoding in a background thread overlapped with backbone batches.

The decoder thread fills a bounded queue (`decode_queue` frames) and computes the audio embeddings
while the backbone runs on the previous batch (PyAV and torch release the GIL), so a worker keeps
one core busy on both. Rgb features are whitened and quantized batch by batch: a video holds at
most uint8 [frames, 1024] plus a float64 running sum, whatever its length.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..io.quantization import quantize
from .audio import AudioWindows
from .backbone import Backbone
from .config import ExtractConfig
from .decode import decode
from .pca import FeaturePCA

_END = object()


@dataclass
class VideoFeatures:
    rgb: np.ndarray  # uint8 [T, K]
    audio: np.ndarray  # uint8 [T, A]
    mean_rgb: np.ndarray  # float32 [K], mean of the unquantized whitened frames (official extractor)
    mean_audio: np.ndarray  # float32 [A]

    @property
    def num_frames(self) -> int:
        return len(self.rgb)


def _decode_into(path, cfg: ExtractConfig, frames: queue.Queue, audio: AudioWindows | None) -> None:
    try:
        for kind, _, data in decode(path, fps=cfg.fps, max_frames=cfg.max_frames, image_size=cfg.image_size,
                                    audio=audio is not None, threads=cfg.threads):
            if kind == "frame":
                frames.put(data)
            else:
                audio.add(data)
        frames.put(_END)
    except BaseException as error:  # handed to the consumer, which re-raises it with the file name
        frames.put(error)


def backbone_batches(path: str | os.PathLike, backbone: Backbone, cfg: ExtractConfig, audio: AudioWindows | None) -> Iterator[np.ndarray]:
    """Yield float32 [b, D] backbone features of the sampled frames, in order."""
    frames: queue.Queue = queue.Queue(maxsize=cfg.decode_queue)
    thread = threading.Thread(target=_decode_into, args=(path, cfg, frames, audio), daemon=True)
    thread.start()
    batch: list[np.ndarray] = []
    try:
        while True:
            item = frames.get()
            if isinstance(item, BaseException):
                raise item
            if item is _END or len(batch) == cfg.batch_size:
                if batch:
                    yield backbone(np.stack(batch))
                batch = []
            if item is _END:
                break
            batch.append(item)
    finally:
        while thread.is_alive():  # unblock the producer if the consumer stops early
            try:
                frames.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()


def raw_features(path, backbone: Backbone, cfg: ExtractConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """Unwhitened (rgb [T, D], audio [T, 128] or None) of one video: what fit-pca accumulates."""
    audio = AudioWindows(cfg.fps) if cfg.audio == "logmel" else None
    rgb = np.concatenate(list(backbone_batches(path, backbone, cfg, audio)))
    return rgb, (audio.take(len(rgb)) if audio is not None else None)


def extract_features(path, backbone: Backbone, cfg: ExtractConfig, pca: dict[str, FeaturePCA]) -> VideoFeatures:
    """Whitened, quantized features of one video in the official layout."""
    audio = AudioWindows(cfg.fps) if cfg.audio == "logmel" else None
    codes, total = [], np.zeros(pca["rgb"].output_size, np.float64)
    for features in backbone_batches(path, backbone, cfg, audio):
        whitened = pca["rgb"].transform(features)
        total += whitened.sum(axis=0, dtype=np.float64)
        codes.append(quantize(whitened))
    rgb = np.concatenate(codes)
    if audio is None:
        audio_float = np.zeros((len(rgb), cfg.audio_size), np.float32)  # "zero audio": codes quantize(0) = 128
    else:
        audio_float = pca["audio"].transform(audio.take(len(rgb)))
    return VideoFeatures(rgb, quantize(audio_float), (total / len(rgb)).astype(np.float32), audio_float.mean(axis=0).astype(np.float32))


__all__ = ["VideoFeatures", "backbone_batches", "extract_features", "raw_features"]
