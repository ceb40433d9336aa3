"""Prediction outputs, streamed batch by batch (memory does not grow with the number of videos).

- Kaggle CSV: `VideoId,LabelConfidencePairs`, the top 20 classes per video sorted by score,
  each as "%i %g" (the official inference.py format);
- Parquet / JSONL: top-k class ids, class names (from the vocabulary) and scores per video.
All files are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

FORMATS = ("csv", "parquet", "jsonl")


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
            self._file = open(self._tmp, "w", newline="\n")
            if self.format == "csv":
                self._file.write("VideoId,LabelConfidencePairs\n")

    def write(self, ids: list[str], predictions: np.ndarray) -> None:
        classes, scores = top_k(predictions, self.top_k)
        self.count += len(ids)
        if self.format == "csv":
            self._file.write("".join(f"{vid},{format_pairs(c, s)}\n" for vid, c, s in zip(ids, classes, scores)))
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
