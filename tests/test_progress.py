"""Long work says how long it will take, from a rate measured on its first units; short work says nothing."""

import time

from aeflow.progress import announce_from_first, duration


def test_durations_read_as_words():
    assert [duration(s) for s in (45, 600, 7500)] == ["45 s", "10 min", "2 h 05 min"]


def test_an_estimate_is_said_only_when_the_work_is_long(capsys):
    announce_from_first("sampling 10,000 images", time.perf_counter() - 2.0, 128, 10_000, "images", "--n")
    line = capsys.readouterr().err.strip()
    assert line.startswith("aeflow: sampling 10,000 images will take about 3 min here")   # 2 s x 10,000 / 128
    assert "the first 128 images in 2.0 s" in line and "--n" in line
    announce_from_first("a short job", time.perf_counter() - 0.1, 128, 256, "images", "--n")
    assert capsys.readouterr().err == ""
