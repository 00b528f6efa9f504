"""Per-window metrics of silver events: one row per entity, per user and for the whole platform.

Accumulators are plain mutable objects with slots because `add` runs once per event (tens of
thousands a second): a handful of integer updates, two dict look-ups, no allocation for a known key.
Sums that could depend on event order (processing lag) are kept in integer microseconds, so a window
rebuilt from the silver table in any order gives bit-identical rows. Outputs are sorted by key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import attrs

from wikiguard.domain.enrichment import SilverEvent
from wikiguard.domain.windows import DEFAULT_WINDOW, Window, window_of

_MICROS = 1_000_000


def ratio(part: int, whole: int) -> float:
    """part / whole, 0.0 when there is nothing to divide by."""
    return part / whole if whole else 0.0


class _Counts:
    """What entity and user accumulators share."""

    __slots__ = (
        "total", "edits", "new_pages", "categorize", "logs", "reverts", "anonymous", "bots",
        "bytes_sum", "bytes_min", "bytes_max", "large", "commented", "lag_us", "lag_max", "first", "last",
    )  # fmt: skip

    def __init__(self, first: SilverEvent) -> None:
        self.total = self.edits = self.new_pages = self.categorize = self.logs = self.reverts = 0
        self.anonymous = self.bots = self.bytes_sum = self.large = self.commented = self.lag_us = 0
        self.bytes_min = self.bytes_max = first.bytes_changed
        self.lag_max = first.processing_lag_seconds
        self.first = self.last = first.event_timestamp

    def count(self, e: SilverEvent) -> None:
        self.total += 1
        kind = e.event_type
        if kind == "edit":
            self.edits += 1
            if e.is_revert:  # only an edit can undo an edit, so reverts <= edits
                self.reverts += 1
        elif kind == "categorize":
            self.categorize += 1
        elif kind == "new":
            self.new_pages += 1
        elif kind == "log":
            self.logs += 1
        if e.is_anonymous:
            self.anonymous += 1
        if e.is_bot:
            self.bots += 1
        delta = e.bytes_changed
        self.bytes_sum += delta
        if delta < self.bytes_min:
            self.bytes_min = delta
        elif delta > self.bytes_max:
            self.bytes_max = delta
        if e.is_large_edit:
            self.large += 1
        if e.has_comment:
            self.commented += 1
        lag = e.processing_lag_seconds
        self.lag_us += round(lag * _MICROS)
        if lag > self.lag_max:
            self.lag_max = lag
        moment = e.event_timestamp
        if moment < self.first:
            self.first = moment
        elif moment > self.last:
            self.last = moment


    def merge(self, t: Tally) -> None:
        """Add what `count` added up over other events of this key and window."""
        self.total += t.total
        self.edits += t.edits
        self.new_pages += t.new_pages
        self.categorize += t.categorize
        self.logs += t.logs
        self.reverts += t.reverts
        self.anonymous += t.anonymous
        self.bots += t.bots
        self.bytes_sum += t.bytes_sum
        self.large += t.large
        self.commented += t.commented
        self.lag_us += t.lag_us
        if t.bytes_min < self.bytes_min:
            self.bytes_min = t.bytes_min
        if t.bytes_max > self.bytes_max:
            self.bytes_max = t.bytes_max
        if t.lag_max > self.lag_max:
            self.lag_max = t.lag_max
        if t.first < self.first:
            self.first = t.first
        if t.last > self.last:
            self.last = t.last

    def _start(self, t: Tally) -> None:
        """Start from a tally (in place of a first event)."""
        self.total = self.edits = self.new_pages = self.categorize = self.logs = self.reverts = 0
        self.anonymous = self.bots = self.bytes_sum = self.large = self.commented = self.lag_us = 0
        self.bytes_min, self.bytes_max, self.lag_max = t.bytes_min, t.bytes_max, t.lag_max
        self.first, self.last = t.first, t.last
        self.merge(t)


class Tally(NamedTuple):
    """What `_Counts.count` adds up over a group of events of one key in one window: the share of an
    entity's or a user's metrics a batch engine sums column-wise. `tally` is the definition."""

    total: int
    edits: int
    new_pages: int
    categorize: int
    logs: int
    reverts: int
    anonymous: int
    bots: int
    bytes_sum: int
    bytes_min: int
    bytes_max: int
    large: int
    commented: int
    lag_us: int
    lag_max: float
    first: datetime
    last: datetime


def tally(events: Sequence[SilverEvent]) -> Tally:
    """The tally of some events (at least one), as counting them one by one makes it."""
    counts = _Counts(events[0])
    for event in events:
        counts.count(event)
    return Tally(*(getattr(counts, name) for name in Tally._fields))


@attrs.frozen
class UserTally:
    """A user's share of a window from a group of events: its tally and what the user is."""

    user_name: str
    user_type: str  # "Bot" when any of the events is a bot's
    is_bot: bool  # any of the events is a bot's
    is_anonymous: bool
    is_temporary_account: bool
    tally: Tally


