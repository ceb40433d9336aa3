"""8-bit quantization exactly as the official dataset and feature extractor define it.

Dequantize (official reader): x = q * R/255 + (R/512 + min), R = max - min = 4.
Note the 512 (not 510): q=0 -> -1.9921875, q=255 -> 2.0078125. Reproduced on purpose.
Quantize (official extractor): q = round((clip(x, min, max) - min) * 255 / R), half to even.
"""

from __future__ import annotations

import numpy as np

MIN_QUANTIZED_VALUE = -2.0
MAX_QUANTIZED_VALUE = 2.0
_RANGE = MAX_QUANTIZED_VALUE - MIN_QUANTIZED_VALUE
SCALE = _RANGE / 255.0
BIAS = _RANGE / 512.0 + MIN_QUANTIZED_VALUE


def dequantize(q, min_value: float = MIN_QUANTIZED_VALUE, max_value: float = MAX_QUANTIZED_VALUE, *, out: np.ndarray | None = None):
    """uint8 codes -> float32 features (float32 q·scale + bias, like TF). Numpy arrays or torch tensors.

    `out` (numpy only) receives the result in place, e.g. the first rows of a zero-padded matrix.
    """
    value_range = max_value - min_value
    scale, bias = value_range / 255.0, value_range / 512.0 + min_value
    if isinstance(q, np.ndarray):
        out = np.multiply(q, np.float32(scale), out=out, dtype=np.float32)
        out += np.float32(bias)
        return out
    return q.float() * scale + bias  # torch.Tensor


def quantize(x, min_value: float = MIN_QUANTIZED_VALUE, max_value: float = MAX_QUANTIZED_VALUE) -> np.ndarray:
    """float features -> uint8 codes, as the official feature extractor writes them."""
    x = np.asarray(x, dtype=np.float32)
    value_range = max_value - min_value
    scaled = (np.clip(x, min_value, max_value) - np.float32(min_value)) * np.float32(255.0 / value_range)
    return np.rint(scaled).astype(np.uint8)  # rint = round half to even, like Python 3 round
