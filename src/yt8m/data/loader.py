"""PyTorch loading for both file formats: an IterableDataset and its DataLoader.

Work is split across DataLoader workers and distributed ranks without duplicates or losses:
every (rank, worker) pair is a "slot". TFRecord files are dealt to slots round robin when there
are at least as many files as slots; otherwise (and always for shards, which have random
access) record i of file f goes to slot (i + f) mod slots. Each slot shuffles through a seeded
buffer, selects frames, and yields ready uint8 batches; dequantization happens in the model.

Read accounting (records read, skipped, unread file tails) travels with the batches: each batch
carries what its slot counted since the previous one under READ_STATS, a slot that ends with
counts but no batch to carry them sends a stats-only item, and `tally_read_stats` (used by
`make_loader`'s loader, the trainer and inference) strips them off and sums them for the caller;
`gather_read_stats` sums over distributed ranks.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..io.errors import RecordError
from ..io.paths import expand_paths
from ..io.reader import file_format, frames_matrix, read_file
from ..io.report import ReadStats
from ..io.records import DEFAULT_NUM_CLASSES, SEGMENT_SIZE, RecordSchema, VideoRecord
from .sampling import select_frames


@dataclass
class DataConfig:
    """What to read and how to batch it. YAML `data:` sections fill this."""

    kind: str = "frame"  # video | frame | segment
    feature_names: tuple[str, ...] = ("rgb", "audio")
    feature_sizes: tuple[int, ...] = (1024, 128)
    num_classes: int = DEFAULT_NUM_CLASSES
    max_frames: int = 300  # official T; longer videos are truncated
    sampling: str = "all"  # all | random | window (training only; evaluation always reads all)
    num_samples: int = 30  # frames per video for random / window sampling (DBoF's "iterations")
    skip_frames: int = 0  # drop the first N frames (seed 002: 20)
    batch_size: int = 64
    shuffle_buffer: int = 0  # 0 = read in file order
    num_workers: int = 0
    segment_labels: bool = False  # examples are rated 5-second segments (2019 validation data)
    skip_corrupt: bool = False
    pad_to: str = "longest"  # longest (in the batch) | max_frames (the official fixed 300)
    id_keys: tuple[str, ...] = ("id", "video_id")

    def __post_init__(self) -> None:
        if self.kind == "video" and tuple(self.feature_names) == ("rgb", "audio"):
            self.feature_names = ("mean_rgb", "mean_audio")
        self.feature_names, self.feature_sizes = tuple(self.feature_names), tuple(int(s) for s in self.feature_sizes)
        self.id_keys = tuple(self.id_keys)
        if self.pad_to not in ("longest", "max_frames"):
            raise ValueError(f"pad_to must be 'longest' or 'max_frames', got {self.pad_to!r}")

    @property
    def schema(self) -> RecordSchema:
        return RecordSchema(
            kind=self.kind,
            feature_names=self.feature_names,
            feature_sizes=self.feature_sizes,
            num_classes=self.num_classes,
            id_keys=self.id_keys,
        )

    @property
    def frame_level(self) -> bool:
        return self.kind != "video"

    def for_evaluation(self) -> "DataConfig":
        """The same data read deterministically: all frames, file order, no shuffling."""
        return dataclasses.replace(self, sampling="all", shuffle_buffer=0)


def distributed_slot() -> tuple[int, int]:
    """(rank, world_size) of torch.distributed when initialised, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


@dataclass
class _Unit:
    path: str
    start: int
    step: int


