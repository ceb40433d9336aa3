"""Which videos to extract, their ids and labels: file paths, optionally a labels CSV, a vocabulary.

labels.csv (read with the csv module, so names may hold commas, quotes and newlines) has a header with
`video` (a path, or a file name matched against the inputs), `labels` (separated by `;`, the official
extractor's separator) and optionally `id` (default: the file's stem). Labels are class names, turned
into class ids in sorted-name order and written as `vocabulary.csv` (the official header), or, when all
are integers, class ids used as they are. A new label set for transfer learning is just a new labels.csv.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.vocabulary import Vocabulary, VocabularyError

SEPARATOR = ";"


@dataclass(frozen=True)
class VideoJob:
    path: str
    id: str
    labels: tuple[int, ...] = ()


def _split(text: str) -> list[str]:
    return [t.strip() for t in (text or "").split(SEPARATOR) if t.strip()]


def read_labels(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of labels.csv as dicts (columns `video`, `labels`, optional `id`); errors name file, line, column."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        for column in ("video", "labels"):
            if column not in header:
                raise VocabularyError(path, f"missing column; header is {','.join(header) or '(empty)'}", line=1, column=column)
        rows = []
        for row in reader:
            if not (row.get("video") or "").strip():
                raise VocabularyError(path, "empty video", line=reader.line_num, column="video")
            rows.append(row)
    return rows


def build_vocabulary(names: list[str], counts: dict[str, int]) -> Vocabulary:
    """Official-layout vocabulary of the given class names (Index = position), other fields empty."""
    n = len(names)
    return Vocabulary(names=list(names), train_video_count=np.asarray([counts.get(x, 0) for x in names]),
                      knowledge_graph_ids=[""] * n, wiki_urls=[""] * n, verticals=[("", "", "")] * n, wiki_descriptions=[""] * n)


def plan_jobs(videos: list[str], labels_csv: str | os.PathLike | None = None) -> tuple[list[VideoJob], Vocabulary | None]:
    """Jobs for `videos` (ids = stems, no labels), or for the labels CSV's rows matched to them.

    With a CSV every row must name an input file (matched by path, then by file name), and every
    input must have a row: nothing is skipped silently. Ids must be unique.
    """
    if labels_csv is None:
        jobs = [VideoJob(str(v), Path(v).stem) for v in videos]
        vocabulary = None
    else:
        rows = read_labels(labels_csv)
        by_path = {os.path.normpath(v): v for v in videos}
        by_name: dict[str, list[str]] = {}
        for v in videos:
            by_name.setdefault(Path(v).name, []).append(v)
        tokens = [t for row in rows for t in _split(row["labels"])]
        numeric = all(t.lstrip("-").isdigit() for t in tokens)
        names = sorted(set(tokens)) if not numeric else []
        index = {name: i for i, name in enumerate(names)}
        jobs, used = [], set()
        for line, row in enumerate(rows, start=2):
            key = row["video"].strip()
            path = by_path.get(os.path.normpath(key)) or (by_name.get(Path(key).name) or [None])[0]
            if path is None:
                raise VocabularyError(labels_csv, f"video {key!r} is not among the input files", line=line, column="video")
            if len(by_name.get(Path(key).name, [])) > 1 and os.path.normpath(key) not in by_path:
                raise VocabularyError(labels_csv, f"video {key!r} matches several input files: give its path", line=line, column="video")
            labels = sorted({int(t) for t in _split(row["labels"])} if numeric else {index[t] for t in _split(row["labels"])})
            if numeric and any(x < 0 for x in labels):
                raise VocabularyError(labels_csv, f"negative class id in {row['labels']!r}", line=line, column="labels")
            used.add(path)
            jobs.append(VideoJob(path, (row.get("id") or "").strip() or Path(path).stem, tuple(labels)))
        missing = [v for v in videos if v not in used]
        if missing:
            raise VocabularyError(labels_csv, f"no row for input video {missing[0]!r} ({len(missing)} inputs without labels)")
        counts = {name: sum(name in _split(r["labels"]) for r in rows) for name in names}
        vocabulary = build_vocabulary(names, counts) if names else None
    seen: dict[str, str] = {}
    for job in jobs:
        if job.id in seen:
            raise ValueError(f"videos {seen[job.id]!r} and {job.path!r} get the same id {job.id!r}: give ids in the labels CSV")
        seen[job.id] = job.path
    return jobs, vocabulary