@attrs.frozen
class Editing:
    """One user edited one entity (on its wiki) in a window: what the unique-editor sets hold."""

    entity: str
    user_name: str
    wiki: str
    is_anonymous: bool


class _EntityAcc(_Counts):
    __slots__ = ("wiki", "editors", "anonymous_editors")

    def __init__(self, first: SilverEvent) -> None:
        super().__init__(first)
        self.wiki = first.wiki
        self.editors: set[str] = set()
        self.anonymous_editors: set[str] = set()

    def add(self, e: SilverEvent) -> None:
        self.count(e)
        self.editors.add(e.user_name)
        if e.is_anonymous:
            self.anonymous_editors.add(e.user_name)


class _UserAcc(_Counts):
    __slots__ = ("user_type", "is_bot", "is_anonymous", "is_temporary", "entities", "wikis")

    def __init__(self, first: SilverEvent) -> None:
        super().__init__(first)
        self.user_type = first.user_type
        self.is_bot = first.is_bot
        self.is_anonymous = first.is_anonymous
        self.is_temporary = first.is_temporary_account
        self.entities: set[str] = set()
        self.wikis: set[str] = set()

    def add(self, e: SilverEvent) -> None:
        self.count(e)
        self.entities.add(e.canonical_entity)
        self.wikis.add(e.wiki)
        if e.is_bot and not self.is_bot:  # a user with any bot-flagged edit in the window is a bot
            self.is_bot = True
            self.user_type = "Bot"


@attrs.frozen(slots=False)  # see `columns`
class EntityWindowMetrics:
    """One watched page in one window; field names are the gold entity table's columns."""

    entity: str
    wiki: str
    total_events: int
    edit_count: int
    new_page_count: int
    categorize_count: int
    log_count: int
    revert_count: int
    anonymous_edit_count: int  # events (of any type) by logged-out editors
    bot_edit_count: int  # events (of any type) by bots
    total_bytes_changed: int
    avg_bytes_changed: float
    min_bytes_changed: int
    max_bytes_changed: int
    max_abs_bytes_changed: int
    large_edit_count: int
    quality_passed_count: int
    quality_failed_count: int
    unique_editors: int
    unique_anonymous_editors: int
    avg_processing_lag_seconds: float
    max_processing_lag_seconds: float
    edits_with_comment: int
    first_event_timestamp: datetime
    last_event_timestamp: datetime
    window_start: datetime
    window_end: datetime
    revert_ratio: float  # reverts / edits
    anonymous_ratio: float  # anonymous events / events
    bot_ratio: float  # bot events / events
    quality_ratio: float  # passed / (passed + quarantined)
    event_date: date


@attrs.frozen(slots=False)  # see `columns`
class UserWindowMetrics:
    """One user in one window; field names are the gold user table's columns."""

    user_name: str
    user_type: str
    is_bot: bool
    is_anonymous: bool
    is_temporary_account: bool
    total_events: int
    edit_count: int
    new_page_count: int
    categorize_count: int
    log_count: int
    revert_count: int
    total_bytes_changed: int
    avg_bytes_changed: float
    large_edit_count: int
    entities_edited: int
    wikis_touched: int
    quality_failed_count: int
    edits_with_comment: int
    first_event_timestamp: datetime
    last_event_timestamp: datetime
    window_start: datetime
    window_end: datetime
    revert_ratio: float
    event_date: date


