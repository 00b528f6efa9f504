from datetime import timedelta

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


def test_a_duplicate_after_the_horizon_is_new_again():
    d = Deduplicator(timedelta(minutes=10))
    assert d.is_new("a", BASE_TIME)
    assert not d.is_new("a", BASE_TIME + timedelta(minutes=5))
    d.is_new("b", BASE_TIME + timedelta(minutes=30))
    assert d.is_new("a", BASE_TIME + timedelta(minutes=31))


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
