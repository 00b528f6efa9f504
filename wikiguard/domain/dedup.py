"""Duplicate removal on `meta.id` with state bounded by an event-time horizon."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs


@attrs.define
class Deduplicator:
    """Remembers the ids seen within `horizon` of the newest event time.

    A duplicate is an id seen before whose first sighting is still inside the horizon.
    Memory holds at most the ids of one horizon of event time, however long the stream.
    """

    horizon: timedelta = timedelta(hours=1)
    _seen: dict[str, datetime] = attrs.field(factory=dict, repr=False)
    _expiry: list[tuple[datetime, str]] = attrs.field(factory=list, repr=False)
    _max_time: datetime | None = attrs.field(default=None, repr=False)

    def remember(self, meta_id: str, event_time: datetime) -> None:
        """Record an id as already seen (used to restore state from the silver table)."""
        latest = self._max_time
        if latest is not None and event_time < latest - self.horizon:
            return  # already beyond the horizon: it would be forgotten at once
        if meta_id not in self._seen:
            self._seen[meta_id] = event_time
            heapq.heappush(self._expiry, (event_time, meta_id))
        self._advance(event_time)

    def is_new(self, meta_id: str, event_time: datetime) -> bool:
        """True the first time an id is offered within the horizon; records it."""
        if meta_id in self._seen:
            self._advance(event_time)
            return False
        self.remember(meta_id, event_time)
        return True

    def _advance(self, event_time: datetime) -> None:
        if self._max_time is not None and event_time <= self._max_time:
            return  # the horizon did not move: nothing more to forget
        self._max_time = event_time
        cutoff = event_time - self.horizon
        expiry, seen = self._expiry, self._seen
        while expiry and expiry[0][0] < cutoff:
            _, old = heapq.heappop(expiry)
            seen.pop(old, None)

    def __len__(self) -> int:
        return len(self._seen)

    def unique(self, items: Iterable[tuple[str, datetime]]) -> list[str]:
        """The ids of `items` that are new, in input order."""
        return [meta_id for meta_id, t in items if self.is_new(meta_id, t)]