@attrs.frozen(slots=False)  # see `columns`
class GlobalWindowMetrics:
    """Every watched page together in one window; field names are the gold global table's columns."""

    total_events: int
    total_edits: int
    total_new_pages: int
    total_categorize: int
    total_log: int
    total_reverts: int
    total_anonymous: int
    total_bot: int
    total_large_edits: int
    total_bytes_changed: int
    avg_bytes_changed: float
    total_quality_failed: int  # silver-quarantined rows of the window, also of pages with no passed row
    unique_users: int
    unique_entities: int
    unique_wikis: int
    avg_processing_lag: float
    max_processing_lag: float
    window_start: datetime
    window_end: datetime
    revert_ratio: float
    anonymous_ratio: float
    bot_ratio: float
    events_per_user: float
    events_per_entity: float
    event_date: date


Metrics = EntityWindowMetrics | UserWindowMetrics | GlobalWindowMetrics
_M = TypeVar("_M", EntityWindowMetrics, UserWindowMetrics, GlobalWindowMetrics)


def _made(cls: type[_M], fields: dict[str, Any]) -> _M:
    """`cls(**fields)` for `fields` holding every field of `cls` in field order, without `__init__`:
    the instance dict is `fields` itself. `finalize` makes one object per entity and per user of
    every window, and 25-32 keyword arguments cost about as much as computing the values."""
    made = _new(cls)
    _set(made, "__dict__", fields)
    return made


_new = object.__new__
_set = object.__setattr__  # the class's own __setattr__ refuses: it is frozen


def columns(metrics: Metrics) -> dict[str, Any]:
    """The metrics as a gold row, column -> value in field order: `attrs.asdict(metrics, recurse=False)`.

    The metric classes keep their fields in the instance dict (`slots=False`), so this is one dict
    copy instead of asdict's loop over the fields: gold turns every row of every window into a dict.
    """
    return metrics.__dict__.copy()


@attrs.frozen
class WindowRows:
    """The finalized rows of one window, sorted by key."""

    window: Window
    entities: tuple[EntityWindowMetrics, ...]
    users: tuple[UserWindowMetrics, ...]
    platform: GlobalWindowMetrics


