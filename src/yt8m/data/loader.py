"""PyTorch loading for both file formats: an IterableDataset and its DataLoader.

Work is split across DataLoader workers and distributed ranks without duplicates or losses:
every (rank, worker) pair is a "slot". TFRecord files are dealt to slots round robin when there
are at least as many files as slots; otherwise (and always for shards, which have random
access) record i of file f goes to slot (i + f) mod slots. Each slot shuffles through a seeded
buffer, selects frames, and yields ready uint8 batches; dequantization happens in the model.
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
from ..io.reader import ReadStats, file_format, frames_matrix, read_file
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
    # sparse per-frame base-classifier scores (seed 000: IM, TM) batched as EmbeddingBag inputs;
    # feature ids of source i are shifted by the sizes of the sources before it
    sparse_features: tuple[str, ...] = ()
    sparse_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "video" and tuple(self.feature_names) == ("rgb", "audio"):
            self.feature_names = ("mean_rgb", "mean_audio")
        self.feature_names, self.feature_sizes = tuple(self.feature_names), tuple(int(s) for s in self.feature_sizes)
        self.id_keys = tuple(self.id_keys)
        self.sparse_features, self.sparse_sizes = tuple(self.sparse_features), tuple(int(s) for s in self.sparse_sizes)
        if len(self.sparse_features) != len(self.sparse_sizes):
            raise ValueError(f"sparse_features {self.sparse_features} and sparse_sizes {self.sparse_sizes} differ in length")
        if self.sparse_features and self.kind != "frame":
            raise ValueError("sparse_features are per-frame lists: they need data.kind=frame")
        if self.sparse_features and self.sampling != "all":
            raise ValueError("sparse_features are read for whole videos in order: use data.sampling=all")
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
            sparse_features=self.sparse_features,
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
        self.stats = ReadStats()
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

    def iter_records(self) -> Iterator[VideoRecord]:
        slot, slots, _ = self._slot()
        schema = self.config.schema
        for unit in self.units(slot, slots):
            yield from read_file(unit.path, schema, skip_corrupt=self.config.skip_corrupt, stats=self.stats, start=unit.start, step=unit.step)

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
        examples = self._examples(self.iter_records(), rng)
        batch: list[dict] = []
        for example in self._shuffled(examples, rng):
            batch.append(example)
            if len(batch) == self.config.batch_size:
                yield collate(batch, self.config)
                batch = []
        if batch:
            yield collate(batch, self.config)

    def _examples(self, records: Iterator[VideoRecord], rng: np.random.Generator) -> Iterator[dict]:
        cfg = self.config
        for record in records:
            if cfg.segment_labels:
                yield from segment_examples(record, cfg)
            elif cfg.sparse_features:
                yield sparse_video_example(record, cfg)
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
    if cfg.sparse_features:
        batch.update(sparse_bags(examples, batch["features"].shape[1]))
    return batch


def sparse_video_example(record: VideoRecord, cfg: DataConfig) -> dict:
    """All frames in order (a recurrent model reads whole videos), plus the selected frames' sparse scores of every source, frame-major:
    "sparse_ids" (shifted into one id space), "sparse_scores", "sparse_counts" (entries per frame)."""
    n = record.num_frames if cfg.feature_names else max(record.sparse[s].num_frames for s in cfg.sparse_features)
    index = np.arange(n)[select_frames(n, strategy="all", max_frames=cfg.max_frames, num_samples=cfg.num_samples, skip_frames=cfg.skip_frames)]
    example = video_example(record, cfg, None) if cfg.feature_names else {"id": record.id, "features": [], "labels": record.labels}
    frames, ids, scores, shift = [], [], [], 0
    for source, size in zip(cfg.sparse_features, cfg.sparse_sizes):
        sp = record.sparse[source]
        inside = index[index < sp.num_frames]
        lo, hi = sp.offsets[inside], sp.offsets[inside + 1]
        lengths = hi - lo
        take = np.repeat(lo - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(int(lengths.sum()))
        source_ids = sp.ids[take].astype(np.int64)
        bad = (source_ids < 0) | (source_ids >= size)
        if bad.any():
            raise RecordError(f"video {record.id!r}: sparse id {int(source_ids[bad][0])} outside the vocabulary of {size} (data.sparse_sizes)", field=f"{source}_ids")
        frames.append(np.repeat(np.flatnonzero(index < sp.num_frames), lengths))
        ids.append(source_ids + shift)
        scores.append(sp.scores[take])
        shift += size
    frame = np.concatenate(frames)
    order = np.argsort(frame, kind="stable")
    example.update(
        num_frames=len(index), sparse_ids=np.concatenate(ids)[order], sparse_scores=np.concatenate(scores)[order].astype(np.float32),
        sparse_counts=np.bincount(frame, minlength=len(index)),
    )
    return example


def batch_to(batch: dict, device) -> dict:
    """A collated batch with its tensors on `device` (ids and other lists stay)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def sparse_bags(examples: list[dict], length: int) -> dict:
    """nn.EmbeddingBag inputs: frame t of video b is bag b·length + t, padding frames are empty bags."""
    counts = np.zeros((len(examples), length), dtype=np.int64)
    for i, e in enumerate(examples):
        counts[i, : min(len(e["sparse_counts"]), length)] = e["sparse_counts"][:length]
    offsets = np.zeros(counts.size, dtype=np.int64)
    np.cumsum(counts.ravel()[:-1], out=offsets[1:])
    keep = [int(counts[i].sum()) for i in range(len(examples))]
    return {
        "sparse_ids": torch.from_numpy(np.concatenate([e["sparse_ids"][:k] for e, k in zip(examples, keep)])),
        "sparse_scores": torch.from_numpy(np.concatenate([e["sparse_scores"][:k] for e, k in zip(examples, keep)])),
        "sparse_offsets": torch.from_numpy(offsets),
    }


def make_loader(paths, config: DataConfig, *, training: bool = False, seed: int = 0, rank: int | None = None, world_size: int | None = None) -> DataLoader:
    """A DataLoader over VideoDataset batches (workers split the work; pinned memory on CUDA)."""
    dataset = VideoDataset(paths, config, training=training, seed=seed, rank=rank, world_size=world_size)
    workers = config.num_workers
    return DataLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
