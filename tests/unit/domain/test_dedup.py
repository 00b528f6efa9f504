import heapq
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.strategies import BASE_TIME
from wikiguard.domain.dedup import Deduplicator
from wikiguard.domain.windows import Watermark, window_of

ids = st.sampled_from([f"id-{n}" for n in range(30)])
# Inside one horizon: all within 30 minutes of each other.
close_times = st.integers(min_value=0, max_value=1800).map(lambda s: BASE_TIME + timedelta(seconds=s))
items = st.lists(st.tuples(ids, close_times), max_size=80)


@given(items)
def test_dedup_is_idempotent(batch):
    once = Deduplicator().unique(batch)
    assert Deduplicator().unique(batch + batch) == once
    d = Deduplicator()
    d.unique(batch)
    assert d.unique(batch) == []


@given(items, st.randoms())
def test_dedup_is_order_independent_within_horizon(batch, rnd):
    shuffled = list(batch)
    rnd.shuffle(shuffled)
    assert set(Deduplicator().unique(batch)) == set(Deduplicator().unique(shuffled)) == {i for i, _ in batch}


def test_memory_is_bounded_by_the_horizon():
    d = Deduplicator(timedelta(minutes=10))
    for n in range(20_000):
        d.is_new(f"id-{n}", BASE_TIME + timedelta(seconds=n))
    assert len(d) <= 601


def test_the_horizon_is_fixed_once_made():
    d = Deduplicator(timedelta(minutes=10))
    with pytest.raises(attrs.exceptions.FrozenAttributeError):
        d.horizon = timedelta(minutes=1)


def test_a_duplicate_after_the_horizon_is_new_again():
    d = Deduplicator(timedelta(minutes=10))
    assert d.is_new("a", BASE_TIME)
    assert not d.is_new("a", BASE_TIME + timedelta(minutes=5))
    d.is_new("b", BASE_TIME + timedelta(minutes=30))
    assert d.is_new("a", BASE_TIME + timedelta(minutes=31))


@attrs.define
class ReferenceDeduplicator:
    """The first `Deduplicator`, one heap entry per id, kept verbatim as the model of its semantics."""

    horizon: timedelta = timedelta(hours=1)
    _seen: dict[str, datetime] = attrs.field(factory=dict)
    _expiry: list[tuple[datetime, str]] = attrs.field(factory=list)
    _max_time: datetime | None = None

    def remember(self, meta_id: str, event_time: datetime) -> None:
        latest = self._max_time
        if latest is not None and event_time < latest - self.horizon:
            return
        if meta_id not in self._seen:
            self._seen[meta_id] = event_time
            heapq.heappush(self._expiry, (event_time, meta_id))
        self._advance(event_time)

    def is_new(self, meta_id: str, event_time: datetime) -> bool:
        if meta_id in self._seen:
            self._advance(event_time)
            return False
        self.remember(meta_id, event_time)
        return True

    def _advance(self, event_time: datetime) -> None:
        if self._max_time is not None and event_time <= self._max_time:
            return
        self._max_time = event_time
        cutoff = event_time - self.horizon
        expiry, seen = self._expiry, self._seen
        while expiry and expiry[0][0] < cutoff:
            _, old = heapq.heappop(expiry)
            seen.pop(old, None)

    def __len__(self) -> int:
        return len(self._seen)

    def unique(self, items: Iterable[tuple[str, datetime]]) -> list[str]:
        return [meta_id for meta_id, t in items if self.is_new(meta_id, t)]


