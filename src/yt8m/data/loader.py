"""PyTorch loading for both file formats: an IterableDataset and its DataLoader.

Work is split across DataLoader workers and distributed ranks without duplicates or losses:
every (rank, worker) pair is a "slot".

Training uses one global order per epoch, the same on every rank and worker: the files (shuffled
per epoch when `shuffle_buffer` > 0), their records in order, then permuted within consecutive
windows of `shuffle_buffer` records, drawn from (seed, epoch). Global batch k is positions
[k·G, (k+1)·G) of that order, G = batch_size · world_size · accumulate; micro-batch j of it goes to
rank r as positions k·G + (j·world_size + r)·batch_size onwards. So:
- N ranks at batch B (or one rank accumulating N micro-batches of B) see exactly the batches one
  rank sees at batch N·B, in the same order, whatever the file count and size;
- every rank gets the same number of batches (no rank waits for another at an epoch end), every
  record is used at most once per epoch and all but the last partial global batch (fewer than G
  records, different ones every epoch when shuffling) are used;
- DataLoader workers take a rank's micro-batches in turn, and the DataLoader yields them round
  robin, so the batches and their order do not depend on the number of workers either;
- `set_position(epoch, batches_done)` resumes at any micro-batch: the order depends only on
  (seed, epoch), never on what ran before (restarts included). Records before the position are
  not read; a slot reads only the files holding its records, and parses only its own records.
Frame sampling is drawn from (seed, epoch, file, record). Shards have random access; TFRecords
are framed sequentially, so every slot frames (not parses) the TFRecord files it needs: for many
ranks, convert to shards first (`yt8m convert`).

Evaluation (and segment-example training, whose examples per record are known only after
parsing) splits files instead: TFRecord files are dealt to slots round robin when there are at
least as many files as slots; otherwise (and always for shards) record i of file f goes to slot
(i + f) mod slots. Evaluation yields every video; segment training yields full batches per slot,
shuffled through a seeded buffer.

Read accounting (records read, skipped, unread file tails) travels with the batches: each batch
carries what its slot counted since the previous one under READ_STATS, a slot that ends with
counts but no batch to carry them sends a stats-only item, and `tally_read_stats` (used by
`make_loader`'s loader, the trainer and inference) strips them off and sums them for the caller;
`gather_read_stats` sums over distributed ranks. A record's parse failure is counted by the slot
that owns it; framing damage (a file's tail, a bad CRC) by one slot per file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..io.errors import RecordError
from ..io.paths import expand_paths
from ..io.reader import count_records, file_format, frames_matrix, iter_lazy
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
    # segment examples: a class in neither the video's labels nor its positive segment
    # labels is a negative of every segment of that video with this weight (0: only rated pairs count,
    # as the official reader); training only, evaluation always weighs the rated pairs alone
    segment_negative_weight: float = 0.0
    segment_context: int = 0  # ±N frames around each 5-frame segment (training, evaluation and prediction)
    # each segment example holds its whole video (up to max_frames) and "segments" [lo, hi): its frames,
    # context included; for context-aware models, which read both
    segment_whole_video: bool = False
    # training augmentations (seed 004's future work; each measured in BENCHMARKS.md, "The 2019 segment task")
    augment_reverse: float = 0.0  # probability of reading a training video (or segment) backwards
    augment_drop_segments: float = 0.0  # fraction of a training video's 5-frame segments left out (whole videos)
    segment_mixup: float = 0.0  # > 0: virtual segments, each batch mixed with a shuffled copy, λ ~ Beta(this, this)
    skip_corrupt: bool = False
    # checksums checked on read (shards: CRC32C of every byte; TFRecords: their CRCs); false skips them, as pyarrow's Parquet
    # reader does by default, for a faster raw read of frame shards (cost: BENCHMARKS.md, clean read path)
    verify_checksums: bool = True
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
        if not (0 <= self.augment_reverse <= 1 and 0 <= self.augment_drop_segments < 1 and self.segment_mixup >= 0):
            raise ValueError(f"augment_reverse must be in [0, 1], augment_drop_segments in [0, 1), segment_mixup >= 0; got {self.augment_reverse}, {self.augment_drop_segments}, {self.segment_mixup}")
        if self.segment_negative_weight < 0 or self.segment_context < 0:
            raise ValueError(f"segment_negative_weight ({self.segment_negative_weight}) and segment_context ({self.segment_context}) must be >= 0")
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
        return dataclasses.replace(self, sampling="all", shuffle_buffer=0, segment_negative_weight=0.0, augment_reverse=0.0, augment_drop_segments=0.0, segment_mixup=0.0)


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
        accumulate: int = 1,
    ) -> None:
        super().__init__()
        if accumulate < 1:
            raise ValueError(f"optimizer.accumulate must be >= 1, got {accumulate}")
        self.files = expand_paths(paths)
        self.accumulate = accumulate
        self.config = config if training else config.for_evaluation()
        self.training, self.seed, self.epoch = training, seed, 0
        default_rank, default_world = distributed_slot()
        self.rank = default_rank if rank is None else rank
        self.world_size = default_world if world_size is None else world_size
        self._formats = {path: file_format(path) for path in self.files}
        self._file_index = {path: i for i, path in enumerate(self.files)}
        self._counts: dict[str, int] = {}
        self._skip: list[int] | None = None
        self._start = 0  # micro-batches of the epoch already used (global order)

    @property
    def global_order(self) -> bool:
        """Training batches come from the one global order (see the module docstring)."""
        return self.training and not self.config.segment_labels

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle differently each epoch (call before iterating, on every rank)."""
        self.set_position(epoch, 0)

    def set_position(self, epoch: int, batches_done: int, num_workers: int | None = None) -> None:
        """Start the next iteration at batch `batches_done` of `epoch` (as the DataLoader yields them)."""
        self.epoch = epoch
        self._start = batches_done
        workers = self.config.num_workers if num_workers is None else num_workers
        if self.global_order or not batches_done:
            self._skip = None
        elif workers <= 1:  # one reader: no need to count records to split the position
            self._skip = [batches_done]
        else:
            self._skip = self.worker_offsets(batches_done, workers)

    # -- sizes (training: full batches per slot) ------------------------------------------------

    def _record_count(self, path: str) -> int:
        if path not in self._counts:
            self._counts[path] = count_records(path)
        return self._counts[path]

    def _slot_examples(self, slot: int, slots: int) -> int:
        if self.config.segment_labels:  # segments per video are known only after parsing
            return sum(1 for record in self.iter_records(slot=slot, slots=slots) for _ in segment_examples(record, self.config))
        return sum(len(range(u.start, self._record_count(u.path), u.step)) for u in self.units(slot, slots))

    def _batches(self, examples: int) -> int:
        size = self.config.batch_size
        if not self.training:
            return -(-examples // size)
        return examples // size if examples >= size else int(examples > 0)

    def global_batch(self) -> int:
        """Records per optimizer step over all ranks: batch_size · world_size · accumulate."""
        return self.config.batch_size * self.world_size * self.accumulate

    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch, the same on every rank (global order)."""
        return sum(self._record_count(f) for f in self.files) // self.global_batch()

    def batches_per_worker(self, num_workers: int | None = None) -> list[int]:
        """Batches each DataLoader worker of this rank yields per epoch."""
        workers = max(self.config.num_workers if num_workers is None else num_workers, 1)
        if self.global_order:
            total = self.steps_per_epoch() * self.accumulate
            return [len(range(w, total, workers)) for w in range(workers)]
        slots = self.world_size * workers
        return [self._batches(self._slot_examples(self.rank * workers + w, slots)) for w in range(workers)]

    def batches_per_epoch(self, num_workers: int | None = None) -> int:
        return sum(self.batches_per_worker(num_workers))

    def worker_offsets(self, batches_done: int, num_workers: int | None = None) -> list[int]:
        """Batches each worker has yielded once the DataLoader yielded `batches_done` (round robin
        over the workers that still have batches)."""
        capacity = self.batches_per_worker(num_workers)
        done = [0] * len(capacity)
        remaining = batches_done
        while remaining > 0 and any(d < c for d, c in zip(done, capacity)):
            for w in range(len(capacity)):
                if remaining and done[w] < capacity[w]:
                    done[w] += 1
                    remaining -= 1
        return done

    # -- the global training order ---------------------------------------------------------------

    def epoch_order(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(files in reading order, each file's first input position, output -> input position)."""
        files = list(self.files)
        window = self.config.shuffle_buffer
        if window:
            np.random.default_rng([self.seed, self.epoch, 7]).shuffle(files)
        starts = np.concatenate([[0], np.cumsum([self._record_count(f) for f in files])]).astype(np.int64)
        order = np.arange(int(starts[-1]), dtype=np.int64)
        if window > 1:
            rng = np.random.default_rng([self.seed, self.epoch, 11])
            for first in range(0, len(order), window):
                rng.shuffle(order[first : first + window])
        return files, starts, order

    def micro_batch_positions(self, m: int) -> range:
        """Output positions of this rank's micro-batch m (module docstring)."""
        k, j = divmod(m, self.accumulate)
        size = self.config.batch_size
        first = k * self.global_batch() + (j * self.world_size + self.rank) * size
        return range(first, first + size)

    def _global_batches(self, worker: int, workers: int, stats: ReadStats) -> Iterator[list]:
        """This worker's micro-batches in order: lists of (path, index, decode), None for a record
        that was not intact. Framing damage is counted for records this worker owns, file tails by
        one slot per file."""
        files, starts, order = self.epoch_order()
        total = (len(order) // self.global_batch()) * self.accumulate
        mine = range(self._start + worker, total, workers)
        if not len(mine):
            return
        wanted = [order[self.micro_batch_positions(m)] for m in mine]
        needed = np.unique(np.concatenate(wanted))
        needed_set = set(needed.tolist())
        slot, slots = self.rank * workers + worker, self.world_size * workers
        scratch = ReadStats()

        def settle(lo: int, reporter: bool) -> None:
            delta = scratch.take()
            delta.skipped = [x for x in delta.skipped if (reporter if x.index is None else lo + x.index in needed_set)]
            if not reporter:
                delta.unread = []
            stats.merge(delta)

        def owned(decode):
            def run():
                record = decode()
                stats.merge(scratch.take())  # parse failures and the record count: always this slot's
                return record
            return run

        def stream() -> Iterator[tuple[int, tuple]]:
            for f, path in enumerate(files):
                lo, hi = int(starts[f]), int(starts[f + 1])
                inside = needed[(needed >= lo) & (needed < hi)]
                reporter = self._file_index[path] % slots == slot
                if not len(inside) and not reporter:
                    continue
                stop = None if reporter else int(inside[-1]) - lo + 1
                for index, decode in iter_lazy(path, self.config.schema, skip_corrupt=self.config.skip_corrupt, stats=scratch, stop=stop):
                    settle(lo, reporter)
                    if lo + index in needed_set:
                        yield lo + index, (path, index, owned(decode))
                settle(lo, reporter)

        items, stash, seen = stream(), {}, -1
        for positions in wanted:
            batch = []
            for q in positions.tolist():
                while seen < q:
                    nxt = next(items, None)
                    if nxt is None:
                        seen = len(order)
                        break
                    seen, stash[nxt[0]] = nxt[0], nxt[1]
                batch.append(stash.pop(q, None))
            yield batch
        for _ in items:  # a reporter frames its files to the end (their tails)
            pass

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

    def _lazy_records(self, slot: int, slots: int, stats: ReadStats) -> Iterator[tuple[str, int, object]]:
        """(path, index, decode) for this slot's records, in reading order."""
        for unit in self.units(slot, slots):
            for index, decode in iter_lazy(unit.path, self.config.schema, skip_corrupt=self.config.skip_corrupt, verify_crc=self.config.verify_checksums, stats=stats, start=unit.start, step=unit.step):
                yield unit.path, index, decode

    def iter_records(self, stats: ReadStats | None = None, slot: int | None = None, slots: int | None = None) -> Iterator[VideoRecord]:
        if slot is None:
            slot, slots, _ = self._slot()
        for _, _, decode in self._lazy_records(slot, slots, stats if stats is not None else ReadStats()):
            record = decode()
            if record is not None:
                yield record

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

    def _items(self, slot: int, slots: int, stats: ReadStats) -> Iterator:
        """What the shuffle buffer holds: unparsed records (one example each) or segment examples."""
        for path, index, decode in self._lazy_records(slot, slots, stats):
            if self.config.segment_labels:
                record = decode()
                if record is not None:
                    rng = np.random.default_rng([self.seed, self.epoch, self._file_index[path], index, 1]) if self.training else None
                    yield from segment_examples(record, self.config, rng)
            else:
                yield path, index, decode

    def _example(self, item) -> dict | None:
        if isinstance(item, dict):
            return item
        path, index, decode = item
        record = decode()
        if record is None:
            return None
        if self.config.sparse_features:  # whole videos in order (a recurrent model over sparse scores)
            return sparse_video_example(record, self.config)
        rng = None
        if self.training:  # frame sampling depends on the video, not on what was read before it
            rng = np.random.default_rng([self.seed, self.epoch, self._file_index[path], index])
        return video_example(record, self.config, rng)

    def __iter__(self) -> Iterator[dict]:
        if self.global_order:
            yield from self._iter_global()
            return
        slot, slots, worker = self._slot()
        size = self.config.batch_size
        skip = self._skip[worker] * size if self._skip else 0
        stats = ReadStats()
        items = self._shuffled(self._items(slot, slots, stats), np.random.default_rng([self.seed, self.epoch, slot]))
        chunk: list = []
        full_batches = 0
        ready = None  # a full batch waits for the next item, so the last one carries the final counts
        for position, item in enumerate(items):
            if position < skip:  # used before a resume: passed over without parsing
                full_batches += (position + 1) % size == 0
                continue
            if ready is not None:
                yield {**ready, READ_STATS: stats.take()}
                ready = None
            chunk.append(item)
            if len(chunk) == size:
                full_batches += 1
                ready, chunk = self._collate(chunk, full_batches), []
        if ready is not None:
            yield {**ready, READ_STATS: stats.take()}
        if chunk and (not self.training or full_batches == 0):
            batch = self._collate(chunk)
            if batch is not None:
                yield {**batch, READ_STATS: stats.take()}
        if stats:
            yield {READ_STATS: stats.take()}

    def _iter_global(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        stats = ReadStats()
        for number, items in enumerate(self._global_batches(worker, workers, stats)):
            batch = self._collate([i for i in items if i is not None], number)
            if batch is not None:
                yield {**batch, READ_STATS: stats.take()}
        if stats:
            yield {READ_STATS: stats.take()}

    def _collate(self, items: list, number: int = 0) -> dict | None:
        examples = [e for e in map(self._example, items) if e is not None]  # corrupt ones (skip_corrupt) drop out
        if not examples:
            return None
        batch = collate(examples, self.config)
        if self.training and self.config.segment_mixup > 0 and self.config.segment_labels:
            slot = self._slot()[0]
            batch = virtual_segments(batch, self.config.segment_mixup, np.random.default_rng([self.seed, self.epoch, slot, number, 2]))
        return batch


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
    if rng is not None and (cfg.augment_drop_segments > 0 or cfg.augment_reverse > 0):
        index = augmented_frames(np.arange(n)[index], cfg, rng)
    parts = []
    for name in cfg.feature_names:
        frames = record.features[name]
        if len(frames) < n:  # official: every feature is padded/truncated independently to rgb's length
            frames = np.concatenate([frames, np.zeros((n - len(frames), frames.shape[1]), np.uint8)])
        parts.append(frames[:n][index])
    return {"id": record.id, "features": parts, "num_frames": len(parts[0]), "labels": record.labels}


def augmented_frames(index: np.ndarray, cfg: DataConfig, rng: np.random.Generator) -> np.ndarray:
    """A training video's frame indices with whole 5-frame segments left out (augment_drop_segments, at
    least one kept) and read backwards with probability augment_reverse (seed 004's future work)."""
    if cfg.augment_drop_segments > 0 and len(index):
        segment = index // SEGMENT_SIZE
        kept = rng.random(int(segment.max()) + 1) >= cfg.augment_drop_segments
        if not kept.any():
            kept[rng.integers(len(kept))] = True
        index = index[kept[segment]]
    if cfg.augment_reverse > 0 and rng.random() < cfg.augment_reverse:
        index = index[::-1]
    return index


def virtual_segments(batch: dict, alpha: float, rng: np.random.Generator) -> dict:
    """Seed 004's virtual segments: every example mixed with another of the batch, λ ~ Beta(alpha, alpha).

    Frames mix as codes (dequantization is affine, so this is mixing the values, up to rounding); a pair's
    weight is λ·w_a + (1 − λ)·w_b and its label the weighted mean of the two labels (pairs rated in
    one example only keep that label, at that example's share of the weight)."""
    lam = float(rng.beta(alpha, alpha))
    other = torch.from_numpy(rng.permutation(len(batch["ids"])))
    mixed = dict(batch)
    features = batch["features"].float()
    mixed["features"] = (lam * features + (1 - lam) * features[other]).round().clamp(0, 255).to(torch.uint8)
    mixed["num_frames"] = torch.maximum(batch["num_frames"], batch["num_frames"][other])
    w_a, w_b = lam * batch["label_weights"], (1 - lam) * batch["label_weights"][other]
    weights = w_a + w_b
    mixed["labels"] = torch.where(weights > 0, (w_a * batch["labels"] + w_b * batch["labels"][other]) / weights.clamp(min=1e-12), torch.zeros_like(weights))
    mixed["label_weights"] = weights
    if "segments" in batch:  # whole videos: the union of the two segments' ranges
        mixed["segments"] = torch.stack([torch.minimum(batch["segments"][:, 0], batch["segments"][other, 0]), torch.maximum(batch["segments"][:, 1], batch["segments"][other, 1])], 1)
    return mixed


def segment_examples(record: VideoRecord, cfg: DataConfig, rng: np.random.Generator | None = None) -> Iterator[dict]:
    """The official segment reader: one example per unique rated start time.

    Labels are the segment scores at the rated classes; `label_weights` marks rated classes. Start times
    are taken in first-occurrence order; windows past the video end are zero-padded (5 frames, as the
    official reader, plus `segment_context` frames each side where the video has them). With
    `segment_negative_weight` > 0 every class the video never shows (not among its labels nor its
    positive segment labels) is a mined negative of each segment at that weight ("mined").
    """
    if not record.has_segments:
        raise RecordError("segment_labels=True needs segment-rated records", field="segment_start_times")
    parts = video_example(record, dataclasses.replace(cfg, sampling="all", skip_frames=0, max_frames=max(cfg.max_frames, record.num_frames)), None)["features"]
    mined = np.zeros(0, np.int64)
    if cfg.segment_negative_weight > 0:
        shown = np.concatenate([record.labels, record.segment_labels[record.segment_scores > 0]])
        mined = np.setdiff1d(np.arange(cfg.num_classes), shown)
    starts, first_seen = np.unique(record.segment_start_times, return_index=True)
    for start in starts[np.argsort(first_seen)]:
        rated = record.segment_start_times == start
        lo, hi = segment_window(int(start), record.num_frames, cfg.segment_context)
        example = {"id": f"{record.id}:{int(start)}", "labels": record.segment_labels[rated], "scores": record.segment_scores[rated], "mined": mined}
        if cfg.segment_whole_video:
            example.update(whole_video_segment(parts, lo, hi, cfg.max_frames))
        else:
            example.update(features=[padded_rows(part, lo, hi) for part in parts], num_frames=hi - lo)
        if rng is not None and cfg.augment_reverse > 0 and rng.random() < cfg.augment_reverse:  # read backwards
            example["features"] = [f[::-1] for f in example["features"]]
            if "segment" in example:
                length = example["num_frames"]
                example["segment"] = (length - hi, length - lo)
        yield example


def whole_video_segment(parts: list[np.ndarray], lo: int, hi: int, max_frames: int) -> dict:
    """A segment example's features when it carries its whole video: the video's first `max_frames`
    frames (padded to cover the segment) and the segment's frame range."""
    length = max(min(len(parts[0]), max_frames), hi)
    return {"features": [padded_rows(part, 0, length) for part in parts], "num_frames": length, "segment": (lo, hi)}


def segment_window(start: int, num_frames: int, context: int) -> tuple[int, int]:
    """Frames [lo, hi) of the segment at `start`: its 5 frames (zero-padded past the end, as the official
    reader) widened by `context` frames each side where the video has them."""
    return max(0, start - context), max(min(num_frames, start + SEGMENT_SIZE + context), start + SEGMENT_SIZE)


def padded_rows(frames: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """frames[lo:hi], zero rows where hi passes the end."""
    rows = frames[lo:hi]
    if len(rows) == hi - lo:
        return rows
    return np.concatenate([rows, np.zeros((hi - lo - len(rows), frames.shape[1]), frames.dtype)])


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
    if "segment" in examples[0]:  # whole videos with each example's segment frames [lo, hi)
        batch["segments"] = torch.tensor([e["segment"] for e in examples], dtype=torch.long)
    if cfg.segment_labels:
        weights = torch.zeros_like(labels)
        if cfg.segment_negative_weight > 0:
            mined = [np.asarray(e.get("mined", ()), np.int64) for e in examples]
            weights[np.repeat(np.arange(batch_size), [len(m) for m in mined]), np.concatenate(mined)] = cfg.segment_negative_weight
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


def model_inputs(batch: dict, device) -> dict:
    """What a model takes beside features and lengths: the segment ranges of whole-video segment batches."""
    return {"segments": batch["segments"].to(device)} if "segments" in batch else {}


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
    return loader_for(dataset)


def loader_for(dataset: VideoDataset, *, pin_memory: bool | None = None) -> VideoLoader:
    """The loader of a dataset. It draws its worker seeds from its own generator, so starting
    an epoch leaves the global torch random state (dropout, sampling in models) untouched."""
    workers = dataset.config.num_workers
    return VideoLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
        generator=torch.Generator().manual_seed(dataset.seed * 1_000_003 + dataset.epoch),
    )
