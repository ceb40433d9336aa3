"""Features of a video from its truth: per-frame latents (class appearances, noise, intros), then the
feature pipeline (ReLU map + PCA whitening, fit once per world) and 8-bit quantization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..io import quantize
from .streams import STREAM_FEATURES, video_rng
from .truth import VideoTruth, sample_truth

if TYPE_CHECKING:
    from .world import World

PCA_FRAMES_PER_VIDEO = 32
PCA_EPSILON = 1e-4  # the official whitening: (x - mean) V / sqrt(eigenvalues + 1e-4)


@dataclass
class FeatureMap:
    """latent z -> h = ReLU(z W + b) (the "CNN activations") -> PCA + whitening, fit on a frame sample.

    Mirrors the official pipeline: Inception ReLU features, then `(h - mean) V / sqrt(λ + 1e-4)` with
    the top `size` eigenvectors V of the train-frame covariance; quantization happens after.
    """

    weight: np.ndarray  # float32 [latent, hidden]
    bias: np.ndarray  # float32 [hidden]
    mean_: np.ndarray = field(default=None)  # float32 [hidden]
    components_: np.ndarray = field(default=None)  # float32 [size, hidden] eigenvectors, largest first
    eigenvalues_: np.ndarray = field(default=None)  # float32 [size]
    projection_: np.ndarray = field(default=None, repr=False)  # float32 [hidden, size] = V / sqrt(λ + ε)
    offset_: np.ndarray = field(default=None, repr=False)  # float32 [size] = mean · projection
    total_variance_: float = 0.0  # of the hidden features (explained variance = eigenvalues_.sum() / this)

    def hidden(self, z: np.ndarray) -> np.ndarray:
        h = z @ self.weight
        h += self.bias
        return np.maximum(h, 0.0, out=h)

    def fit(self, z: np.ndarray, size: int) -> "FeatureMap":
        h = self.hidden(z)
        mean = h.mean(axis=0, dtype=np.float64)
        h -= mean.astype(np.float32)
        covariance = (h.T @ h).astype(np.float64) / len(h)  # float32 GEMM: fast, accurate enough here
        eigenvalues, vectors = np.linalg.eigh(covariance)
        self.total_variance_ = float(np.trace(covariance))
        order = np.argsort(eigenvalues)[::-1][:size]
        eigenvalues, vectors = np.maximum(eigenvalues[order], 0.0), vectors[:, order]
        vectors *= np.where(vectors.sum(axis=0) < 0, -1.0, 1.0)  # a fixed sign per eigenvector
        self.mean_ = mean.astype(np.float32)
        self.components_ = np.ascontiguousarray(vectors.T, dtype=np.float32)
        self.eigenvalues_ = eigenvalues.astype(np.float32)
        self.projection_ = np.ascontiguousarray(vectors / np.sqrt(eigenvalues + PCA_EPSILON), dtype=np.float32)
        self.offset_ = (mean @ self.projection_).astype(np.float32)
        return self

    def transform(self, z: np.ndarray) -> np.ndarray:
        """Whitened float32 features [frames, size] (before quantization)."""
        out = self.hidden(z) @ self.projection_
        out -= self.offset_
        return out


def fit_feature_maps(world: "World") -> None:
    """Fit both PCAs on frames of many train-like videos (the real PCA used frames of all train
    videos): PCA_FRAMES_PER_VIDEO random frames each, so video- and class-level directions are
    covered as well as frame-level ones."""
    rgb, audio, frames, index = [], [], 0, 0
    while frames < world.config.pca_sample_frames:
        truth = sample_truth(world, "pca", index)
        rng = video_rng(world.config.seed, "pca", index, STREAM_FEATURES)
        z_rgb, z_audio = latents(world, truth, rng)
        pick = rng.choice(truth.num_frames, size=min(PCA_FRAMES_PER_VIDEO, truth.num_frames), replace=False)
        rgb.append(z_rgb[pick])
        audio.append(z_audio[pick])
        frames += len(pick)
        index += 1
    world.rgb_map.fit(np.concatenate(rgb), world.config.rgb_size)
    world.audio_map.fit(np.concatenate(audio), world.config.audio_size)


def latents(world: "World", truth: VideoTruth, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame latent vectors (rgb [T, Lr], audio [T, La]) of a video, before the ReLU map."""
    cfg = world.config
    frame_shot = truth.frame_shots()
    body = frame_shot >= 0
    kinds = world.kinds
    concepts = truth.concept_ids is not None and len(truth.concept_ids) > 0
    out = []
    for prototypes, strength, intro, concept_looks, overlays, size in (
        (world.rgb_prototypes, world.visual_strength, world.intro_rgb, kinds.concept_rgb, kinds.overlay_rgb, cfg.rgb_latent_size),
        (world.audio_prototypes, world.audio_strength, world.intro_audio, kinds.concept_audio, kinds.overlay_audio, cfg.audio_latent_size),
    ):
        scale = np.float32(1.0 / np.sqrt(size))
        z = rng.standard_normal((truth.num_frames, size), dtype=np.float32) * (scale * np.float32(cfg.frame_noise))
        appearance = prototypes[truth.labels, truth.modes] * strength[truth.labels, None]  # [K, L]
        z += truth.visible.astype(np.float32) @ appearance
        z += rng.standard_normal(size, dtype=np.float32) * (scale * np.float32(cfg.video_noise))
        shots = rng.standard_normal((len(truth.shot_bounds) - 1, size), dtype=np.float32) * (scale * np.float32(cfg.shot_noise))
        z[body] += shots[frame_shot[body]]
        z[: truth.intro_frames] += intro[truth.intro_style]
        if truth.outro_frames:
            z[truth.num_frames - truth.outro_frames:] += intro[truth.outro_style]
        if concepts:
            z += truth.concept_visible.astype(np.float32) @ concept_looks[truth.concept_ids]
        if truth.overlay >= 0:
            z[body] += overlays[truth.overlay] * np.float32(cfg.overlay_strength)
        out.append(z)
    return out[0], out[1]


def render(world: "World", truth: VideoTruth) -> dict[str, np.ndarray]:
    """Quantized frame features {"rgb": uint8 [T, rgb_size], "audio": uint8 [T, audio_size]}."""
    return render_many(world, [truth])[0]


def render_many(world: "World", truths: list[VideoTruth]) -> list[dict[str, np.ndarray]]:
    """`render` for several videos at once: one large matrix product instead of many small ones."""
    per_video = [latents(world, t, video_rng(world.config.seed, t.split, t.index, STREAM_FEATURES)) for t in truths]
    bounds = np.cumsum([0] + [t.num_frames for t in truths])
    rgb = quantize(world.rgb_map.transform(np.concatenate([z for z, _ in per_video])))
    audio = quantize(world.audio_map.transform(np.concatenate([a for _, a in per_video])))
    return [{"rgb": rgb[lo:hi], "audio": audio[lo:hi]} for lo, hi in zip(bounds[:-1], bounds[1:])]
