from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import BASE_TIME, event_times
from wikiguard.domain.windows import Watermark, Window, window_of


@given(st.lists(event_times, max_size=200))
def test_every_event_lands_in_exactly_one_window_and_counts_add_up(times):
    counts: dict[Window, int] = {}
    for t in times:
        w = window_of(t)
        assert w.start <= t < w.end and w.end - w.start == timedelta(minutes=10)
        assert w.start.minute % 10 == 0 and w.start.second == 0 and w.start.microsecond == 0
        assert window_of(w.start) == w and window_of(w.end) != w
        counts[w] = counts.get(w, 0) + 1
    assert sum(counts.values()) == len(times)


def test_windows_are_half_open():
    w = window_of(BASE_TIME)
    assert BASE_TIME in w and w.end not in w


def test_watermark_closes_windows_after_the_allowed_lateness():
    wm = Watermark(timedelta(minutes=5))
    wm.observe(BASE_TIME + timedelta(minutes=14))  # 12:14 -> watermark 12:09 -> nothing closed before 12:00
    assert not wm.is_late(BASE_TIME + timedelta(minutes=1))
    wm.observe(BASE_TIME + timedelta(minutes=15))  # watermark 12:10 -> [12:00, 12:10) closed
    assert wm.is_late(BASE_TIME + timedelta(minutes=9, seconds=59))
    assert not wm.is_late(BASE_TIME + timedelta(minutes=10))
    wm.observe(BASE_TIME)  # an older event never moves it back
    assert wm.closed_until == BASE_TIME + timedelta(minutes=10)


def test_close_all_closes_the_newest_window():
    wm = Watermark(timedelta(minutes=5))
    wm.observe(BASE_TIME + timedelta(minutes=3))
    wm.close_all()
    assert wm.closed_until == BASE_TIME + timedelta(minutes=10)
    assert wm.is_late(BASE_TIME + timedelta(minutes=9))
