"""Tumbling event-time windows (half-open, UTC) and the watermark that closes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

DEFAULT_WINDOW = timedelta(minutes=10)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@attrs.frozen(order=True)
class Window:
    """`[start, end)` in UTC."""

    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def window_of(moment: datetime, size: timedelta = DEFAULT_WINDOW) -> Window:
    """The one window that holds `moment`."""
    offset = (moment - EPOCH) // size
    start = EPOCH + offset * size
    return Window(start, start + size)


@attrs.define
class Watermark:
    """Event-time progress: the newest event time seen minus the allowed lateness.

    A window is closed once the watermark reaches its end; an event whose window is closed is late.
    `closed_until` only moves forward, also when a bounded run closes every open window at its end.
    """

    allowed_lateness: timedelta = timedelta(minutes=5)
    size: timedelta = DEFAULT_WINDOW
    max_event_time: datetime | None = None
    closed_until: datetime | None = None

    def observe(self, moment: datetime) -> None:
        if self.max_event_time is None or moment > self.max_event_time:
            self.max_event_time = moment
            edge = window_of(moment - self.allowed_lateness, self.size).start
            if self.closed_until is None or edge > self.closed_until:
                self.closed_until = edge

    def is_late(self, moment: datetime) -> bool:
        closed = self.closed_until
        # A moment at or after `closed_until` is in a window that ends after it: the cheap test first.
        return closed is not None and moment < closed and window_of(moment, self.size).end <= closed

    def close_all(self) -> None:
        """Close every window up to and including the newest event's (end of a bounded run)."""
        if self.max_event_time is not None:
            self.closed_until = window_of(self.max_event_time, self.size).end
