"""`yt8m.load_model(path)`: a trained checkpoint ready to predict on records, arrays or files."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from ..data.loader import DataConfig, batch_to, collate, sparse_video_example, video_example
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
    def predict(self, features, num_frames=None) -> np.ndarray:
        """Raw features as the files hold them: uint8 [B, T, D] frames (+ lengths), a list of
        per-video [T_i, D] uint8 arrays, or float32 [B, D] video-level vectors."""
        if isinstance(features, (list, tuple)):
            num_frames = [len(f) for f in features]
            width = max(num_frames)
            batch = np.zeros((len(features), width, features[0].shape[1]), np.uint8)
            for i, f in enumerate(features):
                batch[i, : len(f)] = f
            features = batch
        tensor = torch.as_tensor(np.asarray(features)).to(self.device)
        lengths = None if num_frames is None else torch.as_tensor(np.asarray(num_frames), dtype=torch.long, device=self.device)
        return self.model(tensor, lengths)["predictions"].float().cpu().numpy()

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

    def predict_files(self, paths, *, batch_size: int | None = None, outputs: Sequence[str] = ()) -> Iterator[dict]:
        """Per-batch dicts (ids, predictions, labels, ...) over data files, streaming."""
        data = self.data if batch_size is None else self.data.__class__(**{**self.data.__dict__, "batch_size": batch_size})
        return iterate_predictions(self.model, paths, data, device=self.device, outputs=tuple(outputs))


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
