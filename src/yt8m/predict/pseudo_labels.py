"""Pseudo-labels (seed 004's future work): the top-scored segments of unlabeled test videos as new
positive segment ratings, written as 2019-format segment records to train phase 2 on beside the rated data.

A run scores every segment of `data` exactly as for a submission; for each rated class its `per_class`
best segments become ratings of score 1.0. Every video with at least one becomes one record (its frames,
its labels if it has any, the pseudo ratings), so the file reads like the official segment-rated data.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..evaluation.segments import read_segment_submission
from ..io import RecordWriter
from ..io.paths import expand_paths
from ..io.reader import read_records
from ..io.records import SEGMENT_SIZE
from .loaded import load_model
from .segments import SegmentOptions, predict_segments


def write_pseudo_labels(run, data, out: str | Path, whitelist, *, per_class: int, device: str = "auto", progress: bool = False) -> dict:
    """Write `out` (segment records with pseudo ratings); returns counts."""
    model = load_model(run, device=device)
    files = expand_paths(data)
    with tempfile.TemporaryDirectory() as tmp:
        ranked = Path(tmp) / "top.csv"
        predict_segments(model, files, ranked, np.asarray(whitelist), options=SegmentOptions(max_per_class=per_class), progress=progress)
        chosen: dict[str, list[tuple[int, int]]] = {}
        for cls, segments in read_segment_submission(ranked):
            for segment in segments:
                video, start = segment.rsplit(":", 1)
                chosen.setdefault(video, []).append((int(start), cls))
    schema = model.data.schema.replace(kind="segment")
    written = ratings = 0
    with RecordWriter(out, schema) as writer:  # appears under its name only when complete
        for record in read_records(files, schema):
            pairs = sorted(chosen.get(record.id, ()))
            if not pairs:
                continue
            record.segment_start_times = np.array([s for s, _ in pairs], np.int64)
            record.segment_end_times = record.segment_start_times + SEGMENT_SIZE
            record.segment_labels = np.array([c for _, c in pairs], np.int64)
            record.segment_scores = np.ones(len(pairs), np.float32)
            writer.write(record)
            written += 1
            ratings += len(pairs)
    return {"videos": written, "ratings": ratings, "out": str(out)}
