"""vocabulary.csv and segment_label_ids.csv: official layout, round trips, and errors that name the line."""

from __future__ import annotations

import numpy as np
import pytest

from yt8m.data.vocabulary import (
    VOCABULARY_COLUMNS,
    Vocabulary,
    VocabularyError,
    read_segment_label_ids,
    read_vocabulary,
    segment_label_mask,
    write_segment_label_ids,
    write_vocabulary,
)


def _vocabulary() -> Vocabulary:
    return Vocabulary(
        names=["Game", "Nike, Inc.", 'The "Quoted" one'],
        train_video_count=[788288, 12, 0],
        knowledge_graph_ids=["/m/0bzvm2", "/m/0lwkh", "/m/03bt1gh"],
        wiki_urls=["https://en.wikipedia.org/wiki/Game", "", "https://en.wikipedia.org/wiki/X"],
        verticals=[("Games", "", ""), ("Shopping", "Sports", "Beauty & Fitness"), ("Arts & Entertainment", "", "")],
        wiki_descriptions=["A game is structured play.", "Line one,\nline two", ""],
    )


def test_round_trip_keeps_every_field(tmp_path):
    path = tmp_path / "vocabulary.csv"
    write_vocabulary(path, _vocabulary())
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(VOCABULARY_COLUMNS)
    back = read_vocabulary(path)
    original = _vocabulary()
    assert back.names == original.names
    assert back.train_video_count.tolist() == [788288, 12, 0]
    assert back.verticals == original.verticals
    assert back.wiki_descriptions[1] == "Line one,\nline two"
    assert back.index_of("Nike, Inc.") == 1
    assert back.vertical_names() == ["Games", "Shopping", "Arts & Entertainment"]
    assert back.classes_in_vertical("Sports").tolist() == []
    assert back.classes_in_vertical("Sports", primary_only=False).tolist() == [1]


def test_reads_rows_in_any_order_with_empty_optional_fields(tmp_path):
    path = tmp_path / "vocabulary.csv"
    path.write_text("Index,Name,TrainVideoCount\n1,Car,\n0,Vehicle,415890.0\n", encoding="utf-8")
    vocab = read_vocabulary(path)
    assert vocab.names == ["Vehicle", "Car"]
    assert vocab.train_video_count.tolist() == [415890, 0]
    assert vocab.verticals == [("", "", ""), ("", "", "")]
    with pytest.raises(KeyError, match="Bus"):
        vocab.index_of("Bus")


@pytest.mark.parametrize(
    "text, message",
    [
        ("Index,Label\n0,x\n", "column 'Name'"),
        ("Index,Name\n0,a\n0,b\n", "line 3.*repeated"),
        ("Index,Name\n0,a\n2,b\n", "1 is missing"),
        ("Index,Name\nzero,a\n", "line 2.*not an integer"),
        ("Index,Name,TrainVideoCount\n0,a,many\n", "line 2.*TrainVideoCount"),
    ],
)
def test_bad_vocabulary_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "vocabulary.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(VocabularyError, match=message) as err:
        read_vocabulary(path)
    assert str(path) in str(err.value)


def test_segment_label_ids_round_trip_and_mask(tmp_path):
    path = tmp_path / "segment_label_ids.csv"
    write_segment_label_ids(path, [3, 1831, 17])
    assert path.read_text() == "Index\n3\n1831\n17\n"
    ids = read_segment_label_ids(path, num_classes=3862)
    assert ids.tolist() == [3, 1831, 17]
    mask = segment_label_mask(ids, 3862)
    assert mask.sum() == 3 and mask[1831] and not mask[4]


@pytest.mark.parametrize(
    "text, message",
    [("Class\n3\n", "header"), ("Index\n3\nx\n", "line 3"), ("Index\n3\n5000\n", r"outside \[0, 3862\)"), ("Index\n3\n3\n", "repeat")],
)
def test_bad_segment_label_ids(tmp_path, text, message):
    path = tmp_path / "segment_label_ids.csv"
    path.write_text(text)
    with pytest.raises(VocabularyError, match=message):
        read_segment_label_ids(path, num_classes=3862)


def test_vocabulary_rejects_mismatched_columns():
    with pytest.raises(ValueError, match="2 train_video_count for 3 names"):
        Vocabulary(names=["a", "b", "c"], train_video_count=np.zeros(2), knowledge_graph_ids=[""] * 3,
                   wiki_urls=[""] * 3, verticals=[("", "", "")] * 3, wiki_descriptions=[""] * 3)
