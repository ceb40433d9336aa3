"""The shared progress display: plain periodic lines when stdout is not a terminal."""

import io

from yt8m.progress import Progress


def test_plain_lines_show_counts_rate_and_time_left():
    out = io.StringIO()
    with Progress("train", total=10, unit="videos", log_every=0.0, stream=out) as bar:
        for _ in range(4):
            bar.advance(1, loss="0.5")
    lines = out.getvalue().splitlines()
    assert len(lines) == 5  # one per update (log_every=0) plus the final line
    assert lines[0].startswith("[train] 1/10 videos (10%)")
    assert "left " in lines[0] and "loss 0.5" in lines[0]
    assert lines[-1].startswith("[train] 4/10 videos (40%)") and "done" in lines[-1]


def test_plain_lines_are_rate_limited_and_unknown_totals_count_up():
    out = io.StringIO()
    with Progress("convert", unit="records", log_every=3600.0, stream=out) as bar:
        for _ in range(100):
            bar.advance(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("[convert] 100 records") and "done" in lines[0]


def test_disabled_progress_prints_nothing():
    out = io.StringIO()
    with Progress("eval", total=3, enabled=False, log_every=0.0, stream=out) as bar:
        bar.advance(3)
    assert out.getvalue() == ""


def test_a_non_terminal_stream_picks_plain_lines():
    assert Progress("x", stream=io.StringIO()).plain is True
