"""Kaggle-2019 segment MAP@K: hand-built submissions and ratings, ratings from real segment records."""

from __future__ import annotations

import numpy as np
import pytest

from yt8m.evaluation import read_segment_submission, segment_average_precisions, segment_map_at_k, segment_ratings
from yt8m.io import VideoRecord, read_records, write_records

RATINGS = {
    ("a:0", 3): 1.0,
    ("a:5", 3): 0.0,
    ("b:0", 3): 1.0,
    ("c:10", 3): 1.0,  # class 3: 3 positives
    ("a:0", 7): 0.0,
    ("b:5", 7): 1.0,  # class 7: 1 positive
    ("c:0", 9): 0.0,  # class 9: rated, but no positive
}

SUBMISSION_TEXT = (
    "Class,Segments\n"
    "3,x:0 a:0 a:5 b:0 zz:5 c:10\n"  # x:0 and zz:5 are unrated for class 3; c:10 is the line's last id
    "7,b:5 a:0\n"
    "9,c:0\n"
    "11,q:0\n"  # class 11 has no ratings at all
)


@pytest.fixture
def submission_path(tmp_path):
    path = tmp_path / "submission.csv"
    path.write_text(SUBMISSION_TEXT)
    return path


def test_read_submission_skips_the_header_and_strips_newlines(submission_path):
    assert read_segment_submission(submission_path) == [
        (3, ["x:0", "a:0", "a:5", "b:0", "zz:5", "c:10"]),
        (7, ["b:5", "a:0"]),
        (9, ["c:0"]),
        (11, ["q:0"]),
    ]


def test_map_by_hand_without_truncation(submission_path):
    # class 3: unrated ids dropped -> a:0 +, a:5 -, b:0 +, c:10 +  -> (1/1 + 2/3 + 3/4) / 3 = 29/36
    # class 7: b:5 +, a:0 -                                       -> (1/1) / 1 = 1
    # classes 9 and 11: no positive ratings -> skipped, not a KeyError
    aps = segment_average_precisions(submission_path, RATINGS)
    assert aps == pytest.approx({3: 29 / 36, 7: 1.0})
    assert segment_map_at_k(submission_path, RATINGS) == pytest.approx((29 / 36 + 1) / 2)


def test_truncation_happens_before_unrated_ids_are_dropped(submission_path):
    # k = 5 keeps x:0 a:0 a:5 b:0 zz:5 -> rated: a:0 +, a:5 -, b:0 +  (c:10 is cut)  -> (1 + 2/3) / 3 = 5/9
    # (dropping unrated ids first would keep c:10 and give 29/36)
    aps = segment_average_precisions(submission_path, RATINGS, k=5)
    assert aps[3] == pytest.approx(5 / 9)
    assert segment_map_at_k(submission_path, RATINGS, k=5) == pytest.approx((5 / 9 + 1) / 2)
    # k = 1 leaves only the unrated x:0 for class 3: AP 0
    assert segment_average_precisions(submission_path, RATINGS, k=1)[3] == 0.0


def test_iterable_submission_and_other_header_and_line_endings(tmp_path):
    rows = [(3, ["x:0", "a:0", "a:5", "b:0", "zz:5", "c:10"]), (7, ["b:5", "a:0"])]
    path = tmp_path / "readme_header.csv"
    path.write_bytes(b"Class Id,Segment Ids\r\n3,x:0 a:0 a:5 b:0 zz:5 c:10\r\n\r\n7,b:5  a:0\r\n")
    assert read_segment_submission(path) == rows
    assert segment_map_at_k(path, RATINGS) == segment_map_at_k(rows, RATINGS) == pytest.approx((29 / 36 + 1) / 2)


def test_classes_absent_from_the_submission_are_not_averaged():
    # only class 7 submitted: class 3's positives do not pull the mean down
    assert segment_map_at_k([(7, ["a:0", "b:5"])], RATINGS) == pytest.approx(1 / 2)  # b:5 + at rank 2


def test_submission_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Class,Segments\n3,a:0\nthree,b:0\n")
    with pytest.raises(ValueError, match=r"bad.csv:3: class id 'three'"):
        read_segment_submission(path)
    path.write_text("3,a:0\n3,b:0\n")
    with pytest.raises(ValueError, match="class 3 is submitted twice"):
        segment_map_at_k(path, RATINGS)
    with pytest.raises(ValueError, match="segment 'a:0' twice"):
        segment_map_at_k([(3, ["a:0", "b:0", "a:0"])], RATINGS)
    with pytest.raises(ValueError, match="no submitted class"):
        segment_map_at_k([(9, ["c:0"])], RATINGS)


def segment_record(video_id: str, starts, labels, scores) -> VideoRecord:
    rng = np.random.default_rng(len(video_id))
    features = {"rgb": rng.integers(0, 256, (20, 1024), dtype=np.uint8)}
    features["audio"] = rng.integers(0, 256, (20, 128), dtype=np.uint8)
    record = VideoRecord(video_id, np.array(sorted(set(labels)), dtype=np.int64), features)
    record.segment_start_times = np.array(starts, dtype=np.int64)
    record.segment_end_times = record.segment_start_times + 5
    record.segment_labels = np.array(labels, dtype=np.int64)
    record.segment_scores = np.array(scores, dtype=np.float32)
    return record


def test_ratings_from_segment_records_written_and_read_back(tmp_path, submission_path):
    records = [
        segment_record("a", [0, 5, 0], [3, 3, 7], [1.0, 0.0, 0.0]),
        segment_record("b", [0, 5], [3, 7], [1.0, 1.0]),
        segment_record("c", [10, 0], [3, 9], [1.0, 0.0]),
    ]
    path = tmp_path / "validate.tfrecord"
    write_records(path, records, kind="segment")
    ratings = segment_ratings(read_records(str(path), kind="segment"))
    assert ratings == RATINGS
    assert segment_map_at_k(submission_path, ratings) == pytest.approx((29 / 36 + 1) / 2)


def test_ratings_errors():
    plain = VideoRecord("v", np.array([1]), {})
    with pytest.raises(ValueError, match=r"record 0 \(video 'v'\) has no segment ratings"):
        segment_ratings([plain])
    conflicting = segment_record("a", [0, 0], [3, 3], [1.0, 0.0])
    with pytest.raises(ValueError, match="rated both"):
        segment_ratings([conflicting])
