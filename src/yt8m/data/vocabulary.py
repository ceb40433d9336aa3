"""The dataset's side files: `vocabulary.csv` (class names and verticals) and `segment_label_ids.csv`.

`vocabulary.csv` has the official header
`Index,TrainVideoCount,KnowledgeGraphId,Name,WikiUrl,Vertical1,Vertical2,Vertical3,WikiDescription`;
`Index` is the class id used in the records' `labels`. Real files leave some fields empty (no second
vertical, no description), so only `Index` and `Name` are required when reading.
`segment_label_ids.csv` holds the header `Index` and one rated class id per line (the 1000 classes of
the 2019 segment task; the segment predictor only scores these).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

VOCABULARY_COLUMNS = (
    "Index", "TrainVideoCount", "KnowledgeGraphId", "Name", "WikiUrl",
    "Vertical1", "Vertical2", "Vertical3", "WikiDescription",
)
REQUIRED_COLUMNS = ("Index", "Name")
SEGMENT_IDS_HEADER = "Index"


class VocabularyError(ValueError):
    """A vocabulary or segment-id file does not follow the official layout; names file and line."""

    def __init__(self, path: str | os.PathLike, message: str, *, line: int | None = None, column: str | None = None) -> None:
        where = [f"file {os.fspath(path)}"]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {message}")


@dataclass
class Vocabulary:
    """Class metadata in class-id order: `names[i]` names class i (columnar, like the csv).

    Verticals are strings ("" when absent). `train_video_count[i]` counts train videos labelled i.
    """

    names: list[str]
    train_video_count: np.ndarray  # int64 [C]
    knowledge_graph_ids: list[str]
    wiki_urls: list[str]
    verticals: list[tuple[str, str, str]]  # (Vertical1, Vertical2, Vertical3) per class
    wiki_descriptions: list[str]
    _index_of: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.names)
        self.train_video_count = np.asarray(self.train_video_count, dtype=np.int64)
        for name, values in (
            ("train_video_count", self.train_video_count), ("knowledge_graph_ids", self.knowledge_graph_ids),
            ("wiki_urls", self.wiki_urls), ("verticals", self.verticals), ("wiki_descriptions", self.wiki_descriptions),
        ):
            if len(values) != n:
                raise ValueError(f"vocabulary: {len(values)} {name} for {n} names")
        self._index_of = {name: i for i, name in enumerate(self.names)}

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def index_of(self, name: str) -> int:
        """Class id of a name (KeyError naming it if unknown)."""
        try:
            return self._index_of[name]
        except KeyError:
            raise KeyError(f"no class named {name!r} in the vocabulary") from None

    def vertical_names(self) -> list[str]:
        """Distinct Vertical1 values in first-appearance order."""
        return list(dict.fromkeys(v[0] for v in self.verticals if v[0]))

    def classes_in_vertical(self, vertical: str, *, primary_only: bool = True) -> np.ndarray:
        """Class ids whose Vertical1 (or, with primary_only=False, any vertical) is `vertical`."""
        hit = [i for i, v in enumerate(self.verticals) if (v[0] == vertical if primary_only else vertical in v)]
        return np.asarray(hit, dtype=np.int64)

    def rows(self) -> list[dict[str, str]]:
        """The csv rows as dicts keyed by VOCABULARY_COLUMNS."""
        return [
            {
                "Index": str(i), "TrainVideoCount": str(int(self.train_video_count[i])),
                "KnowledgeGraphId": self.knowledge_graph_ids[i], "Name": self.names[i], "WikiUrl": self.wiki_urls[i],
                "Vertical1": self.verticals[i][0], "Vertical2": self.verticals[i][1], "Vertical3": self.verticals[i][2],
                "WikiDescription": self.wiki_descriptions[i],
            }
            for i in range(self.num_classes)
        ]


def write_vocabulary(path: str | os.PathLike, vocabulary: Vocabulary) -> None:
    """Write vocabulary.csv (official header, csv quoting, UTF-8) atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=VOCABULARY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(vocabulary.rows())
    os.replace(tmp, path)


