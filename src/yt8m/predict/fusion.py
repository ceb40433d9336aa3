"""Late fusion of two models' video scores (seed 000 §6: "late-fusing outputs of the two algorithms").

fused = w · norm(a) + (1 − w) · norm(b), with w chosen on held-out labeled videos from a grid
(0, 0.05, …, 1) by a metric of the Evaluator (Hit@1 or GAP). The two models' scores live on
different scales (a softmax spreads one unit of probability over all classes; MiCRObE calibrates
each label on its own), so by default each video's scores are divided by that video's top score
first ("max"); "none" fuses the raw scores. Ties go to the weight nearest 0.5.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..evaluation.evaluator import Evaluator

METRICS = ("hit_at_1", "gap")
NORMALIZATIONS = ("max", "none")


@dataclass
class Fusion:
    """The fitted weight of model a (model b gets 1 − weight) and how it was chosen."""

    weight: float
    normalize: str = "max"
    metric: str = "hit_at_1"
    heldout: dict = field(default_factory=dict)  # metric of a, b and the fused scores on the held-out videos
    grid: list = field(default_factory=list)  # [(weight, metric)]

    def apply(self, scores_a: np.ndarray, scores_b: np.ndarray) -> np.ndarray:
        return fuse(scores_a, scores_b, self.weight, self.normalize)


def normalized(scores: np.ndarray, how: str = "max") -> np.ndarray:
    if how not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {how!r}: use one of {', '.join(NORMALIZATIONS)}")
    scores = np.asarray(scores, dtype=np.float32)
    if how == "none":
        return scores
    return scores / np.maximum(scores.max(axis=1, keepdims=True), 1e-12)


def fuse(scores_a: np.ndarray, scores_b: np.ndarray, weight: float, normalize: str = "max") -> np.ndarray:
    """w · norm(a) + (1 − w) · norm(b), both [N, C]."""
    if np.shape(scores_a) != np.shape(scores_b):
        raise ValueError(f"scores to fuse differ in shape: {np.shape(scores_a)} and {np.shape(scores_b)}")
    return weight * normalized(scores_a, normalize) + (1.0 - weight) * normalized(scores_b, normalize)


def score(scores: np.ndarray, labels: np.ndarray, metric: str = "hit_at_1") -> float:
    """One Evaluator metric of [N, C] scores against [N, C] labels."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    evaluator = Evaluator(scores.shape[1], bucket_map=False)
    evaluator.add(scores, labels)
    return float(getattr(evaluator.result(), metric))


def fit_fusion(scores_a: np.ndarray, scores_b: np.ndarray, labels: np.ndarray, *, metric: str = "hit_at_1",
               normalize: str = "max", steps: int = 20) -> Fusion:
    """The weight on a grid of `steps` + 1 points that maximizes `metric` on held-out videos."""
    grid = [(round(w, 6), score(fuse(scores_a, scores_b, w, normalize), labels, metric)) for w in np.linspace(0.0, 1.0, steps + 1)]
    best = max(value for _, value in grid)
    weight = min((w for w, value in grid if value == best), key=lambda w: abs(w - 0.5))
    heldout = {"a": dict(grid)[1.0], "b": dict(grid)[0.0], "fused": best}
    return Fusion(weight, normalize, metric, heldout, grid)


# ----------------------------------------------------------------------------------------------
# runs on files


def video_scores(model, files) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids, scores [N, C], labels [N, C]) of a loaded model (yt8m.load_model: neural or MiCRObE) over files."""
    from .loaded import LoadedModel

    batches: Iterator = (
        ((b["ids"], b["predictions"], b["labels"]) for b in model.predict_files(files))
        if isinstance(model, LoadedModel) else model.labeled_predictions(files)
    )
    ids, scores, labels = [], [], []
    for batch_ids, batch_scores, batch_labels in batches:
        ids.extend(batch_ids)
        scores.append(np.asarray(batch_scores, np.float32))
        labels.append(np.asarray(batch_labels, np.float32))
    if not ids:
        raise ValueError(f"no videos in {files}")
    return ids, np.concatenate(scores), np.concatenate(labels)


def aligned(a: tuple, b: tuple, what: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Both models' scores on the same videos in the same order (a clear error when they differ)."""
    ids_a, scores_a, labels = a
    ids_b, scores_b, _ = b
    if scores_a.shape[1] != scores_b.shape[1]:
        raise ValueError(f"{what}: the models predict {scores_a.shape[1]} and {scores_b.shape[1]} classes")
    if ids_a != ids_b:
        where = {vid: i for i, vid in enumerate(ids_b)}
        missing = [vid for vid in ids_a if vid not in where]
        if missing or len(ids_a) != len(ids_b):
            raise ValueError(f"{what}: the models scored different videos (e.g. {missing[:1] or ids_b[:1]})")
        scores_b = scores_b[[where[vid] for vid in ids_a]]
    return ids_a, scores_a, scores_b, labels


def fuse_runs(run_a, run_b, heldout, data, out: str | Path, *, metric: str = "hit_at_1", normalize: str = "max",
              top_k: int = 20, format: str | None = None, device: str = "auto") -> dict:
    """Fit the fusion weight on `heldout`, write fused top-k predictions of `data` to `out` and
    `<out>.fusion.json` (weight, held-out and, when `data` is labeled, test metrics of a, b, fused)."""
    from ..io.paths import expand_paths
    from .loaded import load_model
    from .writers import PredictionWriter

    model_a, model_b = load_model(run_a, device=device), load_model(run_b, device=device)
    heldout_files, data_files = expand_paths(heldout), expand_paths(data)
    _, ha, hb, hy = aligned(video_scores(model_a, heldout_files), video_scores(model_b, heldout_files), "held-out data")
    fusion = fit_fusion(ha, hb, hy, metric=metric, normalize=normalize)
    ids, sa, sb, y = aligned(video_scores(model_a, data_files), video_scores(model_b, data_files), "data")
    fused = fusion.apply(sa, sb)
    with PredictionWriter(out, format=format, top_k=top_k) as writer:
        writer.write(ids, fused)
    summary = {"fusion": asdict(fusion), "videos": len(ids), "out": str(out)}
    if y.any():
        summary["test"] = {name: score(s, y, metric) for name, s in (("a", sa), ("b", sb), ("fused", fused))}
    side = Path(f"{out}.fusion.json")
    tmp = side.with_name(f".{side.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(summary, indent=2, default=float))
    os.replace(tmp, side)
    return summary