# Few ids and few seconds: ids come back often, many events share a time, times arrive up to 12 s out
# of order, and the horizon (0 to 10 s, or negative: nothing is kept) is crossed again and again.
few_ids = st.sampled_from("abcdefgh")
horizons = st.sampled_from([timedelta(seconds=s) for s in (0, 1, 3, 10, -2)] + [timedelta(milliseconds=1500)])
# The same instant in other zones: equal times, in other objects, that must share their first sighting.
zones = st.sampled_from([UTC, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
offers = st.lists(st.tuples(few_ids, st.integers(min_value=-12, max_value=4), zones), min_size=1, max_size=12)
calls = st.lists(st.tuples(st.sampled_from(["is_new", "remember", "are_new", "unique"]), offers), max_size=30)


def held(d: Deduplicator) -> tuple[dict[str, datetime], datetime | None]:
    """Each id held with the time of its first sighting, and the newest time; checks the inner invariants."""
    first = {meta_id: t for t, ids in d._ids_at.items() for meta_id in ids}
    assert d._seen == set(first) and len(first) == sum(len(ids) for ids in d._ids_at.values())
    assert sorted(d._times) == sorted(d._ids_at)
    assert d._newest is d._ids_at.get(d._max_time)  # type: ignore[arg-type]
    return first, d._max_time


@given(horizons, calls, st.booleans())
@settings(max_examples=500)
def test_answers_and_state_are_those_of_the_reference(horizon, call_list, shared):
    """Call by call: the same answers as the reference, and the same ids held since the same times."""
    fast, model = Deduplicator(horizon), ReferenceDeduplicator(horizon)
    made: dict[tuple[int, object], datetime] = {}
    clock = 0

    def at(step: int, zone: timezone) -> datetime:
        nonlocal clock
        second, clock = clock + step, max(clock, clock + step)
        moment = (BASE_TIME + timedelta(seconds=second)).astimezone(zone)
        # Shared: one object per time, as the Arrow conversion hands them out; else a new one each time.
        return made.setdefault((second, zone), moment) if shared else moment

    for kind, offered in call_list:
        batch = [(meta_id, at(step, zone)) for meta_id, step, zone in offered]
        if kind == "are_new":
            expected = [model.is_new(meta_id, t) for meta_id, t in batch]
            assert fast.are_new([i for i, _ in batch], [t for _, t in batch]) == expected
        elif kind == "unique":
            assert fast.unique(batch) == model.unique(batch)
        else:
            for meta_id, t in batch:
                assert getattr(fast, kind)(meta_id, t) == getattr(model, kind)(meta_id, t)
        assert len(fast) == len(model)
        assert held(fast) == (model._seen, model._max_time)


def test_the_first_sighting_counts_even_when_a_duplicate_moved_the_newest_time():
    d = Deduplicator(timedelta(seconds=10))
    t = [BASE_TIME + timedelta(seconds=s) for s in range(20)]
    assert d.is_new("a", t[0])
    assert not d.is_new("a", t[5])  # the newest time is 5 s now, with no id first seen then
    assert d.are_new(["b", "c", "d"], [t[5], t[5], t[2]]) == [True, True, True]
    assert d.is_new("e", t[15])  # the horizon starts at 5 s: `a` (0 s) and `d` (2 s) are forgotten
    assert d.are_new(["a", "d", "b"], [t[15], t[15], t[16]]) == [True, True, False]
    assert d.unique([("b", t[16]), ("c", t[16])]) == ["b", "c"]  # the horizon started at 6 s for these
    assert len(d) == 5  # e, a and d at 15 s, b and c at 16 s


class DedupAndWindows(RuleBasedStateMachine):
    """Dedup + watermark + window counts against a plain model."""

    def __init__(self):
        super().__init__()
        self.dedup = Deduplicator(timedelta(hours=1))
        self.watermark = Watermark(timedelta(minutes=5))
        self.model_seen: dict[str, object] = {}
        self.counts: dict[object, int] = {}
        self.late = 0
        self.accepted = 0
        self.offered_new = 0
        self.clock = BASE_TIME
        self.newest = None

    @rule(meta_id=ids, step=st.integers(min_value=-900, max_value=400))
    def offer(self, meta_id, step):
        moment = self.clock + timedelta(seconds=step)
        # The model forgets an id once the newest time seen before this offer is an hour past it.
        horizon_start = self.newest - timedelta(hours=1) if self.newest else None
        first = self.model_seen.get(meta_id)
        expected_new = first is None or (horizon_start is not None and first < horizon_start)
        self.clock = max(self.clock, moment)
        self.newest = max(self.newest or moment, moment)
        assert self.dedup.is_new(meta_id, moment) == expected_new
        if not expected_new:
            return
        self.model_seen[meta_id] = moment
        self.offered_new += 1
        if self.watermark.is_late(moment):
            self.late += 1
            return
        w = window_of(moment)
        closed = self.watermark.closed_until
        assert closed is None or w.end > closed, "an accepted event landed in a closed window"
        self.watermark.observe(moment)
        assert moment in w
        self.counts[w] = self.counts.get(w, 0) + 1
        self.accepted += 1

    @precondition(lambda self: self.watermark.max_event_time is not None)
    @rule()
    def close(self):
        self.watermark.close_all()

    @invariant()
    def every_event_counted_once(self):
        assert sum(self.counts.values()) == self.accepted
        assert self.accepted + self.late == self.offered_new

    @invariant()
    def watermark_trails_the_newest_event_by_the_lateness(self):
        wm = self.watermark
        if wm.max_event_time is not None and wm.closed_until is not None:
            assert wm.closed_until <= window_of(wm.max_event_time).end


TestDedupAndWindows = DedupAndWindows.TestCase
TestDedupAndWindows.settings = settings(max_examples=60, stateful_step_count=40)