def read_vocabulary(path: str | os.PathLike) -> Vocabulary:
    """Read vocabulary.csv. Index values must be 0..C-1 (any order); missing optional fields are ""/0."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        for column in REQUIRED_COLUMNS:
            if column not in header:
                raise VocabularyError(path, f"missing column; header is {','.join(header) or '(empty)'}", line=1, column=column)
        rows: dict[int, dict[str, str]] = {}
        for row in reader:
            line = reader.line_num
            try:
                index = int(row["Index"])
            except (TypeError, ValueError):
                raise VocabularyError(path, f"Index {row['Index']!r} is not an integer", line=line, column="Index") from None
            if index < 0 or index in rows:
                raise VocabularyError(path, f"Index {index} is negative or repeated", line=line, column="Index")
            count = (row.get("TrainVideoCount") or "").strip()
            try:
                row["TrainVideoCount"] = int(float(count)) if count else 0
            except ValueError:
                raise VocabularyError(path, f"TrainVideoCount {count!r} is not a number", line=line, column="TrainVideoCount") from None
            rows[index] = row
    missing = sorted(set(range(len(rows))) - rows.keys())
    if missing:
        raise VocabularyError(path, f"class ids are not 0..{len(rows) - 1}: {missing[0]} is missing", column="Index")

    def text(row, column):
        return (row.get(column) or "").strip()

    ordered = [rows[i] for i in range(len(rows))]
    return Vocabulary(
        names=[text(r, "Name") for r in ordered],
        train_video_count=np.asarray([r["TrainVideoCount"] for r in ordered], dtype=np.int64),
        knowledge_graph_ids=[text(r, "KnowledgeGraphId") for r in ordered],
        wiki_urls=[text(r, "WikiUrl") for r in ordered],
        verticals=[(text(r, "Vertical1"), text(r, "Vertical2"), text(r, "Vertical3")) for r in ordered],
        wiki_descriptions=[text(r, "WikiDescription") for r in ordered],
    )


def write_segment_label_ids(path: str | os.PathLike, class_ids) -> None:
    """Write segment_label_ids.csv: header `Index`, one class id per line, atomically."""
    path = Path(path)
    ids = np.asarray(class_ids, dtype=np.int64)
    if ids.ndim != 1 or (ids < 0).any() or len(np.unique(ids)) != len(ids):
        raise ValueError("segment label ids must be distinct non-negative integers")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(SEGMENT_IDS_HEADER + "\n" + "".join(f"{int(i)}\n" for i in ids), encoding="utf-8")
    os.replace(tmp, path)


def read_segment_label_ids(path: str | os.PathLike, num_classes: int | None = None) -> np.ndarray:
    """The rated class ids (int64, file order). With num_classes, ids must lie in [0, num_classes)."""
    with open(path, newline="", encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    if not lines or lines[0] != SEGMENT_IDS_HEADER:
        raise VocabularyError(path, f"expected header {SEGMENT_IDS_HEADER!r}, found {lines[0] if lines else '(empty file)'!r}", line=1)
    ids = []
    for line_number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        try:
            value = int(line)
        except ValueError:
            raise VocabularyError(path, f"{line!r} is not a class id", line=line_number) from None
        if value < 0 or (num_classes is not None and value >= num_classes):
            raise VocabularyError(path, f"class id {value} outside [0, {num_classes})", line=line_number)
        ids.append(value)
    if len(set(ids)) != len(ids):
        raise VocabularyError(path, "class ids repeat")
    return np.asarray(ids, dtype=np.int64)


def segment_label_mask(class_ids, num_classes: int) -> np.ndarray:
    """Boolean [num_classes] whitelist: True for the rated classes (the segment predictor's mask)."""
    mask = np.zeros(num_classes, dtype=bool)
    mask[np.asarray(class_ids, dtype=np.int64)] = True
    return mask
