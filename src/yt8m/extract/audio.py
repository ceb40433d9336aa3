"""Audio features per sampled frame: a 64-band log-mel front end, summarized to 128 numbers.

Front end as VGGish (Hershey et al. 2017), the model behind the dataset's audio: 16 kHz mono, 25 ms
Hann windows every 10 ms, |FFT 512|, 64 mel bands (HTK scale) over 125-7500 Hz, log(mel + 0.01).
Instead of VGGish's learned embedding (its weights do not ship offline) the 128-d vector of frame k is
a documented fixed projection of the log-mel patch of [k/fps, (k+1)/fps): the mean and the standard
deviation of each band over time ([mean 64; std 64]). `fit-pca` then whitens it like the rgb stream,
so it is quantized in the same [-2, 2] range. Missing samples (audio shorter than the video) are silence.
"""

from __future__ import annotations

import numpy as np

from .decode import AUDIO_RATE

WINDOW, HOP, FFT = 400, 160, 512  # 25 ms, 10 ms
BANDS, FMIN, FMAX = 64, 125.0, 7500.0
LOG_OFFSET = 0.01
EMBEDDING_SIZE = 2 * BANDS


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_matrix(bands: int = BANDS, fmin: float = FMIN, fmax: float = FMAX, fft: int = FFT, rate: int = AUDIO_RATE) -> np.ndarray:
    """[fft/2 + 1, bands] triangular filters, equally spaced on the HTK mel scale (DC bin gets no weight)."""
    bins = _hz_to_mel(np.linspace(0.0, rate / 2, fft // 2 + 1))
    edges = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), bands + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower) / (center - lower)
    falling = (upper - bins[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0] = 0.0
    return weights.astype(np.float32)


_MEL = mel_matrix()
_HANN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)).astype(np.float32)  # periodic Hann


def log_mel(samples: np.ndarray) -> np.ndarray:
    """float32 [n] at 16 kHz -> [frames, 64] log-mel (frames = 1 + (n - 400) // 160, at least 1)."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < WINDOW:
        samples = np.pad(samples, (0, WINDOW - len(samples)))
    count = 1 + (len(samples) - WINDOW) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(samples, WINDOW)[::HOP][:count] * _HANN
    magnitude = np.abs(np.fft.rfft(frames, n=FFT, axis=1)).astype(np.float32)
    return np.log(magnitude @ _MEL + LOG_OFFSET)


def embed(samples: np.ndarray) -> np.ndarray:
    """One sampled frame's audio window -> float32 [128] = [band means; band standard deviations]."""
    patch = log_mel(samples)
    return np.concatenate([patch.mean(axis=0), patch.std(axis=0)]).astype(np.float32)


class AudioWindows:
    """Streaming: feed 16 kHz chunks, take one embedding per sampled frame; keeps < 2 windows of samples."""

    def __init__(self, fps: float = 1.0) -> None:
        self.window = int(round(AUDIO_RATE / fps))
        self._chunks: list[np.ndarray] = []
        self._buffered = 0
        self.done: list[np.ndarray] = []

    def add(self, samples: np.ndarray) -> None:
        self._chunks.append(samples)
        self._buffered += len(samples)
        while self._buffered >= self.window:
            buffer = np.concatenate(self._chunks)
            self.done.append(embed(buffer[: self.window]))
            rest = buffer[self.window :]
            self._chunks, self._buffered = [rest], len(rest)

    def take(self, count: int) -> np.ndarray:
        """The first `count` embeddings [count, 128], completing missing ones with silence; they are removed."""
        if len(self.done) < count and self._buffered:
            buffer = np.concatenate(self._chunks)
            self.done.append(embed(np.pad(buffer, (0, self.window - len(buffer)))))
            self._chunks, self._buffered = [], 0
        while len(self.done) < count:
            self.done.append(embed(np.zeros(self.window, np.float32)))
        out, self.done = self.done[:count], self.done[count:]
        return np.stack(out) if out else np.zeros((0, EMBEDDING_SIZE), np.float32)