class VideoDataset(IterableDataset):
    """Yields collated batches (dicts of tensors); use with `DataLoader(batch_size=None)`."""

    def __init__(
        self,
        paths,
        config: DataConfig,
        *,
        training: bool = False,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        self.files = expand_paths(paths)
        self.config = config if training else config.for_evaluation()
        self.training, self.seed, self.epoch = training, seed, 0
        default_rank, default_world = distributed_slot()
        self.rank = default_rank if rank is None else rank
        self.world_size = default_world if world_size is None else world_size
        self._formats = {path: file_format(path) for path in self.files}

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle differently each epoch (call before iterating, on every rank)."""
        self.epoch = epoch

    # -- work splitting -------------------------------------------------------------------------

    def units(self, slot: int, slots: int) -> list[_Unit]:
        files = list(self.files)
        if self.training and self.config.shuffle_buffer:
            np.random.default_rng([self.seed, self.epoch, 7]).shuffle(files)
        tfrecords = [f for f in files if self._formats[f] == "tfrecord"]
        whole_files = len(tfrecords) >= slots
        units, dealt = [], 0
        for f_index, path in enumerate(files):
            if whole_files and self._formats[path] == "tfrecord":
                if dealt % slots == slot:
                    units.append(_Unit(path, 0, 1))
                dealt += 1
            else:
                units.append(_Unit(path, (slot - f_index) % slots, slots))
        return units

    def _slot(self) -> tuple[int, int, int]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        return self.rank * workers + worker, self.world_size * workers, worker

    # -- iteration ------------------------------------------------------------------------------

    def iter_records(self, stats: ReadStats | None = None) -> Iterator[VideoRecord]:
        slot, slots, _ = self._slot()
        schema = self.config.schema
        for unit in self.units(slot, slots):
            yield from read_file(unit.path, schema, skip_corrupt=self.config.skip_corrupt, stats=stats, start=unit.start, step=unit.step)

    def _shuffled(self, items: Iterator, rng: np.random.Generator) -> Iterator:
        size = self.config.shuffle_buffer if self.training else 0
        if size <= 1:
            yield from items
            return
        buffer: list = []
        for item in items:
            if len(buffer) < size:
                buffer.append(item)
                continue
            j = int(rng.integers(size))
            yield buffer[j]
            buffer[j] = item
        rng.shuffle(buffer)
        yield from buffer

    def __iter__(self) -> Iterator[dict]:
        slot, slots, _ = self._slot()
        rng = np.random.default_rng([self.seed, self.epoch, slot])
        stats = ReadStats()
        examples = self._examples(self.iter_records(stats), rng)
        batch: list[dict] = []
        full = None  # a full batch waits for the next example, so the last one carries the final counts
        for example in self._shuffled(examples, rng):
            if full is not None:
                yield {**full, READ_STATS: stats.take()}
                full = None
            batch.append(example)
            if len(batch) == self.config.batch_size:
                full, batch = collate(batch, self.config), []
        if full is not None:
            yield {**full, READ_STATS: stats.take()}
        if batch:
            yield {**collate(batch, self.config), READ_STATS: stats.take()}
        if stats:
            yield {READ_STATS: stats.take()}

    def _examples(self, records: Iterator[VideoRecord], rng: np.random.Generator) -> Iterator[dict]:
        cfg = self.config
        for record in records:
            if cfg.segment_labels:
                yield from segment_examples(record, cfg)
            else:
                yield video_example(record, cfg, rng if self.training else None)


def video_example(record: VideoRecord, cfg: DataConfig, rng: np.random.Generator | None) -> dict:
    """One video -> {"id", "features", "num_frames", "labels"} with frames selected per the config.

    Frame-level "features" is a list of per-feature uint8 arrays with the selected rows (views when
    possible); `collate` writes them side by side into the batch, so each byte is copied once.
    """
    if not cfg.frame_level:
        features = np.concatenate([np.asarray(record.features[n], np.float32) for n in cfg.feature_names])
        return {"id": record.id, "features": features, "num_frames": 1, "labels": record.labels}
    n = record.num_frames
    strategy = cfg.sampling if rng is not None else "all"
    index = select_frames(n, strategy=strategy, max_frames=cfg.max_frames, num_samples=cfg.num_samples, skip_frames=cfg.skip_frames, rng=rng)
    parts = []
    for name in cfg.feature_names:
        frames = record.features[name]
        if len(frames) < n:  # official: every feature is padded/truncated independently to rgb's length
            frames = np.concatenate([frames, np.zeros((n - len(frames), frames.shape[1]), np.uint8)])
        parts.append(frames[:n][index])
    return {"id": record.id, "features": parts, "num_frames": len(parts[0]), "labels": record.labels}


def segment_examples(record: VideoRecord, cfg: DataConfig) -> Iterator[dict]:
    """The official segment reader: one 5-frame example per unique rated start time.

    Labels are the segment scores at the rated classes; `label_weights` marks rated classes.
    Start times are taken in first-occurrence order; windows past the video end are zero-padded.
    """
    if not record.has_segments:
        raise RecordError("segment_labels=True needs segment-rated records", field="segment_start_times")
    parts = video_example(record, dataclasses.replace(cfg, sampling="all", skip_frames=0, max_frames=max(cfg.max_frames, record.num_frames)), None)["features"]
    starts, first_seen = np.unique(record.segment_start_times, return_index=True)
    for start in starts[np.argsort(first_seen)]:
        rated = record.segment_start_times == start
        yield {
            "id": f"{record.id}:{int(start)}",
            "features": [part[start : start + SEGMENT_SIZE] for part in parts],
            "num_frames": SEGMENT_SIZE,
            "labels": record.segment_labels[rated],
            "scores": record.segment_scores[rated],
        }


def collate(examples: list[dict], cfg: DataConfig) -> dict:
    """Stack examples: uint8 [B, T, D] frames (or float32 [B, D]), lengths, multi-hot labels [B, C]."""
    batch_size = len(examples)
    num_frames = torch.tensor([e["num_frames"] for e in examples], dtype=torch.long)
    if cfg.frame_level:
        length = cfg.max_frames if cfg.pad_to == "max_frames" and not cfg.segment_labels else max(int(num_frames.max()), 1)
        features = np.zeros((batch_size, length, sum(cfg.feature_sizes)), np.uint8)
        for i, e in enumerate(examples):
            frames_matrix(e["features"], length, out=features[i])
    else:
        features = np.stack([e["features"] for e in examples])
    labels = torch.zeros((batch_size, cfg.num_classes), dtype=torch.float32)
    rows = np.concatenate([np.full(len(e["labels"]), i) for i, e in enumerate(examples)]).astype(np.int64)
    cols = np.concatenate([np.asarray(e["labels"], np.int64) for e in examples])
    batch = {"ids": [e["id"] for e in examples], "features": torch.from_numpy(features), "num_frames": num_frames}
    if cfg.segment_labels:
        weights = torch.zeros_like(labels)
        weights[rows, cols] = 1.0
        labels[rows, cols] = torch.from_numpy(np.concatenate([e["scores"] for e in examples]).astype(np.float32))
        batch["label_weights"] = weights
    else:
        labels[rows, cols] = 1.0
    batch["labels"] = labels
    return batch


READ_STATS = "read_stats"


def tally_read_stats(batches, stats: ReadStats) -> Iterator[dict]:
    """The batches without their READ_STATS entries, which are summed into `stats` on the way."""
    for batch in batches:
        delta = batch.pop(READ_STATS, None)
        if delta is not None:
            stats.merge(delta)
        if "ids" in batch:
            yield batch


def gather_read_stats(stats: ReadStats) -> ReadStats:
    """The sum over all distributed ranks (every rank must call it); this rank's own when not distributed."""
    rank, world = distributed_slot()
    if world == 1:
        return stats
    parts: list = [None] * world
    torch.distributed.all_gather_object(parts, stats)
    total = ReadStats()
    for part in parts:
        total.merge(part)
    return total


class VideoLoader(DataLoader):
    """A DataLoader whose iteration sums the read accounting of all its workers into `read_stats`."""

    def __init__(self, dataset: VideoDataset, **kwargs) -> None:
        super().__init__(dataset, **kwargs)
        self.read_stats = ReadStats()

    def __iter__(self) -> Iterator[dict]:
        return tally_read_stats(super().__iter__(), self.read_stats)


def make_loader(paths, config: DataConfig, *, training: bool = False, seed: int = 0, rank: int | None = None, world_size: int | None = None) -> VideoLoader:
    """A loader over VideoDataset batches (workers split the work; pinned memory on CUDA).

    `loader.read_stats` holds the records read and skipped by every worker of the iterations so far.
    """
    dataset = VideoDataset(paths, config, training=training, seed=seed, rank=rank, world_size=world_size)
    workers = config.num_workers
    return VideoLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
