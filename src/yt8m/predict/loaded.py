"""`yt8m.load_model(path)`: a trained checkpoint ready to predict on records, arrays or files."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from ..data.loader import DataConfig, batch_to, collate, sparse_video_example, video_example
from ..data.sampling import select_frames as choose_frames
from ..io.records import VideoRecord
from ..train.build import build_model
from ..train.checkpoint import load_weights, read_meta, resolve_checkpoint
from ..train.config import ExperimentConfig, config_from_dict
from ..train.distributed import pick_device
from .inference import iterate_predictions


class LoadedModel:
    """A model with its config; predictions are probabilities [N, num_classes] as numpy arrays."""

    def __init__(self, model: torch.nn.Module, config: ExperimentConfig, checkpoint: Path, device: torch.device) -> None:
        self.model, self.config, self.checkpoint, self.device = model, config, checkpoint, device
        self.model.eval()

    @property
    def num_classes(self) -> int:
        return self.config.data.num_classes

    @property
    def data(self) -> DataConfig:
        return self.config.data

    @torch.no_grad()
    def predict(self, features, num_frames=None, *, select_frames: bool = True, segments=None) -> np.ndarray:
        """Raw features as the files hold them: uint8 [B, T, D] frames (+ lengths), a list of
        per-video [T_i, D] uint8 arrays, or float32 [B, D] video-level vectors.

        Frames go through the run's frame selection (data.skip_frames, data.max_frames), exactly
        as `yt8m predict` reads a file; `select_frames=False` uses them as given (segment windows).
        `segments` [N, 2]: each example's segment frames [lo, hi) for context-aware models (whole videos in).
        Anything but uint8 frames (or float video vectors) is refused: casting float frames to
        uint8 would silently turn dequantized values into garbage codes.
        """
        if isinstance(features, (list, tuple)):
            videos = [self._check_frames(np.asarray(f), f"video {i}", per_video=True) for i, f in enumerate(features)]
        else:
            array = np.asarray(features)
            if not self.data.frame_level:
                return self._scores(self._check_vectors(array), None)
            array = self._check_frames(array, "features", per_video=False)
            lengths = np.full(len(array), array.shape[1]) if num_frames is None else np.asarray(num_frames, np.int64)
            if lengths.shape != (len(array),) or (lengths < 0).any() or (lengths > array.shape[1]).any():
                raise ValueError(f"num_frames must be {len(array)} lengths in 0..{array.shape[1]}, got {lengths.tolist()}")
            videos = [video[:n] for video, n in zip(array, lengths)]
        if select_frames:
            cfg = self.data
            videos = [v[choose_frames(len(v), max_frames=cfg.max_frames, skip_frames=cfg.skip_frames)] for v in videos]
        lengths = np.array([len(v) for v in videos], np.int64)
        batch = np.zeros((len(videos), max(int(lengths.max(initial=0)), 1), self.model.feature_dim), np.uint8)
        for i, video in enumerate(videos):
            batch[i, : len(video)] = video
        return self._scores(batch, lengths, segments)

    def _check_frames(self, array: np.ndarray, what: str, *, per_video: bool) -> np.ndarray:
        dims = 2 if per_video else 3
        shape = "[frames, dims]" if per_video else "[videos, frames, dims]"
        if not self.data.frame_level:
            raise ValueError(f"this model takes video-level vectors float32 [videos, dims], got {what} with shape {array.shape}")
        if array.ndim != dims or array.shape[-1] != self.model.feature_dim:
            raise ValueError(f"{what}: expected uint8 frames {shape} with {self.model.feature_dim} dims, got shape {array.shape}")
        if array.dtype != np.uint8:
            raise ValueError(
                f"{what}: frames must be the files' uint8 codes, got {array.dtype}; float frames are ambiguous "
                "(codes or dequantized values?): pass the uint8 codes (yt8m.io.quantize turns values into codes)"
            )
        return array

    def _check_vectors(self, array: np.ndarray) -> np.ndarray:
        if array.ndim != 2 or array.shape[1] != self.model.feature_dim:
            raise ValueError(f"expected video-level vectors [videos, {self.model.feature_dim}], got shape {array.shape}")
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"video-level vectors are float32 as the files hold them, got {array.dtype}")
        return array.astype(np.float32, copy=False)

    def _scores(self, features: np.ndarray, lengths: np.ndarray | None, segments=None) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(features)).to(self.device)
        lengths_t = None if lengths is None else torch.as_tensor(lengths, dtype=torch.long, device=self.device)
        extra = {} if segments is None else {"segments": torch.as_tensor(np.asarray(segments), dtype=torch.long, device=self.device)}
        return self.model(tensor, lengths_t, **extra)["predictions"].float().cpu().numpy()

    @torch.no_grad()
    def predict_records(self, records: Iterable[VideoRecord], batch_size: int = 256) -> Iterator[tuple[str, np.ndarray]]:
        """(video id, scores [C]) for each record, in order."""
        pending: list[dict] = []
        data = self.data.for_evaluation()
        for record in records:
            pending.append(sparse_video_example(record, data) if data.sparse_features else video_example(record, data, None))
            if len(pending) == batch_size:
                yield from self._run(pending, data)
                pending = []
        if pending:
            yield from self._run(pending, data)

    def _run(self, examples: list[dict], data: DataConfig) -> Iterator[tuple[str, np.ndarray]]:
        batch = collate(examples, data)
        if hasattr(self.model, "forward_batch"):  # whole-batch models (sparse inputs)
            scores = self.model.forward_batch(batch_to(batch, self.device))["predictions"].float().cpu().numpy()
        else:
            scores = self.model(batch["features"].to(self.device), batch["num_frames"].to(self.device))["predictions"].float().cpu().numpy()
        yield from zip(batch["ids"], scores)

    def predict_files(self, paths, *, batch_size: int | None = None, outputs: Sequence[str] = (), read_stats=None) -> Iterator[dict]:
        """Per-batch dicts (ids, predictions, labels, ...) over data files, streaming."""
        data = self.data if batch_size is None else self.data.__class__(**{**self.data.__dict__, "batch_size": batch_size})
        return iterate_predictions(self.model, paths, data, device=self.device, outputs=tuple(outputs), read_stats=read_stats)


def load_model(path: str | Path, *, device: str = "auto"):
    """Load a checkpoint (or a run directory's best/latest checkpoint) for prediction.

    MiCRObE model directories (microbe.json) load as MiCRObE predictors.
    """
    path = Path(path)
    if (path / "microbe.json").exists():
        from ..microbe import load_microbe_model

        return load_microbe_model(path)
    checkpoint = resolve_checkpoint(path)
    meta = read_meta(checkpoint)
    config = config_from_dict(meta["config"])
    model = build_model(config)
    dev = pick_device(device)
    load_weights(checkpoint, model, "cpu")
    model.to(dev)
    return LoadedModel(model, config, checkpoint, dev)
