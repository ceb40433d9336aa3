"""Batch inference: a loader's batches through a model, deterministic, in eval mode, no grads."""

from __future__ import annotations

from typing import Iterator

import torch

from ..data.loader import DataConfig, VideoDataset, batch_to, model_inputs, tally_read_stats
from ..io.report import ReadStats
from ..train.distributed import autocast


@torch.no_grad()
def iterate_predictions(
    model: torch.nn.Module,
    paths,
    data: DataConfig,
    *,
    device: torch.device | str = "cpu",
    max_videos: int | None = None,
    amp: bool = False,
    rank: int = 0,
    world_size: int = 1,
    outputs: tuple[str, ...] = (),
    read_stats: ReadStats | None = None,
) -> Iterator[dict]:
    """Yield per-batch dicts: ids, predictions [B, C] (numpy), labels [B, C], label_weights, extra outputs.

    Reads every video once in file order (no sampling, no shuffling); memory stays one batch.
    `read_stats`, if given, receives the records read and skipped.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    dataset = VideoDataset(paths, data.for_evaluation(), rank=rank, world_size=world_size)
    batches = tally_read_stats(dataset, read_stats if read_stats is not None else ReadStats())
    seen = 0
    try:
        for batch in batches:
            if max_videos is not None and seen >= max_videos:
                break
            keep = len(batch["ids"]) if max_videos is None else min(len(batch["ids"]), max_videos - seen)
            with autocast(device, amp):
                if hasattr(model, "forward_batch"):  # whole-batch models (sparse inputs)
                    out = {k: v[:keep] for k, v in model.forward_batch(batch_to(batch, device)).items()}
                else:
                    extra = {k: v[:keep] for k, v in model_inputs(batch, device).items()}
                    out = model(batch["features"][:keep].to(device), batch["num_frames"][:keep].to(device), **extra)
            seen += keep
            result = {
                "ids": batch["ids"][:keep],
                "predictions": out["predictions"].float().cpu().numpy(),
                "labels": batch["labels"][:keep].numpy(),
            }
            if "label_weights" in batch:
                result["label_weights"] = batch["label_weights"][:keep].numpy()
            for name in outputs:
                if name in out:
                    result[name] = out[name].float().cpu().numpy()
            yield result
    finally:
        model.train(was_training)
