"""Prediction outputs, streamed batch by batch (memory does not grow with the number of videos).

- Kaggle CSV: `VideoId,LabelConfidencePairs`, the top 20 classes per video sorted by score,
  each as "%i %g" (the official inference.py format). Written and read with the csv module: ids
  are file names and may hold commas, quotes, newlines (quoted fields, RFC 4180) and UTF-8;
- Parquet / JSONL: top-k class ids, class names (from the vocabulary) and scores per video.
All files are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

FORMATS = ("csv", "parquet", "jsonl")
CSV_HEADER = ("VideoId", "LabelConfidencePairs")


def top_k(predictions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(classes [N, k], scores [N, k]) sorted by score descending; ties by lower class id."""
    k = min(k, predictions.shape[1])
    part = np.argpartition(-predictions, k - 1, axis=1)[:, :k]
    scores = np.take_along_axis(predictions, part, axis=1)
    order = np.lexsort((part, -scores), axis=1)
    classes = np.take_along_axis(part, order, axis=1)
    return classes, np.take_along_axis(scores, order, axis=1)


def format_pairs(classes: np.ndarray, scores: np.ndarray) -> str:
    return " ".join(f"{int(c)} {float(s):g}" for c, s in zip(classes, scores))


class PredictionWriter:
    """Write top-k predictions to csv / parquet / jsonl (format from the argument or the suffix)."""

    def __init__(self, path: str | Path, *, format: str | None = None, top_k: int = 20, class_names: dict[int, str] | None = None) -> None:
        self.path = Path(path)
        self.format = format or {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}.get(self.path.suffix, "")
        if self.format not in FORMATS:
            raise ValueError(f"unknown prediction format for {self.path.name!r}: use --format csv, parquet or jsonl")
        self.top_k, self.class_names = top_k, class_names or {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self.count = 0
        if self.format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            self._schema = pa.schema(
                [("id", pa.string()), ("classes", pa.list_(pa.int32())), ("names", pa.list_(pa.string())), ("scores", pa.list_(pa.float32()))]
            )
            self._parquet = pq.ParquetWriter(str(self._tmp), self._schema)
        else:
            self._file = open(self._tmp, "w", newline="", encoding="utf-8")
            if self.format == "csv":
                self._csv = csv.writer(self._file, lineterminator="\n")
                self._csv.writerow(CSV_HEADER)

    def write(self, ids: list[str], predictions: np.ndarray) -> None:
        self.write_top_k(ids, *top_k(predictions, self.top_k))

    def write_top_k(self, ids: list[str], classes: np.ndarray, scores: np.ndarray) -> None:
        """Rows from top-k classes and scores already sorted by `top_k` (e.g. computed by another process)."""
        self.count += len(ids)
        if self.format == "csv":
            self._csv.writerows([vid, format_pairs(c, s)] for vid, c, s in zip(ids, classes, scores))
        elif self.format == "jsonl":
            for vid, c, s in zip(ids, classes, scores):
                self._file.write(
                    json.dumps({"id": vid, "classes": c.tolist(), "names": [self.class_names.get(int(x), "") for x in c], "scores": [round(float(x), 6) for x in s]}) + "\n"
                )
        else:
            import pyarrow as pa

            names = [[self.class_names.get(int(x), "") for x in row] for row in classes]
            table = pa.table(
                {"id": ids, "classes": classes.astype(np.int32).tolist(), "names": names, "scores": scores.astype(np.float32).tolist()}, schema=self._schema
            )
            self._parquet.write_table(table)

    def close(self, *, discard: bool = False) -> None:
        if self.format == "parquet":
            self._parquet.close()
        else:
            self._file.close()
        if discard:
            self._tmp.unlink(missing_ok=True)
        else:
            os.replace(self._tmp, self.path)

    def __enter__(self) -> "PredictionWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(discard=exc_type is not None)


def read_predictions_csv(path: str | Path) -> list[tuple[str, list[int], list[float]]]:
    """[(video id, classes, scores)] from a Kaggle CSV (csv quoting undone; errors name file and line)."""
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        for row in reader:
            if reader.line_num == 1 and tuple(row) == CSV_HEADER:
                continue
            if len(row) != 2:
                raise ValueError(f"{path}: line {reader.line_num}: expected 2 fields (VideoId,LabelConfidencePairs), got {len(row)}")
            tokens = row[1].split()
            try:
                classes, scores = [int(t) for t in tokens[::2]], [float(t) for t in tokens[1::2]]
            except ValueError:
                raise ValueError(f"{path}: line {reader.line_num}: field LabelConfidencePairs is not 'class score' pairs") from None
            if len(classes) != len(scores):
                raise ValueError(f"{path}: line {reader.line_num}: field LabelConfidencePairs has an odd number of tokens")
            rows.append((row[0], classes, scores))
    return rows
