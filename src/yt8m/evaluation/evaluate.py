"""Evaluate a model on data files with the streaming evaluator (deterministic, bounded memory)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.loader import DataConfig
from ..io.paths import expand_paths
from ..io.report import ReadStats
from ..predict.inference import iterate_predictions
from .evaluator import Evaluator


@dataclass
class EvaluationState:
    """What one pass over some files leaves: the evaluator, positives per class, the read accounting.
    States of consecutive files merge into the state of one pass over all of them (sharded eval)."""

    evaluator: Evaluator
    positives: np.ndarray
    read_stats: ReadStats = field(default_factory=ReadStats)

    def merge(self, other: "EvaluationState") -> "EvaluationState":
        self.evaluator.merge(other.evaluator)
        self.positives += other.positives
        self.read_stats.merge(other.read_stats)
        return self

    def metrics(self) -> dict:
        """GAP, Hit@1, Hit@5, PERR, mAP, bucketed mAP, per-class AP, positives and the read counts."""
        result = self.evaluator.result()
        metrics = result.as_dict()
        metrics["per_class_ap"] = [None if np.isnan(ap) else float(ap) for ap in result.average_precisions]
        metrics["positives_per_class"] = self.positives.tolist()
        metrics["read"], metrics["read_summary"] = self.read_stats.as_dict(), self.read_stats.summary_line()
        return metrics


def evaluation_state(
    model: torch.nn.Module,
    paths,
    data: DataConfig,
    *,
    device: torch.device | str = "cpu",
    max_videos: int | None = None,
    amp: bool = False,
    top_k: int = 20,
    bucket_map: bool = True,
    progress: bool = False,
) -> EvaluationState:
    """One streaming pass of `model` over `paths` (see `evaluate_model`)."""
    from ..predict.totals import count_videos
    from ..progress import Progress

    state = EvaluationState(Evaluator(data.num_classes, top_k=top_k, bucket_map=bucket_map), np.zeros(data.num_classes, dtype=np.int64))
    total = count_videos(expand_paths(paths)) if progress and not data.segment_labels else None
    if total is not None and max_videos is not None:
        total = min(total, max_videos)
    with Progress("eval", total=total, unit="segments" if data.segment_labels else "videos", enabled=progress) as bar:
        for batch in iterate_predictions(model, paths, data, device=device, max_videos=max_videos, amp=amp, read_stats=state.read_stats):
            state.evaluator.add(batch["predictions"], batch["labels"], weights=batch.get("label_weights"))
            state.positives += (batch["labels"] > 0).sum(0)
            bar.advance(len(batch["ids"]))
    return state


def evaluate_model(
    model: torch.nn.Module,
    paths,
    data: DataConfig,
    *,
    device: torch.device | str = "cpu",
    max_videos: int | None = None,
    amp: bool = False,
    top_k: int = 20,
    bucket_map: bool = True,
    progress: bool = False,
) -> dict:
    """GAP, Hit@1, Hit@5, PERR, mAP, bucketed mAP, per-class AP and the number of videos.

    `bucket_map=False` skips the paper's 1e-4-bucket mAP (two [C, 10001] histograms: the trainer's
    periodic validation does without). With segment-rated data read in segment mode, predictions of unrated classes are zeroed
    before scoring, as the official segment evaluation does. `progress` shows videos done and time
    left (the total is known for shards and plain TFRecords).
    """
    return evaluation_state(model, paths, data, device=device, max_videos=max_videos, amp=amp, top_k=top_k, bucket_map=bucket_map, progress=progress).metrics()


def rated_segment_predictions(model: torch.nn.Module, paths, data: DataConfig, *, device: torch.device | str = "cpu", max_videos: int | None = None, amp: bool = False, evaluator: Evaluator | None = None) -> dict:
    """Every rated (segment, class) pair of segment-rated files, in reading order: {"ids" (segment id per
    pair), "classes", "scores" (the model's), "labels" (the ratings)}. Only rated pairs are kept (memory:
    the ratings, not segments × classes); `evaluator`, if given, also sees every batch (GAP over rated pairs).
    What segment validation and the weights of segment ensembles are computed from."""
    import dataclasses

    data = dataclasses.replace(data, kind="segment", segment_labels=True)
    ids: list[str] = []
    parts: dict[str, list[np.ndarray]] = {"classes": [], "scores": [], "labels": []}
    for batch in iterate_predictions(model, paths, data, device=device, max_videos=max_videos, amp=amp):
        if evaluator is not None:
            evaluator.add(batch["predictions"], batch["labels"], weights=batch["label_weights"])
        rows, classes = np.nonzero(batch["label_weights"] > 0)
        ids += [batch["ids"][r] for r in rows.tolist()]
        parts["classes"].append(classes)
        parts["scores"].append(batch["predictions"][rows, classes])
        parts["labels"].append(batch["labels"][rows, classes])
    return {"ids": ids, **{k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}}
