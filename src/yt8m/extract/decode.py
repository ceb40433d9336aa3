"""Decode a video file at a fixed frame rate (PyAV, FFmpeg bundled in its wheels), audio in the same pass.

Frame k of the output is the first decoded frame whose time (from the first frame) is >= k / fps, the
frame the official extractor's OpenCV seek returns; a frame that covers several sample times is repeated.
Only sampled frames are converted to RGB, resized straight to the backbone's square input by swscale
(as the official Inception graph resized whole frames). Audio comes out resampled to 16 kHz mono float.
One demux pass, nothing buffered beyond the current packet: memory does not depend on the video's length.
A file whose frames stop well before the duration its container declares is reported as damaged.
"""

from __future__ import annotations

import math
import os
from typing import Iterator

import numpy as np

AUDIO_RATE = 16_000


class VideoDecodeError(RuntimeError):
    """A video cannot be opened or decoded; names the file and what failed."""

    def __init__(self, path: str | os.PathLike, message: str) -> None:
        super().__init__(f"video {os.fspath(path)}: {message}")
        self.path = os.fspath(path)


def _av():
    try:
        import av
    except ImportError:
        raise ImportError("video decoding needs PyAV: pip install 'yt8m[extract]'") from None
    return av


def decode(path: str | os.PathLike, *, fps: float = 1.0, max_frames: int = 300, image_size: int = 224,
           audio: bool = True, threads: int = 1) -> Iterator[tuple[str, int, np.ndarray]]:
    """Yield ("frame", k, uint8 [S, S, 3]) for k = 0, 1, ... and ("audio", 0, float32 [n]) chunks in file order.

    `max_frames=0` decodes the whole video. Raises VideoDecodeError (file and cause) on damaged input.
    """
    av = _av()
    try:
        container = av.open(os.fspath(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise VideoDecodeError(path, f"cannot open: {error}") from None
    try:
        if not container.streams.video:
            raise VideoDecodeError(path, "has no video stream")
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        video.codec_context.thread_count = max(threads, 1)
        sound = container.streams.audio[0] if audio and container.streams.audio else None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE) if sound is not None else None
        frame_limit = max_frames or math.inf
        sample_limit = frame_limit / fps * AUDIO_RATE
        next_k, samples, start, t = 0, 0, None, 0.0
        video_done, audio_done = False, sound is None
        streams = [video] if sound is None else [video, sound]
        try:
            for packet in container.demux(*streams):
                if packet.stream is video:
                    if video_done:
                        continue
                    for frame in packet.decode():
                        if frame.time is None:
                            continue
                        start = frame.time if start is None else start
                        t, image = frame.time - start, None
                        while next_k < frame_limit and t >= next_k / fps - 1e-6:
                            if image is None:
                                image = frame.to_ndarray(format="rgb24", width=image_size, height=image_size)
                            yield "frame", next_k, image
                            next_k += 1
                        if next_k >= frame_limit:
                            video_done = True
                            break
                elif not audio_done:
                    for frame in packet.decode():
                        for chunk in resampler.resample(frame):
                            data = chunk.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                            take = int(min(len(data), sample_limit - samples))
                            if take > 0:
                                yield "audio", 0, data[:take]
                            samples += max(take, 0)
                        if samples >= sample_limit:
                            audio_done = True
                            break
                if video_done and audio_done:
                    break
        except av.FFmpegError as error:
            raise VideoDecodeError(path, f"damaged after {next_k} sampled frames: {error}") from None
        if next_k == 0:
            raise VideoDecodeError(path, "no decodable video frames")
        duration = None if container.duration is None else container.duration / 1_000_000
        if next_k < frame_limit and duration is not None and t < duration - max(1.0, 1.5 / fps):
            raise VideoDecodeError(path, f"frames end at {t:.1f} s of its {duration:.1f} s: truncated or damaged")
    finally:
        container.close()