class WindowAccumulator:
    """Everything counted so far for one window."""

    __slots__ = ("window", "entities", "users", "failed", "entity_failures", "user_failures")

    def __init__(self, window: Window) -> None:
        self.window = window
        self.entities: dict[str, _EntityAcc] = {}
        self.users: dict[str, _UserAcc] = {}
        self.failed = 0
        self.entity_failures: dict[str, int] = {}
        self.user_failures: dict[str, int] = {}

    def add(self, e: SilverEvent) -> None:
        entity = self.entities.get(e.canonical_entity)
        if entity is None:
            entity = self.entities[e.canonical_entity] = _EntityAcc(e)
        entity.add(e)
        user = self.users.get(e.user_name)
        if user is None:
            user = self.users[e.user_name] = _UserAcc(e)
        user.add(e)

    def add_tallies(
        self, entities: Iterable[tuple[str, str, Tally]], users: Iterable[UserTally], editing: Iterable[Editing]
    ) -> None:
        """Add a batch's share of this window: `(entity, wiki, tally)` per entity, a `UserTally` per user,
        and every distinct `Editing`; the same rows as adding the batch's events one by one."""
        for key, wiki, t in entities:
            entity = self.entities.get(key)
            if entity is None:
                entity = self.entities[key] = _new(_EntityAcc)
                entity._start(t)
                entity.wiki, entity.editors, entity.anonymous_editors = wiki, set(), set()
            else:
                entity.merge(t)
        for u in users:
            user = self.users.get(u.user_name)
            if user is None:
                user = self.users[u.user_name] = _new(_UserAcc)
                user._start(u.tally)
                user.user_type, user.is_bot = u.user_type, u.is_bot
                user.is_anonymous, user.is_temporary = u.is_anonymous, u.is_temporary_account
                user.entities, user.wikis = set(), set()
            else:
                user.merge(u.tally)
                if u.is_bot and not user.is_bot:
                    user.is_bot, user.user_type = True, "Bot"
        for e in editing:
            entity = self.entities[e.entity]
            entity.editors.add(e.user_name)
            if e.is_anonymous:
                entity.anonymous_editors.add(e.user_name)
            user = self.users[e.user_name]
            user.entities.add(e.entity)
            user.wikis.add(e.wiki)

    def add_quality_failure(self, entity: str | None, user: str | None) -> None:
        """A silver-quarantined row of this window; counted on its entity and user when they have rows."""
        self.failed += 1
        if entity:
            self.entity_failures[entity] = self.entity_failures.get(entity, 0) + 1
        if user:
            self.user_failures[user] = self.user_failures.get(user, 0) + 1

    def finalize(self) -> WindowRows | None:
        """The window's rows, or None when no event passed silver (quarantined rows alone make no row)."""
        if not self.entities:
            return None
        w = self.window
        start, end, day = w.start, w.end, w.start.date()
        failures = self.entity_failures.get
        entities = []
        for key, a in sorted(self.entities.items()):
            total, edits, anonymous, bots = a.total, a.edits, a.anonymous, a.bots
            low, high, failed = a.bytes_min, a.bytes_max, failures(key, 0)
            # ratio() is written out below: the same division, guarded the same way.
            entities.append(_made(EntityWindowMetrics, {
                "entity": key, "wiki": a.wiki, "total_events": total, "edit_count": edits,
                "new_page_count": a.new_pages, "categorize_count": a.categorize, "log_count": a.logs,
                "revert_count": a.reverts, "anonymous_edit_count": anonymous, "bot_edit_count": bots,
                "total_bytes_changed": a.bytes_sum, "avg_bytes_changed": a.bytes_sum / total,
                "min_bytes_changed": low, "max_bytes_changed": high,
                "max_abs_bytes_changed": max(abs(low), abs(high)), "large_edit_count": a.large,
                "quality_passed_count": total, "quality_failed_count": failed,
                "unique_editors": len(a.editors), "unique_anonymous_editors": len(a.anonymous_editors),
                "avg_processing_lag_seconds": a.lag_us / total / _MICROS,
                "max_processing_lag_seconds": a.lag_max, "edits_with_comment": a.commented,
                "first_event_timestamp": a.first, "last_event_timestamp": a.last,
                "window_start": start, "window_end": end,
                "revert_ratio": a.reverts / edits if edits else 0.0,
                "anonymous_ratio": anonymous / total if total else 0.0,
                "bot_ratio": bots / total if total else 0.0,
                "quality_ratio": total / (total + failed) if total + failed else 0.0,
                "event_date": day,
            }))  # fmt: skip
        user_failures = self.user_failures.get
        users = []
        for key, u in sorted(self.users.items()):
            total, edits = u.total, u.edits
            users.append(_made(UserWindowMetrics, {
                "user_name": key, "user_type": u.user_type, "is_bot": u.is_bot,
                "is_anonymous": u.is_anonymous, "is_temporary_account": u.is_temporary,
                "total_events": total, "edit_count": edits, "new_page_count": u.new_pages,
                "categorize_count": u.categorize, "log_count": u.logs, "revert_count": u.reverts,
                "total_bytes_changed": u.bytes_sum, "avg_bytes_changed": u.bytes_sum / total,
                "large_edit_count": u.large, "entities_edited": len(u.entities),
                "wikis_touched": len(u.wikis),
                "quality_failed_count": user_failures(key, 0), "edits_with_comment": u.commented,
                "first_event_timestamp": u.first, "last_event_timestamp": u.last,
                "window_start": start, "window_end": end,
                "revert_ratio": u.reverts / edits if edits else 0.0, "event_date": day,
            }))  # fmt: skip
        return WindowRows(w, tuple(entities), tuple(users), self._global_row(day))

    def _global_row(self, day: date) -> GlobalWindowMetrics:
        accs = list(self.entities.values())
        # One pass for every sum; integer sums, and the lag maximum taken in the order max() would.
        total = edits = new_pages = categorize = logs = reverts = anonymous = bots = large = bytes_sum = 0
        lag_us = 0
        lag_max = accs[0].lag_max
        wikis = set()
        for a in accs:
            total += a.total
            edits += a.edits
            new_pages += a.new_pages
            categorize += a.categorize
            logs += a.logs
            reverts += a.reverts
            anonymous += a.anonymous
            bots += a.bots
            large += a.large
            bytes_sum += a.bytes_sum
            lag_us += a.lag_us
            if a.lag_max > lag_max:
                lag_max = a.lag_max
            wikis.add(a.wiki)
        return GlobalWindowMetrics(
            total_events=total, total_edits=edits, total_new_pages=new_pages,
            total_categorize=categorize, total_log=logs,
            total_reverts=reverts, total_anonymous=anonymous, total_bot=bots,
            total_large_edits=large, total_bytes_changed=bytes_sum,
            avg_bytes_changed=ratio(bytes_sum, total), total_quality_failed=self.failed,
            unique_users=len(self.users), unique_entities=len(accs),
            unique_wikis=len(wikis),
            avg_processing_lag=lag_us / total / _MICROS,
            max_processing_lag=lag_max,
            window_start=self.window.start, window_end=self.window.end,
            revert_ratio=ratio(reverts, edits), anonymous_ratio=ratio(anonymous, total),
            bot_ratio=ratio(bots, total), events_per_user=ratio(total, len(self.users)),
            events_per_entity=ratio(total, len(accs)), event_date=day,
        )  # fmt: skip


