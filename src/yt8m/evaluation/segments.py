"""The Kaggle-2019 segment metric, MAP@K with K = 100000 (official segment_eval_inference.py, its intent).

A submission ranks, for each class, segment ids `"<video id>:<start time>"` best first (CSV
`Class,Segments`). Ground truth are human ratings of (segment, class) pairs. Per submitted class: keep the
first K ids, then drop ids that are not rated for that class (unrated segments are neither hits nor
misses); rank the rest in submission order and take the non-interpolated AP with recall over all the
class's positive ratings. MAP is the mean over submitted classes that have a positive rating.

The official script's bugs are not reproduced: the header line is skipped, ids are compared as text (not
Python-3 bytes reprs), the last id of a line keeps no newline, and a class without positives is skipped
instead of raising KeyError. Its synthetic scores (L - i) / L are strictly decreasing, so ranking by them
is ranking by submission order, which is what is done here. A class submitted twice, or a segment listed
twice for one class, is an error (the official script would count it twice).
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from typing import Iterable, Mapping

import numpy as np

from ..io.paths import open_binary
from ..io.records import VideoRecord

MAX_PREDICTIONS = 100_000  # K of MAP@K (inference.py --segment_max_pred, the README's --top_n)
HEADER_WORDS = ("Class",)  # `Class,Segments` (code) or `Class Id,Segment Ids` (README)

Submission = Iterable[tuple[int, Iterable[str]]]
Ratings = Mapping[tuple[str, int], float]


def segment_id(video_id: str, start_time: int) -> str:
    """The official segment id: `<video id>:<start time in seconds>`."""
    return f"{video_id}:{int(start_time)}"


def segment_ratings(records: Iterable[VideoRecord]) -> dict[tuple[str, int], float]:
    """Ratings {(segment id, class): score} from segment-rated records (validation split of the 2019 data)."""
    ratings: dict[tuple[str, int], float] = {}
    for index, record in enumerate(records):
        if not record.has_segments:
            raise ValueError(f"record {index} (video {record.id!r}) has no segment ratings")
        for start, label, score in zip(record.segment_start_times, record.segment_labels, record.segment_scores):
            key = (segment_id(record.id, start), int(label))
            if key in ratings and ratings[key] != float(score):
                raise ValueError(
                    f"record {index} (video {record.id!r}): segment {key[0]} class {key[1]} rated both "
                    f"{ratings[key]} and {float(score)}"
                )
            ratings[key] = float(score)
    return ratings


def read_segment_submission(path: str | os.PathLike) -> list[tuple[int, list[str]]]:
    """Read a `Class,Segments` submission: [(class, [segment ids best first])], header line skipped.

    Read with the csv module, so quoted fields (ids with commas, quotes or newlines) come back as written.
    """
    path = os.fspath(path)
    submission: list[tuple[int, list[str]]] = []
    with io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", newline="") as lines:
        reader = csv.reader(lines)
        for row in reader:
            number = reader.line_num
            if not row or not "".join(row).strip():
                continue
            if len(submission) == 0 and row[0].strip().startswith(HEADER_WORDS):
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{number}: expected '<class>,<segment ids>', got {','.join(row)[:80]!r}")
            try:
                class_id = int(row[0])
            except ValueError:
                raise ValueError(f"{path}:{number}: class id {row[0].strip()[:40]!r} is not an integer") from None
            submission.append((class_id, row[1].split()))
    return submission


def segment_average_precisions(
    submission: Submission | str | os.PathLike, ratings: Ratings, k: int = MAX_PREDICTIONS
) -> dict[int, float]:
    """AP per submitted class that has >= 1 positive rating (see the module docstring)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    source = ""
    if isinstance(submission, (str, os.PathLike)):
        source = f"{os.fspath(submission)}: "
        submission = read_segment_submission(submission)
    by_class: dict[int, dict[str, float]] = {}
    for (segment, class_id), score in ratings.items():
        by_class.setdefault(int(class_id), {})[segment] = float(score)
    aps: dict[int, float] = {}
    seen: set[int] = set()
    for class_id, segments in submission:
        class_id = int(class_id)
        if class_id in seen:
            raise ValueError(f"{source}class {class_id} is submitted twice")
        seen.add(class_id)
        ranked = list(segments)[:k]
        if len(set(ranked)) != len(ranked):
            twice = Counter(ranked).most_common(1)[0][0]
            raise ValueError(f"{source}class {class_id} lists segment {twice!r} twice")
        rated = by_class.get(class_id, {})
        positives = sum(score > 0 for score in rated.values())
        if positives == 0:
            continue
        kept = np.asarray([score for score in map(rated.get, ranked) if score is not None], dtype=np.float64)
        ranks = np.flatnonzero(kept > 0) + 1
        terms = (np.arange(1, len(ranks) + 1) / ranks) * (1.0 / positives)
        aps[class_id] = float(np.cumsum(terms)[-1]) if terms.size else 0.0  # sequential, like the official loop
    return aps


def segment_map_at_k(submission: Submission | str | os.PathLike, ratings: Ratings, k: int = MAX_PREDICTIONS) -> float:
    """Kaggle-2019 MAP@k: mean AP over submitted classes with >= 1 positive rating."""
    aps = segment_average_precisions(submission, ratings, k)
    if not aps:
        raise ValueError("no submitted class has a positively rated segment: MAP is undefined")
    return float(np.mean(list(aps.values())))


def rated_segment_map(pairs: Mapping, k: int = MAX_PREDICTIONS) -> dict:
    """MAP@k of ranking every rated segment by the model's score, from rated (segment, class) pairs in
    reading order ({"ids", "classes", "scores", "labels"}: evaluate.rated_segment_predictions).

    The validation score of segment fine-tuning: the submission it stands for lists, per class, every
    rated segment best first (equal scores in reading order), so it equals the Kaggle MAP@k of a full
    submission whenever each class has at most k segments ranked above its last rated one.
    Returns {"segment_map": MAP, "segment_map_classes": classes averaged, "per_class": {class: AP}}.
    """
    ids, classes = list(pairs["ids"]), np.asarray(pairs["classes"], np.int64)
    scores, labels = np.asarray(pairs["scores"], np.float64), np.asarray(pairs["labels"], np.float64)
    ratings = {(segment, int(c)): float(y) for segment, c, y in zip(ids, classes, labels)}
    order = np.lexsort((np.arange(len(ids)), -scores, classes))
    bounds = np.flatnonzero(np.diff(classes[order])) + 1
    submission = [(int(classes[chunk[0]]), [ids[i] for i in chunk]) for chunk in np.split(order, bounds) if len(chunk)]
    aps = segment_average_precisions(submission, ratings, k)
    return {"segment_map": float(np.mean(list(aps.values()))) if aps else float("nan"), "segment_map_classes": len(aps), "per_class": aps}
