"""`yt8m convert`: TFRecords -> Arrow shards, one output shard per input file, in parallel.

Resumable: a finished shard (present under its final name) is never rewritten; shards are written
to a temp name and renamed, so a half-written one never appears. Progress (yt8m.progress) and a summary.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from .paths import expand_paths
from .reader import ReadStats, read_file
from .records import RecordSchema
from .shards import ShardWriter


@dataclass
class ConvertSummary:
    converted: int = 0
    skipped_existing: int = 0
    records: int = 0
    skipped_records: int = 0
    input_bytes: int = 0
    output_bytes: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def shard_name(path: str) -> str:
    base = os.path.basename(path.rstrip("/"))
    for ext in (".tfrecord.gz", ".tfrecords.gz", ".tfrecord", ".tfrecords", ".gz"):
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    return base + ".arrow"


def convert_file(path: str, out_path: str, schema: RecordSchema, skip_corrupt: bool = False) -> tuple[int, int, list[str]]:
    """Convert one file; returns (records, skipped records, error messages)."""
    stats = ReadStats()
    with ShardWriter(out_path, schema) as writer:
        for record in read_file(path, schema, skip_corrupt=skip_corrupt, stats=stats):
            writer.write(record)
    return stats.records, stats.skipped, stats.errors


def convert(
    inputs,
    out_dir: str,
    schema: RecordSchema | None = None,
    *,
    workers: int | None = None,
    skip_corrupt: bool = False,
    progress: bool = True,
) -> ConvertSummary:
    """Convert every input file into `out_dir/<name>.arrow`. Schema detected from the first file if None."""
    from .detect import detect_schema

    files = expand_paths(inputs)
    schema = schema or detect_schema(files[0])
    os.makedirs(out_dir, exist_ok=True)
    summary = ConvertSummary()
    start = time.perf_counter()
    todo = []
    for path in files:
        out_path = os.path.join(out_dir, shard_name(path))
        summary.outputs.append(out_path)
        if os.path.exists(out_path):
            summary.skipped_existing += 1
        else:
            todo.append((path, out_path))
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    from ..progress import Progress

    with Progress("convert", total=len(todo), unit="files", enabled=progress) as bar:
        with ProcessPoolExecutor(workers) if workers > 1 else _InlineExecutor() as pool:
            futures = {pool.submit(convert_file, path, out, schema, skip_corrupt): (path, out) for path, out in todo}
            for future in as_completed(futures):
                path, out = futures[future]
                records, skipped, errors = future.result()
                summary.converted += 1
                summary.records += records
                summary.skipped_records += skipped
                summary.errors.extend(errors)
                bar.advance(1, records=f"{summary.records:,}")
    for path, out in todo:
        summary.input_bytes += os.path.getsize(path) if os.path.exists(path) else 0
    summary.output_bytes = sum(os.path.getsize(p) for p in summary.outputs if os.path.exists(p))
    summary.seconds = time.perf_counter() - start
    return summary


class _InlineExecutor:
    """The ProcessPoolExecutor interface, run in this process (one worker: no pickling, clear tracebacks)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        from concurrent.futures import Future

        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - re-raised by future.result()
            future.set_exception(exc)
        return future