class OpenWindows:
    """The accumulators of the windows not closed yet, keyed by window start.

    Events arrive roughly in time order, so the window of the previous event is tried first and
    `window_of` (a timedelta division) runs only when an event crosses into another window.
    """

    __slots__ = ("size", "closed_until", "_open", "_current")

    def __init__(self, size: timedelta = DEFAULT_WINDOW, closed_until: datetime | None = None) -> None:
        self.size = size
        self.closed_until = closed_until
        self._open: dict[datetime, WindowAccumulator] = {}
        self._current: WindowAccumulator | None = None

    def add(self, e: SilverEvent) -> bool:
        """Count the event in its window; False (and not counted) when that window is already closed."""
        acc = self._accumulator(e.event_timestamp)
        if acc is None:
            return False
        acc.add(e)
        return True

    def add_tallies(
        self,
        start: datetime,
        entities: Iterable[tuple[str, str, Tally]],
        users: Iterable[UserTally],
        editing: Iterable[Editing],
    ) -> bool:
        """`WindowAccumulator.add_tallies` on the window starting at `start`; False (and not counted)
        when that window is already closed."""
        acc = self._accumulator(start)
        if acc is None:
            return False
        acc.add_tallies(entities, users, editing)
        return True

    def add_quality_failure(self, moment: datetime, entity: str | None, user: str | None) -> bool:
        acc = self._accumulator(moment)
        if acc is None:
            return False
        acc.add_quality_failure(entity, user)
        return True

    def _accumulator(self, moment: datetime) -> WindowAccumulator | None:
        acc = self._current
        if acc is not None and acc.window.start <= moment < acc.window.end:
            return acc
        window = window_of(moment, self.size)
        if self.closed_until is not None and window.end <= self.closed_until:
            return None
        acc = self._open.get(window.start)
        if acc is None:
            acc = self._open[window.start] = WindowAccumulator(window)
        self._current = acc
        return acc

    def close(self, until: datetime) -> list[WindowAccumulator]:
        """Remove and return, oldest first, every open window that ends at or before `until`."""
        if self.closed_until is None or until > self.closed_until:
            self.closed_until = until
        done = sorted(start for start, acc in self._open.items() if acc.window.end <= until)
        closed = [self._open.pop(start) for start in done]
        if self._current is not None and self._current.window.end <= until:
            self._current = None
        return closed

    def __iter__(self) -> Iterator[WindowAccumulator]:
        return iter([self._open[start] for start in sorted(self._open)])

    def __len__(self) -> int:
        return len(self._open)
