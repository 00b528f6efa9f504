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

    # Fixed once made: an id is filed under a time without checking the horizon when that time already
    # holds ids, which is sound only while the horizon stays the one those ids were checked against.
    horizon: timedelta = attrs.field(default=timedelta(hours=1), on_setattr=attrs.setters.frozen)
    _seen: set[str] = attrs.field(factory=set, repr=False)
    # Event times repeat (to the second, dozens of events each), so ids are filed by the event time of
    # their first sighting and expiry pops times, each once, off a heap. Every filed time is inside the
    # horizon and not after `_max_time`.
    _ids_at: dict[datetime, list[str]] = attrs.field(factory=dict, repr=False)
    _times: list[datetime] = attrs.field(factory=list, repr=False)  # heap of the keys of `_ids_at`
    _max_time: datetime | None = attrs.field(default=None, repr=False)
    # `_ids_at.get(_max_time)`: most events are at the newest time, and comparing two times is cheaper
    # than hashing one (a new aware datetime object is hashed through its UTC offset, ~0.2 us).
    _newest: list[str] | None = attrs.field(default=None, repr=False)

    def remember(self, meta_id: str, event_time: datetime) -> None:
        """Record an id as already seen (used to restore state from the silver table): `is_new`, no answer."""
        self.is_new(meta_id, event_time)

    def is_new(self, meta_id: str, event_time: datetime) -> bool:
        """True the first time an id is offered within the horizon; records it."""
        if meta_id in self._seen:
            latest = self._max_time
            if latest is None or event_time > latest:
                self._advance(event_time)
            return False
        ids = self._newest if event_time == self._max_time else self._ids_at.get(event_time)
        if ids is None:
            self._file_at_new_time(meta_id, event_time)
        else:
            ids.append(meta_id)
            self._seen.add(meta_id)
        return True

    def are_new(self, meta_ids: Iterable[str], event_times: Iterable[datetime]) -> list[bool]:
        """`is_new` of each id at its event time, in order: the same answers and state, for less."""
        seen, add, filed = self._seen, self._seen.add, self._ids_at.get
        latest, newest = self._max_time, self._newest
        flags: list[bool] = []
        flag = flags.append
        for meta_id, event_time in zip(meta_ids, event_times, strict=True):
            if meta_id in seen:
                if latest is None or event_time > latest:
                    self._advance(event_time)
                    latest, newest = self._max_time, self._newest
                flag(False)
                continue
            ids = newest if event_time == latest else filed(event_time)
            if ids is None:
                self._file_at_new_time(meta_id, event_time)
                latest, newest = self._max_time, self._newest
            else:
                ids.append(meta_id)
                add(meta_id)
            flag(True)
        return flags

    def _file_at_new_time(self, meta_id: str, event_time: datetime) -> None:
        """Record an unseen id whose event time holds no id yet, unless that is beyond the horizon."""
        latest = self._max_time
        if latest is not None and event_time < latest - self.horizon:
            return  # already beyond the horizon: it would be forgotten at once
        self._seen.add(meta_id)
        ids = self._ids_at[event_time] = [meta_id]
        heapq.heappush(self._times, event_time)
        if latest is None or event_time > latest:
            self._advance(event_time)
        elif event_time == latest:
            self._newest = ids  # the newest time came with a duplicate: it holds ids from now on

    def _advance(self, event_time: datetime) -> None:
        """`event_time` is the newest time yet: forget the ids first seen before its horizon."""
        self._max_time = event_time
        cutoff = event_time - self.horizon
        times, ids_at, forget = self._times, self._ids_at, self._seen.difference_update
        while times and times[0] < cutoff:
            forget(ids_at.pop(heapq.heappop(times)))
        self._newest = ids_at.get(event_time)

    def __len__(self) -> int:
        return len(self._seen)

    def unique(self, items: Iterable[tuple[str, datetime]]) -> list[str]:
        """The ids of `items` that are new, in input order."""
        return [meta_id for meta_id, t in items if self.is_new(meta_id, t)]
