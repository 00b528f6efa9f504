"""`window_shares` tallies a batch of silver rows as counting them one by one does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.domain.gold_strategies import silver_events
from wikiguard.application.batches.frames import arrow_schema
from wikiguard.application.batches.tallies import window_shares
from wikiguard.application.tables import SILVER_EVENTS
from wikiguard.domain.enrichment import SilverEvent
from wikiguard.domain.metrics import OpenWindows, WindowRows

SIZE = timedelta(minutes=10)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
lags = st.one_of(st.floats(0, 900, allow_nan=False), st.sampled_from([0.0000005, 0.0000015, 2.5e-7, 1e-6, 12.3456785]))


def table_of(events: list[SilverEvent]) -> pa.Table:
    rows = [{**attrs.asdict(e), "batch_id": "b"} for e in events]
    return pa.Table.from_pylist(rows, schema=arrow_schema(SILVER_EVENTS))


def rows(windows: OpenWindows) -> list[WindowRows]:
    return [r for r in (acc.finalize() for acc in windows.close(FAR_FUTURE)) if r is not None]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(silver_events(), lags), min_size=1, max_size=80), st.integers(0, 4))
def test_tallies_of_a_batch_give_the_rows_its_events_give(drawn: list[tuple[SilverEvent, float]], batches: int) -> None:
    # Lags with ties at half a microsecond: the sums round each one half to even, as `count` does.
    events = [attrs.evolve(e, processing_lag_seconds=lag) for e, lag in drawn]
    one_by_one, tallied = OpenWindows(SIZE), OpenWindows(SIZE)
    for event in events:
        one_by_one.add(event)
    size = -(-len(events) // (batches + 1))
    for start in range(0, len(events), size):
        for share in window_shares(table_of(events[start : start + size]), SIZE):
            assert tallied.add_tallies(share.start, share.entities, share.users, share.editing)

    assert rows(tallied) == rows(one_by_one)


@settings(max_examples=50, deadline=None)
@given(st.lists(silver_events(), min_size=1, max_size=40))
def test_a_share_counts_its_events(events: list[SilverEvent]) -> None:
    shares = window_shares(table_of(events), SIZE)

    assert sum(share.events for share in shares) == len(events)
    assert [share.start for share in shares] == sorted({
        datetime(1970, 1, 1, tzinfo=UTC) + (e.event_timestamp - datetime(1970, 1, 1, tzinfo=UTC)) // SIZE * SIZE
        for e in events
    })  # fmt: skip


def test_an_empty_batch_has_no_shares() -> None:
    assert window_shares(table_of([]), SIZE) == []
