"""Small synthetic video files (PyAV's own encoders) for tests and benchmarks: colour patterns and tones.

`write_video` draws a diagonal colour gradient of hue `hue` that drifts over time (every frame differs,
so the encoder does real work) and, optionally, a sine tone of `tone_hz`; two videos with different
hue/tone have clearly different rgb and audio features. `damage` writes a file that opens but breaks.
"""

from __future__ import annotations

import colorsys
import os
from pathlib import Path

import numpy as np

from .decode import _av


def _pattern(width: int, height: int, hue: float) -> np.ndarray:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, 0.9, 0.9)
    y, x = np.mgrid[0:height, 0:width]
    ramp = ((x / max(width, 1) + y / max(height, 1)) / 2)[..., None]
    return (255 * np.clip(ramp * np.array([r, g, b]) + (1 - ramp) * np.array([b, r, g]) * 0.4, 0, 1)).astype(np.uint8)


def write_video(path: str | os.PathLike, *, seconds: float = 4.0, width: int = 96, height: int = 64, fps: int = 10,
                hue: float = 0.0, tone_hz: float | None = 440.0, codec: str = "mpeg4", bit_rate: int | None = None,
                gop: int | None = None, options: dict[str, str] | None = None) -> Path:
    """Encode a test video; returns its path. The container follows the suffix (.mp4, .mkv, ...)."""
    av = _av()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = np.concatenate([_pattern(width, height, hue)] * 2, axis=1)  # wide strip, a window slides over it
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps, options=options or {})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if bit_rate:
            video.bit_rate = bit_rate
        if gop:
            video.codec_context.gop_size = gop
        sound = None
        if tone_hz is not None:
            sound = container.add_stream("aac", rate=16_000)
            sound.layout = "mono"
        frames = int(round(seconds * fps))
        for i in range(frames):
            shift = (i * 3) % width
            image = np.ascontiguousarray(base[:, shift : shift + width])
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            rate, chunk = 16_000, 1024
            total = int(seconds * rate)
            t = np.arange(total) / rate
            wave = (0.3 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
            for start in range(0, total, chunk):
                piece = wave[start : start + chunk]
                frame = av.AudioFrame.from_ndarray(piece[None, :], format="fltp", layout="mono")
                frame.sample_rate, frame.pts = rate, start
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path


def damage(source: str | os.PathLike, target: str | os.PathLike, keep: float = 0.3, garbage: int = 2048) -> Path:
    """A copy of `source` cut after `keep` of its bytes, then `garbage` random bytes (fails to open, to decode, or ends early)."""
    data = Path(source).read_bytes()
    cut = int(len(data) * keep)
    target = Path(target)
    target.write_bytes(data[:cut] + bytes(np.random.default_rng(0).integers(0, 256, garbage, dtype=np.uint8)))
    return target
